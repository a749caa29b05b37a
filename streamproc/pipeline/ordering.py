"""The per-key state of the ingest stage and the dedupe/order rule that reads it.

State per entity key (:class:`StateEntry`): the last applied source position, the last known
document — already transformed and redacted, so the state (and its changelog topic) holds no
PII — and the content hashes of the changes applied at that position.

Order rule (:func:`verdict`), for two positions of one key that are comparable (equal length,
both non-empty): a lower position is ``stale``; a higher one is applied. An *equal* position is
told apart by content, because a format may carry no commit-ordered tie-breaker (every change
of a MongoDB transaction has the commit's clusterTime; a flattened record may carry only a
timestamp): a change whose hash is among those applied at that position is a ``duplicate``,
another one is a further change of the same transaction, applied in partition order. Two
identical changes at one position (A, B, A) cannot be told from a redelivery: the second A is
dropped; a position with a tie-breaker (Debezium transaction metadata) avoids that.

Positions of another shape (length) cannot be compared: such a change is applied. A decoder
falls back to the Kafka offset, ``(offset,)``, for a message that carries no source order (a
hand-made record, a snapshot read without ``source``); so a shorter position never replaces the
stored one (an offset fallback must not reset a key's source order, or a redelivery or an older
change would be applied again after it), while a longer one does (source order after a fallback).
:func:`kept_position` says which one the state keeps.

Entries written before hashes existed (no ``"h"``) keep their old meaning: an equal position is
a duplicate. At most :data:`MAX_HASHES` hashes are kept per key (the most recent ones).
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from typing import Any

from streamproc.errors import DecodeError
from streamproc.jsonutil import dumps, loads
from streamproc.model import ChangeEvent

__all__ = ["StateEntry", "MAX_HASHES", "change_hash", "verdict", "kept_position", "encode_json"]

MAX_HASHES = 1000
"""Hashes kept per key for one position (a transaction changing one document more often than
this may re-apply its oldest changes when redelivered)."""


def encode_json(obj: Any, what: str) -> bytes:
    """Compact JSON of ``obj``; a string that is not valid Unicode (a lone surrogate) is a
    :class:`DecodeError` naming ``what`` instead of an encoder error."""
    try:
        return dumps(obj)
    except UnicodeEncodeError:
        raise DecodeError(f"{what} holds a string that is not valid Unicode (a lone surrogate)") from None


def change_hash(ev: ChangeEvent) -> str:
    """A short content hash of a change: its operation, documents and update (not its position,
    timestamps or envelope), so a connector's re-sent copy hashes like the original."""
    update = [ev.update.set, list(ev.update.unset)] if ev.update is not None else None
    data = encode_json([ev.op.value, ev.before, ev.after, update], "the event")
    return hashlib.blake2b(data, digest_size=8).hexdigest()


@dataclass(slots=True)
class StateEntry:
    position: tuple[int, ...]
    doc: dict[str, Any] | None
    deleted: bool = False
    #: hashes of the changes applied at ``position``; ``None`` in entries written before them
    hashes: tuple[str, ...] | None = None

    def encode(self) -> bytes:
        obj: dict[str, Any] = {"p": list(self.position), "d": self.doc, "x": self.deleted}
        if self.hashes is not None:
            obj["h"] = list(self.hashes)
        return encode_json(obj, "the document")

    @staticmethod
    def decode(raw: bytes) -> StateEntry:
        obj = loads(raw)
        h = obj.get("h")
        return StateEntry(tuple(obj["p"]), obj["d"], bool(obj.get("x", False)), tuple(h) if h is not None else None)


def verdict(
    position: tuple[int, ...], digest: str | None, prev: StateEntry | None
) -> tuple[str | None, tuple[str, ...] | None]:
    """``(drop reason or None, hashes to store with the applied change)`` (rule above)."""
    own = (digest,) if digest is not None else None
    if prev is None:
        return None, own
    stored = prev.position
    if not position or not stored or len(position) != len(stored):
        return None, own
    if position < stored:
        return "stale", None
    if position > stored:
        return None, own
    if prev.hashes is None or digest is None or digest in prev.hashes:
        return "duplicate", None
    return None, (prev.hashes + (digest,))[-MAX_HASHES:]


def kept_position(
    position: tuple[int, ...], hashes: tuple[str, ...] | None, prev: StateEntry | None
) -> tuple[tuple[int, ...], tuple[str, ...] | None]:
    """The position and hashes the state keeps after an applied change (rule above)."""
    if prev is not None and prev.position and len(position) < len(prev.position):
        return prev.position, prev.hashes
    return position, hashes
