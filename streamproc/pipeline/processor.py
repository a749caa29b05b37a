"""The ingest pipeline for one message: decode → route → validate → dedupe/order → transform →
redact → merge → clean event. Pure: state is read and written through a :class:`StateStore`,
and the caller does every I/O (the Faust worker, ``streamproc dry-run`` and tests share this).

State per entity key and the dedupe/order rule are in :mod:`~streamproc.pipeline.ordering`:
a lower position is stale, an equal one a duplicate unless its content differs from every change
already applied at that position (a further change of the same transaction).

Every record is bounded (:mod:`~streamproc.pipeline.limits`): its size before decoding, the
depth, fields and size of its documents and update, the padding of a merge. A violation, a
non-finite number or a string that is not valid Unicode becomes a ``poison`` DLQ record, never
a traceback; clean events are strict JSON and carry the redaction key's id (``key_id`` in the
value, ``streamproc.key_id`` header). The route cache is an LRU of :data:`ROUTE_CACHE_SIZE`.
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any, Protocol

from streamproc.errors import DecodeError, StreamprocError, ValidationFailed
from streamproc.jsonutil import dumps
from streamproc.model import ChangeEvent, Op, Skip, Update
from streamproc.pipeline.compiled import CompiledSource, compile_source
from streamproc.pipeline.limits import DEFAULT_LIMITS, LimitExceeded, Limits, check_event, measure
from streamproc.pipeline.merge import apply_update
from streamproc.pipeline.ordering import StateEntry, change_hash, encode_json, kept_position, verdict
from streamproc.pipeline.outcome import DeadLetter, Dropped, Emit, Outcome, RawMessage
from streamproc.pipeline.redact import key_id
from streamproc.pipeline.routing import SourceRouter

if TYPE_CHECKING:
    from streamproc.config.pipelines import PipelinesSpec, SourceSpec

__all__ = [
    "MessageDecoder",
    "RawMessage",
    "Emit",
    "DeadLetter",
    "Dropped",
    "Outcome",
    "StateStore",
    "StateEntry",
    "Processor",
    "KEY_ID_HEADER",
    "WARNINGS_HEADER",
    "ROUTE_CACHE_SIZE",
]

KEY_ID_HEADER = "streamproc.key_id"
"""Header of every clean event naming the redaction key (:func:`~streamproc.pipeline.redact.key_id`)."""

WARNINGS_HEADER = "validation_warnings"
"""Header (comma-separated) and value field (a list) of a clean event that failed ``warn`` rules:
the rules' names, never a value. Absent when no rule warned."""

ROUTE_CACHE_SIZE = 10_000
"""Most (topic, namespace) pairs the processor remembers; the namespace comes from the payload."""


class MessageDecoder(Protocol):
    """What the processor needs of a decoder (``streamproc.sources.Decoder`` is one)."""

    def decode(
        self,
        topic: str,
        key: bytes | None,
        value: bytes | None,
        headers: Sequence[tuple[str, bytes]] | None = None,
        *,
        fmt: str | None = None,
        offset: int | None = None,
    ) -> ChangeEvent | Skip: ...


class StateStore(Protocol):
    def get(self, key: bytes) -> bytes | None: ...
    def set(self, key: bytes, value: bytes) -> None: ...


_Route = tuple["SourceSpec", CompiledSource] | None


