"""The first step of an aggregation, keyed by the clean event's ENTITY KEY (co-partitioned with
the clean topic ``<prefix>.events.<entity>``): one clean event in, signed :class:`Delta`\\ s out.

Both modes keep per key ``{"p": last position, "h": [hashes of the changes applied at it]}``: a
redelivered event (equal position, same content) or a stale one (lower position) is a duplicate
and yields no delta. In events mode the runtime may tell copies by their origin instead
(:mod:`streamproc.pipeline.origin`) and pass ``dedupe=False``: then no state is kept per key.
rows mode adds ``"c"``: what the row contributes now (time, group, inputs, skipped); an update
retracts it and adds the new contribution (possibly to another window or group), a delete
retracts it and drops the entry.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from typing import Any

from streamproc.aggregate.delta import Delta
from streamproc.aggregate.extract import contribution, event_time, passes
from streamproc.aggregate.spec import AggregationSpec
from streamproc.jsonutil import dumps

__all__ = ["Upstream", "upstream_step"]

_KEPT_HASHES = 16


@dataclass(slots=True)
class Upstream:
    """What one event did (one per event and aggregation: not frozen, see :class:`Delta`).

    ``row_state``: the new per-entity-key state to store (``None``: delete the entry);
    ``deltas``: to produce to the repartition topic keyed by ``Delta.group_key``, in order;
    ``time_ms``: the event time (``None`` when it has none), ``watermark_ms``: the partition's
    watermark after this event (the one given, advanced to ``time_ms`` in events mode);
    ``incomplete``/``filtered``/``duplicate``/``untimed``: counters for the metrics.
    """

    row_state: dict[str, Any] | None
    deltas: list[Delta] = field(default_factory=list)
    time_ms: int | None = None
    watermark_ms: int | None = None
    incomplete: int = 0
    filtered: bool = False
    duplicate: bool = False
    untimed: bool = False


def _digest(event: dict[str, Any]) -> str:
    body = dumps([event.get("op"), event.get("before"), event.get("after"), event.get("update")])
    return hashlib.blake2b(body, digest_size=12).hexdigest()


def _dedupe(row_state: dict[str, Any] | None, event: dict[str, Any]) -> tuple[bool, dict[str, Any]]:
    """(duplicate?, the new position state)."""
    pos = event.get("position") or []
    digest = _digest(event)
    if row_state is None:
        return False, {"p": pos, "h": [digest]}
    old = row_state.get("p") or []
    hashes = list(row_state.get("h") or [])
    if pos and old and tuple(pos) < tuple(old):
        return True, {"p": old, "h": hashes}
    if pos != old:
        return False, {"p": pos, "h": [digest]}
    if digest in hashes:
        return True, {"p": old, "h": hashes}
    return False, {"p": pos, "h": (hashes + [digest])[-_KEPT_HASHES:]}


def upstream_step(
    spec: AggregationSpec,
    row_state: dict[str, Any] | None,
    event: dict[str, Any],
    src: tuple[int, int],
    watermark_ms: int | None = None,
    dedupe: bool = True,
) -> Upstream:
    """Apply one clean event (the parsed clean-event JSON value) of ``spec.entity``.

    ``src`` is (clean-topic partition, offset); each delta's ``src`` adds its index within the
    offset. ``watermark_ms`` is the partition's watermark before this event (the runtime keeps it
    per partition and stores ``Upstream.watermark_ms`` back); every delta carries the new one.
    ``dedupe=False`` (events mode only: the caller has ruled out a copy by the event's origin,
    :mod:`streamproc.pipeline.origin`) skips the dedupe by position; the ``row_state`` returned
    is then empty and is not to be stored.
    """
    rows = spec.mode == "rows"
    op = event.get("op")
    doc = event.get("after") if event.get("after") is not None else event.get("before")
    complete = event.get("complete", True) is not False
    t = event_time(spec, event, doc if complete else None)
    wm = watermark_ms
    if not rows and t is not None:
        wm = t if wm is None else max(wm, t)
    position: dict[str, Any] = {}
    duplicate = False
    if dedupe or rows:
        duplicate, position = _dedupe(row_state, event)
    old = row_state.get("c") if rows and row_state is not None else None
    if duplicate:
        keep = {**position, "c": old} if rows else position
        return Upstream(keep, time_ms=t, watermark_ms=wm, duplicate=True)
    raw_key = event.get("key")
    key: dict[str, Any] = raw_key if isinstance(raw_key, dict) else {}
    part, offset = src

    def delta(c: dict[str, Any], sign: int, n: int, incomplete: int = 0) -> Delta:
        return Delta(
            spec.name,
            dict(c["g"]),
            c["t"],
            sign,
            c["i"] if sign else {},
            (part, offset, n),
            c["sk"] if sign else 0,
            incomplete,
            wm if not rows else None,
            key,
        )

    if not complete:  # a partial update with no known document: nothing can be aggregated
        deltas = [delta(old, 0, 0, incomplete=1)] if old is not None else []
        keep = {**position, "c": old} if rows else position
        return Upstream(keep, deltas, t, wm, incomplete=1)
    if not rows:
        if not passes(spec, op, doc):
            return Upstream(position, time_ms=t, watermark_ms=wm, filtered=True)
        if t is None:
            return Upstream(position, untimed=True)
        return Upstream(position, [delta(contribution(spec, doc, t), 1, 0)], t, wm)
    new = None
    filtered = untimed = False
    if op != "delete":
        if not passes(spec, op, doc):
            filtered = True
        elif t is None:
            untimed = True
        else:
            new = contribution(spec, doc, t)
    deltas = []
    if old != new:
        if old is not None:
            deltas.append(delta(old, -1, 0))
        if new is not None:
            deltas.append(delta(new, 1, len(deltas)))
    state = None if op == "delete" else {**position, "c": new}
    return Upstream(state, deltas, t, None, filtered=filtered, untimed=untimed)
