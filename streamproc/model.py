"""The canonical change event every decoder produces. Standard library only.

Invariants
----------
* ``before``/``after``/``update``/``key`` hold plain JSON values only (dict, list, str,
  int, float, bool, None): Extended JSON, Connect logical types and Avro types are
  converted once, in ``sources/``. Integers keep full precision (no float round-trip).
* ``position`` orders two events *of one key* in source commit order by plain tuple
  comparison; a redelivered event has an equal position. An empty position means the
  source gave no ordering information (such events are never dropped as stale).
* ``ts_ms`` is the source change time in epoch milliseconds (``None`` when unknown).
"""

from __future__ import annotations

import enum
from dataclasses import dataclass, field
from typing import Any

__all__ = ["Op", "Update", "ChangeEvent", "Skip", "SKIP_REASONS", "FORMATS"]

FORMATS: tuple[str, ...] = (
    "debezium-mongodb",
    "debezium-mongodb-flat",
    "debezium-sql",
    "debezium-sql-flat",
    "mongo-kafka",
    "dms",
)

SKIP_REASONS: tuple[str, ...] = ("tombstone", "transaction", "heartbeat", "control", "message")


class Op(enum.StrEnum):
    INSERT = "insert"
    UPDATE = "update"
    REPLACE = "replace"
    UPSERT = "upsert"  # the full new state, when the source does not say which operation
    DELETE = "delete"
    SNAPSHOT = "snapshot"
    TRUNCATE = "truncate"


@dataclass(frozen=True, slots=True)
class Update:
    """A partial update: dotted paths set to new values, dotted paths removed."""

    set: dict[str, Any] = field(default_factory=dict)
    unset: tuple[str, ...] = ()

    def to_json(self) -> dict[str, Any]:
        return {"set": self.set, "unset": list(self.unset)}


@dataclass(frozen=True, slots=True)
class ChangeEvent:
    format: str
    op: Op
    namespace: str
    key: dict[str, Any]
    before: dict[str, Any] | None = None
    after: dict[str, Any] | None = None
    update: Update | None = None
    position: tuple[int, ...] = ()
    ts_ms: int | None = None
    entity: str | None = None

    def to_json(self) -> dict[str, Any]:
        """The ``streamproc decode`` output object (``status: ok``)."""
        return {
            "status": "ok",
            "format": self.format,
            "op": self.op.value,
            "namespace": self.namespace,
            "key": self.key,
            "before": self.before,
            "after": self.after,
            "update": self.update.to_json() if self.update is not None else None,
            "position": list(self.position),
            "ts_ms": self.ts_ms,
        }


@dataclass(frozen=True, slots=True)
class Skip:
    """A message that is valid but carries no data change (tombstone, transaction marker, …)."""

    format: str
    reason: str

    def to_json(self) -> dict[str, Any]:
        return {"status": "skip", "format": self.format, "reason": self.reason}
