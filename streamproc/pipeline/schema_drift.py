"""Schema drift: the top-level fields of clean documents and their JSON types, per entity.

:class:`EntitySchema` is what has been seen of one entity (field → JSON types), bounded by a cap
on the number of fields. :class:`DriftBatch` checks the documents of one ingest batch against the
schemas kept in the pipeline state (the same table as the per-key state, under one key per entity,
:func:`schema_key`), so they are written with the batch and recovered from its changelog; it
reads each (partition, entity) schema once per batch and writes it back only when it changed.

What counts as a change (:class:`Change`):

* ``new_field``: a top-level field not seen before (once the entity has a baseline: its first
  document sets the baseline and counts nothing);
* ``type_change``: a field seen before gets a JSON type it never had (``null`` never counts: a
  field that was only ever ``null`` learns its first type silently);
* ``capped``: the entity reached the cap on fields; later new fields are not tracked (once).

Only field names and type names are reported, never values. Pure: no I/O, no clock.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Protocol

from streamproc.jsonutil import dumps, json_type, loads

__all__ = ["JSON_TYPES", "KINDS", "json_type", "Change", "EntitySchema", "DriftBatch", "schema_key", "is_schema_key"]

JSON_TYPES = ("null", "boolean", "number", "string", "array", "object")
KINDS = ("new_field", "type_change", "capped")
#: Suffix of a schema key; a per-key state key is ``entity\0`` + the key's JSON, which starts with '{'.
_SUFFIX = b"\x00#schema"
_MAX_NAME = 120  # characters of a field name in a Change (longer names are cut)


def schema_key(entity: str) -> bytes:
    """The state key of ``entity``'s schema."""
    return entity.encode() + _SUFFIX


def is_schema_key(key: bytes) -> bool:
    return key.endswith(_SUFFIX)


@dataclass(frozen=True, slots=True)
class Change:
    entity: str
    kind: str  # one of KINDS
    field: str  # the field name, cut to a bounded length ("" for capped)
    types: tuple[str, ...]  # the field's types now (for type_change: old ones first, the new one last)


@dataclass(slots=True)
class EntitySchema:
    """Field → set of JSON types; ``capped``: the cap was reached and reported."""

    fields: dict[str, set[str]] = field(default_factory=dict)
    capped: bool = False

    def encode(self) -> bytes:
        return dumps({"v": 1, "fields": {k: sorted(v) for k, v in self.fields.items()}, "capped": self.capped})

    @classmethod
    def decode(cls, data: bytes) -> EntitySchema:
        """A stored schema; an unreadable one is treated as none (a new baseline), never an error."""
        try:
            obj = loads(data)
            fields = {str(k): {t for t in v if t in JSON_TYPES} for k, v in obj["fields"].items()}
            return cls(fields, bool(obj.get("capped")))
        except (ValueError, KeyError, TypeError, AttributeError):
            return cls()

    def observe(self, entity: str, doc: dict[str, Any], max_fields: int) -> tuple[list[Change], bool]:
        """Learn ``doc``'s top-level fields: the changes it brings (none for a baseline) and
        whether the schema changed (it may learn silently, e.g. a type after ``null``)."""
        baseline = not self.fields
        learned = False
        out: list[Change] = []
        for name, value in doc.items():
            t = json_type(value)
            known = self.fields.get(name)
            if known is None:
                if len(self.fields) >= max_fields:
                    if not self.capped:
                        self.capped = learned = True
                        out.append(Change(entity, "capped", "", ()))
                    continue
                self.fields[name] = {t}
                learned = True
                if not baseline:
                    out.append(Change(entity, "new_field", _cut(name), (t,)))
            elif t not in known:
                seen = tuple(sorted(known - {"null"}))
                known.add(t)
                learned = True
                if t != "null" and seen:
                    out.append(Change(entity, "type_change", _cut(name), (*seen, t)))
        return out, learned


def _cut(name: str) -> str:
    return name if len(name) <= _MAX_NAME else name[:_MAX_NAME] + "…"


class _State(Protocol):
    partition: int

    def get(self, key: bytes) -> bytes | None: ...

    def set(self, key: bytes, value: bytes) -> None: ...


class DriftBatch:
    """The schema checks of one batch against ``state`` (the batch's view of the pipeline state,
    whose ``partition`` is the current message's). ``max_fields`` caps each entity's schema."""

    __slots__ = ("state", "max_fields", "_schemas")

    def __init__(self, state: _State, max_fields: int) -> None:
        self.state = state
        self.max_fields = max_fields
        self._schemas: dict[tuple[int, str], EntitySchema] = {}

    def observe(self, entity: str, doc: dict[str, Any] | None) -> list[Change]:
        """Check one clean document (``None``: a delete or a partial update, nothing to learn)."""
        if not doc:
            return []
        slot = (self.state.partition, entity)
        schema = self._schemas.get(slot)
        if schema is None:
            raw = self.state.get(schema_key(entity))
            schema = self._schemas[slot] = EntitySchema.decode(raw) if raw is not None else EntitySchema()
        changes, learned = schema.observe(entity, doc, self.max_fields)
        if learned:  # written into the batch's overlay: stored and sent to the changelog with the batch
            self.state.set(schema_key(entity), schema.encode())
        return changes
