"""Combining one batch's deltas of one upstream partition before the repartition: the deltas of
each group and set of windows become one delta whose inputs are theirs concatenated, and whose
``events`` says how many changes it holds. The downstream then applies about one delta per group
and window a batch instead of one per event, and the results stay those of one delta per event:

- *Only windows that cannot close during the segment.* The batch is cut into segments, each as
  long as every window it touches ends, plus ``grace``, above the watermark after its last delta
  (event times, and every idle watermark the partition sent, which the upstream records before
  sending); each segment's deltas are combined and carry that watermark. The downstream closes
  by the minimum watermark over the upstream partitions, at most this one, so these windows are
  open while a segment's combined deltas are applied, and a sum does not depend on order; a
  window the segment does not touch may close at its first combined delta instead of at one of
  its events, which changes nothing of it. A delta whose windows its own watermark closes (a
  late change) goes as it is between the segments, like a segment of one. Sessions, rows mode
  and incomplete events keep the whole batch one delta per event.
- *All or nothing per repartition partition.* The runtime sends a batch's deltas for one
  repartition partition, combined and as they are, as one message (a producer makes a prefix of
  a partition's messages durable); a segment's combined deltas have its last offset as ``src``,
  with indexes above any per-event delta's (:data:`FIRST_INDEX`), so the ``src`` go up in every
  partition and the downstream's dedupe by the last applied ``src`` holds.
- *Re-sends are per event.* A batch whose output was durable but whose state was not recorded
  is sent again from the offset the state records, cut differently; combined, it could hold
  changes the downstream applied and others it did not, under one ``src``. So the runtime sends
  one delta per event for the first ``batch_size`` (of the process that may have crashed)
  records of each partition after an assignment, and keeps that bound across later owners
  (:func:`combining_from`).
"""

from __future__ import annotations

from dataclasses import replace
from typing import Any

from streamproc.aggregate.delta import Delta
from streamproc.aggregate.spec import AggregationSpec
from streamproc.aggregate.windows import assign

__all__ = ["FIRST_INDEX", "combine", "combining_from"]

#: the first ``src`` index of a combined delta: above those of the per-event deltas of an offset
FIRST_INDEX = 2


def combining_from(
    first_offset: int, recorded_next: int | None, recorded_batch: int | None, recorded_from: int | None, batch_size: int
) -> int:
    """The offset of a partition from which batches may be combined, after an assignment whose
    first record is ``first_offset``: past every batch a previous owner may have sent without
    recording it. The last owner's began where the state records (``recorded_next``) and held
    at most ``recorded_batch`` records (its batch size, recorded before it sent anything; this
    process's ``batch_size`` if none is); older owners' are behind ``recorded_from``, the bound
    the last owner computed the same way and recorded with every batch."""
    start = first_offset if recorded_next is None else max(first_offset, recorded_next)
    return max(recorded_from or 0, start + (recorded_batch or batch_size))


def _mergeable(spec: AggregationSpec, deltas: list[Delta]) -> bool:
    return (
        spec.mode == "events"
        and spec.window.type != "session"
        and bool(deltas)
        and all(d.sign == 1 and not d.incomplete for d in deltas)
    )


def combine(spec: AggregationSpec, deltas: list[Delta], watermark_ms: int | None) -> list[Delta] | None:
    """``deltas`` (one upstream partition's, one batch, offset order) cut into segments and each
    segment's combined per group and set of windows (module docstring); a delta whose windows
    its own watermark closes stays as it is, between the segments. ``None`` when the batch must
    go one delta per event: nothing in it can be combined."""
    if watermark_ms is None or not _mergeable(spec, deltas):
        return None
    out: list[Delta] = []
    segment: list[tuple[Delta, tuple[tuple[int, int], ...]]] = []
    due: int | None = None  # the earliest end + grace of the windows the segment touches
    tumbling = spec.window.type == "tumbling"
    windows: tuple[tuple[int, int], ...] = ()
    closes = 0  # the earliest end + grace of ``windows``
    for d in deltas:
        if d.watermark_ms is None:
            return None
        # tumbling windows cut time into pieces: a time in the last delta's window has that window
        if not (tumbling and windows and windows[0][0] <= d.time_ms < windows[0][1]):
            windows = tuple(assign(spec.window, spec.timezone, d.time_ms))
            closes = min(end for _, end in windows) + spec.grace_ms
        if due is not None and min(closes, due) > d.watermark_ms:
            segment.append((d, windows))
            due = min(closes, due)
            continue
        out += _combined(spec, segment)
        segment, due = [], None
        if closes > d.watermark_ms:
            segment, due = [(d, windows)], closes
        else:  # its window closes at its own watermark (a late change among them): per event
            out.append(d)
    out += _combined(spec, segment)
    if all(d.src[2] < FIRST_INDEX for d in out):
        return None
    return out


def _merge_key(d: Delta) -> object:
    """Equal for two deltas of one aggregation exactly when their groups are: the values when all
    are strings (equal as Python values only when equal as JSON), else :attr:`Delta.group_key`
    (``1``, ``1.0`` and ``true`` are equal in Python, not in JSON); a tuple never equals bytes."""
    values = tuple(d.group.values())
    return values if all(type(v) is str for v in values) else d.group_key


def _combined(spec: AggregationSpec, segment: list[tuple[Delta, tuple[tuple[int, int], ...]]]) -> list[Delta]:
    """One delta per group and set of windows of ``segment`` (of at least two deltas): ``src``
    its last offset with indexes from :data:`FIRST_INDEX`, the watermark its last delta's."""
    if len(segment) < 2:  # nothing to combine: the delta as it is
        return [d for d, _ in segment]
    merged: dict[tuple[object, tuple[tuple[int, int], ...]], list[Delta]] = {}
    for d, windows in segment:
        merged.setdefault((_merge_key(d), windows), []).append(d)
    end = segment[-1][0]
    part, last_offset, _ = end.src
    kinds = {m.name: m.kind for m in spec.metrics}
    out = []
    for i, same in enumerate(merged.values()):
        inputs: dict[str, Any] = {}
        for name, kind in kinds.items():
            if kind == "count":
                inputs[name] = sum(int(d.inputs.get(name, 0)) for d in same)
            else:
                inputs[name] = [x for d in same for x in d.inputs.get(name, [])]
        out.append(
            replace(
                same[0],
                inputs=inputs,
                src=(part, last_offset, FIRST_INDEX + i),
                skipped=sum(d.skipped for d in same),
                watermark_ms=end.watermark_ms,
                key={},
                events=sum(d.events for d in same),
            )
        )
    return out
