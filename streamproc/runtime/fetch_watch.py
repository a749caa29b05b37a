"""The fetch watch: a source partition whose fetched records were dropped with no seek to follow
is sought back, instead of stalling until the next rebalance.

The batch-drain loop (:class:`~streamproc.runtime.faust_compat.BatchDrainConsumer`) drops a
source partition's records while the partition is revoked and not sought yet, and the rest of
a fetch made before a seek. Each drop relies on a seek to come (Faust's seek to the committed
offsets after every assignment, or the loop's own): the consumer's fetch position has moved past
the dropped records, and only a seek brings them back. Were that seek missed, the partition
would take nothing more while the worker stays ready (a CI run once saw a restarted worker take
no record for 3 minutes, cause unknown).

Every :data:`INTERVAL` seconds, while the consumer's flow is active, each assigned, unpaused
source partition with nothing waiting in its buffer is sampled: the next offset the loop is to
deliver (the last delivered + 1; ``None`` when not known yet; :data:`MISSING` when the partition
has no read offset at all, i.e. was never sought) and the fetch position. A partition is stalled
when it is :data:`MISSING`, or its fetch position lies past the next offset to deliver. When two
samples in a row are the same stalled one, the partition is sought back to the next offset to
deliver (one never sought: to its committed offset, as Faust's seek after an assignment does),
so nothing is skipped and nothing delivered is taken again. A sample is acted on once: a
position past the last record that stays there after the seek (transaction markers, a
compacted tail) is a real gap, not a stall. Each seek is logged with topic, partition and
offsets only, and counted in ``streamproc_fetch_reseeks_total``.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable
from typing import TYPE_CHECKING, Final, cast

from faust.types import TP

if TYPE_CHECKING:
    from prometheus_client import Counter

    from streamproc.runtime.apps import StreamprocApp
    from streamproc.runtime.faust_compat import BatchDrainConsumer

__all__ = ["INTERVAL", "MISSING", "Sample", "StallWatch", "install_fetch_watch"]

log = logging.getLogger("streamproc.consumer")

#: Seconds between two samples.
INTERVAL: Final = 5.0
#: The next offset of a partition with no read offset (never sought since its assignment).
MISSING: Final = -1

#: (partition, next offset to deliver or None or MISSING, fetch position or None)
Sample = tuple[TP, int | None, int | None]


def stalled(expected: int | None, position: int | None) -> bool:
    """Whether a partition's sample shows records dropped with no seek to follow."""
    if expected == MISSING:
        return True
    return expected is not None and position is not None and position > expected


class StallWatch:
    """Which partitions to seek back, from successive samples (pure; the module docstring)."""

    def __init__(self) -> None:
        self.last: dict[TP, tuple[int | None, int | None]] = {}
        self.acted: dict[TP, tuple[int | None, int | None]] = {}

    def observe(self, samples: Iterable[Sample]) -> list[Sample]:
        """The stalled samples to act on now; partitions not sampled are forgotten."""
        seen: dict[TP, tuple[int | None, int | None]] = {}
        act: list[Sample] = []
        for tp, expected, position in samples:
            now = seen[tp] = (expected, position)
            if not stalled(expected, position):
                self.acted.pop(tp, None)
            elif self.last.get(tp) == now and self.acted.get(tp) != now:
                self.acted[tp] = now
                act.append((tp, expected, position))
        self.last = seen
        self.acted = {tp: v for tp, v in self.acted.items() if tp in seen}
        return act


def install_fetch_watch(app: StreamprocApp, counter: Counter | None = None) -> None:
    """Run the watch on ``app``'s consumer every :data:`INTERVAL` s (``counter``: labels topic)."""
    watch = StallWatch()

    @app.timer(interval=INTERVAL)
    async def fetch_watch() -> None:
        if app.rebalancing or app.in_recovery:
            return
        consumer = cast("BatchDrainConsumer", app.consumer)
        act = watch.observe(await consumer.fetch_samples())
        for tp, expected, position in act:
            nxt = "none, never sought: to the committed offset" if expected == MISSING else expected
            log.warning(
                "%s[%d]: fetched records were dropped and no seek followed (fetch position %s); "
                "sought back (next to deliver: %s)",
                tp.topic,
                tp.partition,
                position,
                nxt,
            )
            try:
                await consumer.seek_back(tp, expected)
            except Exception as exc:  # noqa: BLE001 - revoked meanwhile: its next assignment seeks it
                log.warning("%s[%d]: not sought back (%s)", tp.topic, tp.partition, type(exc).__name__)
                continue
            if counter is not None:
                counter.labels(tp.topic).inc()
