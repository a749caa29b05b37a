"""Combining one batch's deltas of one upstream partition before the repartition: the deltas of
each group and set of windows become one delta whose inputs are theirs concatenated, and whose
``events`` says how many changes it holds. The downstream then applies about one delta per group
and window a batch instead of one per event, and the results stay those of one delta per event:

- *Only windows that cannot close during the batch.* Every window the batch touches must end,
  plus ``grace``, above ``watermark_ms``: the partition's watermark after the batch (event times,
  and every idle watermark it sent, which the upstream records before sending). The downstream
  closes by the minimum watermark over the upstream partitions, at most this one, so these
  windows are open while the combined deltas are applied, and a sum does not depend on order.
  Anything else (a late change, a window the batch closes, sessions, rows mode, an incomplete
  event) keeps the whole batch one delta per event, each with its own watermark.
- *All or nothing per repartition partition.* The runtime sends the combined deltas of one batch
  for one repartition partition as one message (a producer makes a prefix of a partition's
  messages durable); their ``src`` is the batch's last offset with indexes above any per-event
  delta's (:data:`FIRST_INDEX`), so the downstream's dedupe by the last applied ``src`` holds.
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
    """``deltas`` (one upstream partition's, one batch, offset order) combined per group and set
    of windows, or ``None`` when the batch must go one delta per event (module docstring)."""
    if watermark_ms is None or not _mergeable(spec, deltas):
        return None
    merged: dict[tuple[bytes, tuple[tuple[int, int], ...]], list[Delta]] = {}
    for d in deltas:
        windows = tuple(assign(spec.window, spec.timezone, d.time_ms))
        if min(end for _, end in windows) + spec.grace_ms <= watermark_ms:
            return None
        merged.setdefault((d.group_key, windows), []).append(d)
    part, last_offset, _ = deltas[-1].src
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
                watermark_ms=watermark_ms,
                key={},
                events=sum(d.events for d in same),
            )
        )
    return out