class Processor:
    """Runs one message through the configured pipeline. Build once, call :meth:`process` per message."""

    def __init__(
        self,
        spec: PipelinesSpec,
        decoder: MessageDecoder,
        redaction_key: bytes,
        topic_prefix: str,
        fmt: str | None = None,
        limits: Limits = DEFAULT_LIMITS,
    ) -> None:
        self.spec = spec
        self.decoder = decoder
        self.fmt = fmt  # fixes the wire format of every message (dry-run --format)
        self.topic_prefix = topic_prefix
        self.limits = limits
        self.key_id = key_id(bytes(redaction_key)) if isinstance(redaction_key, (bytes, bytearray)) else ""
        self._compiled = {s.entity: compile_source(s, redaction_key) for s in spec.sources}
        self._router = SourceRouter(spec.sources)
        self._routes: OrderedDict[tuple[str, str | None], _Route] = OrderedDict()

    def compiled(self, entity: str) -> CompiledSource | None:
        """The compiled steps of ``entity``'s source (``streamproc parity --config`` reuses them)."""
        return self._compiled.get(entity)

    def clean_topic(self, entity: str) -> str:
        return f"{self.topic_prefix}.events.{entity}"

    def _route(self, topic: str, namespace: str | None) -> _Route:
        k = (topic, namespace)
        routes = self._routes
        try:
            route = routes[k]
        except KeyError:
            src = self._router.match(topic, namespace)
            route = (src, self._compiled[src.entity]) if src is not None else None
            routes[k] = route
            if len(routes) > ROUTE_CACHE_SIZE:
                routes.popitem(last=False)
            return route
        routes.move_to_end(k)
        return route

    def process(self, msg: RawMessage, state: StateStore) -> Outcome:
        size = len(msg.value or b"") + len(msg.key or b"")
        if size > 2 * self.limits.max_document_bytes:
            exc = self.limits.exceeded("max_document_bytes", "the message is larger than two documents")
            return DeadLetter("poison", str(exc), "limits", "DecodeError")
        try:
            ev = self.decoder.decode(msg.topic, msg.key, msg.value, msg.headers, fmt=self.fmt, offset=msg.offset)
        except DecodeError as exc:
            return DeadLetter("poison", str(exc), "decode", "DecodeError")
        except (RecursionError, ValueError, TypeError, KeyError, MemoryError) as exc:  # a decoder bug on odd input
            return DeadLetter("internal", f"decoder failed with {type(exc).__name__}", "decode", "DecodeError")
        if isinstance(ev, Skip):
            return Dropped("filtered", None, ev.reason)
        route = self._route(msg.topic, ev.namespace)
        if route is None:
            return Dropped("filtered", None, "unrouted")
        src, compiled = route
        try:
            check_event(ev, self.limits)
        except DecodeError as exc:
            return DeadLetter("poison", str(exc), "limits", "DecodeError")
        try:
            return self._apply(ev, src, compiled, state)
        except ValidationFailed as exc:
            return DeadLetter("invalid", str(exc), "validate", type(exc).__name__)
        except DecodeError as exc:  # a limit of the merge, or a value JSON cannot carry
            return DeadLetter(
                "poison", str(exc), "limits" if isinstance(exc, LimitExceeded) else "transform", "DecodeError"
            )
        except StreamprocError as exc:
            return DeadLetter(exc.error_class, str(exc), "transform", type(exc).__name__)
        except (RecursionError, ValueError, TypeError, KeyError, AttributeError, MemoryError) as exc:
            # A bug must not stall the partition; the message text may hold data, so only the class.
            return DeadLetter("internal", f"pipeline failed with {type(exc).__name__}", "transform", "StreamprocError")

    def _entity_key(self, src: SourceSpec, ev: ChangeEvent) -> dict[str, Any]:
        assert src.key is not None  # PipelinesSpec validation fills it from defaults or rejects the file
        key: dict[str, Any] = {}
        for name in src.key:
            if name in ev.key:
                key[name] = ev.key[name]
            elif ev.after is not None and name in ev.after:
                key[name] = ev.after[name]
            elif ev.before is not None and name in ev.before:
                key[name] = ev.before[name]
            else:
                raise ValidationFailed(f"key field '{name}' missing for entity '{src.entity}'")
        return key

    def _apply(self, ev: ChangeEvent, src: SourceSpec, c: CompiledSource, state: StateStore) -> Outcome:
        op = ev.op
        entity = src.entity
        if not c.accepts(op):
            return Dropped("filtered", entity, "operation")
        if op is Op.TRUNCATE:
            return self._emit(src, ev, {}, None, None, None, True)

        key = c.redact_key(self._entity_key(src, ev))
        warnings: tuple[str, ...] = ()
        if op is not Op.DELETE:
            if ev.after is not None:
                warnings = c.validate(ev.after, partial=False)
            elif ev.update is not None:
                warnings = c.validate_update(ev.update)

        key_bytes = encode_json(key, "the key")
        skey = entity.encode() + b"\x00" + key_bytes
        raw_prev = state.get(skey)
        prev = StateEntry.decode(raw_prev) if raw_prev is not None else None
        digest = change_hash(ev) if ev.position else None
        drop, hashes = verdict(ev.position, digest, prev)
        if drop is not None:
            return Dropped(drop, entity)

        before = c.clean_doc(ev.before) if ev.before is not None else None
        after = c.clean_doc(ev.after) if ev.after is not None else None
        update = c.clean_update(ev.update) if ev.update is not None else None

        prev_doc = prev.doc if prev is not None and not prev.deleted else None
        complete = True
        if op is Op.DELETE:
            doc = None
            if before is None:
                before = prev_doc
        elif after is not None:
            doc = after
        elif update is not None and prev_doc is not None:
            doc = apply_update(prev_doc, update, self.limits)
            measure(doc, self.limits, "the merged document")
        else:
            doc, complete = None, False
        if before is None and op is not Op.DELETE and prev_doc is not None:
            before = prev_doc
        emit = self._emit(src, ev, key, before, doc, update, complete, key_bytes, warnings)
        position, hashes = kept_position(ev.position, hashes, prev)
        state.set(skey, StateEntry(position, doc, op is Op.DELETE, hashes).encode())
        return emit

    def _emit(
        self,
        src: SourceSpec,
        ev: ChangeEvent,
        key: dict[str, Any],
        before: dict[str, Any] | None,
        after: dict[str, Any] | None,
        update: Update | None,
        complete: bool,
        key_bytes: bytes | None = None,
        warnings: tuple[str, ...] = (),
    ) -> Emit:
        op = ev.op.value
        event_type = src.event_type(ev.op)
        position = dumps(list(ev.position))
        value: dict[str, Any] = {
            "entity": src.entity,
            "event_type": event_type,
            "op": op,
            "namespace": ev.namespace,
            "key": key,
            "position": list(ev.position),
            "ts_ms": ev.ts_ms,
            "format": ev.format,
            "key_id": self.key_id,
            "complete": complete,
            "before": before,
            "after": after,
            "update": update.to_json() if update is not None else None,
        }
        if warnings:
            value[WARNINGS_HEADER] = list(warnings)
        headers = [
            ("op", op.encode()),
            ("entity", src.entity.encode()),
            ("event_type", event_type.encode()),
            ("source_position", position),
            ("source_ts_ms", str(ev.ts_ms if ev.ts_ms is not None else "").encode()),
            (KEY_ID_HEADER, self.key_id.encode()),
        ]
        if warnings:
            headers.append((WARNINGS_HEADER, ",".join(warnings).encode()))
        return Emit(
            src.entity,
            self.clean_topic(src.entity),
            key_bytes if key_bytes is not None else encode_json(key, "the key"),
            encode_json(value, "the clean event"),
            headers,
            ev.ts_ms,
            op,
            warnings,
            after,
        )
