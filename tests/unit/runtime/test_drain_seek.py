"""The batch-drain consumer around a rebalance (:class:`faust_compat.BatchDrainConsumer`): a source
partition's records are taken only after its seek, and a fetch made before the seek but handed
over after it is dropped and the partition sought again, instead of being taken as a compaction
gap, which acknowledged records nobody processed (before this guard, one run of
tests/integration/test_rebalance.py left 61 source records unprocessed and 23 changes missing)."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path
from typing import Any

import pytest
from faust.types import TP, Message

from streamproc.config.settings import Settings
from streamproc.runtime import consumer, faust_compat, state
from streamproc.runtime.apps import StreamprocApp, faust_app

TOPIC = "src"
TP0 = TP(TOPIC, 0)

Step = tuple[int, ...] | Callable[[], Awaitable[None]]


class Harness:
    """A real app's consumer whose fetches, commits and seeks are scripted."""

    def __init__(self, tmp_path: Path, committed: int | None, log_start: int = 0) -> None:
        settings = Settings(datadir=tmp_path, kafka_bootstrap="localhost:9")
        store = f"{state.SCHEME}://"
        self.app: StreamprocApp = faust_app("drain", settings, "localhost:9", store=store, web=False, group={})
        self.consumer = self.app.consumer
        assert isinstance(self.consumer, faust_compat.BatchDrainConsumer)
        self.buffer = consumer.buffer_for(self.app, TOPIC)
        self.committed = committed
        self.log_start = log_start  # where the offset reset puts a partition with no committed offset
        self.seeks: list[tuple[TP, int]] = []
        self.gaps: list[tuple[TP, int, int]] = []
        c: Any = self.consumer
        c.seek_to_committed = self._seek_to_committed
        c._seek = self._seek
        c._add_gap = self._add_gap
        c.position = self._position
        self.app.topics.acks_enabled_for = lambda topic: True  # type: ignore[method-assign]

    async def _seek_to_committed(self) -> dict[TP, int | None]:
        self.seeks.append((TP0, self.committed))
        return {TP0: self.committed}

    async def _position(self, tp: TP) -> int:
        return self.log_start

    async def _seek(self, tp: TP, offset: int) -> None:
        self.seeks.append((tp, offset))

    async def _add_gap(self, tp: TP, start: int, end: int) -> None:
        self.gaps.append((tp, start, end))

    def run(self, fetches: list[list[Step]]) -> list[int]:
        """Each fetch: offsets of TP0 handed over, or a step run between two of them; returns the
        offsets that reached the source buffer."""
        c: Any = self.consumer

        async def getmany(timeout: float) -> AsyncIterator[tuple[TP, Message]]:
            if not fetches:
                c._stopped.set()
                return
            for step in fetches.pop(0):
                if callable(step):
                    await step()
                    continue
                for offset in step:
                    yield TP0, Message(TOPIC, 0, offset, 0.0, 0, None, b"k", b"v", None)

        async def main() -> None:
            self.app.flow_control.resume()
            c.getmany = getmany
            fetcher: Any = type("Fetcher", (), {"_stopped": asyncio.Event()})()
            await c._drain_messages(fetcher)

        asyncio.run(main())
        return [m.offset for m in self.buffer._messages]


@pytest.fixture
def harness(tmp_path: Path) -> Harness:
    return Harness(tmp_path, committed=3)


def test_a_fetch_from_before_the_seek_is_dropped_and_the_partition_sought_again(harness: Harness) -> None:
    c = harness.consumer
    taken = harness.run(
        [
            [(5, 6)],  # after the assignment, before the seek: dropped (no read offset yet)
            [c.perform_seek, (7, 8)],  # fetched before the seek, handed over after it
            [(3, 4)],  # fetched after the second seek
        ]
    )
    assert taken == [3, 4]
    assert harness.seeks == [(TP0, 3), (TP0, 3)]  # Faust's seek, then ours
    assert harness.gaps == []
    assert c._read_offset[TP0] == 4  # type: ignore[attr-defined]
    assert TP0 not in c.sought  # type: ignore[attr-defined]


def test_a_real_gap_after_the_seek_is_taken_once_sought_again(harness: Harness) -> None:
    c = harness.consumer
    taken = harness.run([[c.perform_seek, (5,)], [(5, 6)]])  # offsets 3 and 4: transaction markers
    assert taken == [5, 6]
    assert harness.seeks == [(TP0, 3), (TP0, 3)]
    assert harness.gaps == [(TP0, 4, 5)]


def test_a_record_dropped_by_a_stopped_flow_does_not_move_the_read_offset(harness: Harness) -> None:
    c = harness.consumer

    async def rebalance() -> None:
        c.suspend_flow.set()

    taken = harness.run([[c.perform_seek, (3,), rebalance, (4,)]])
    assert taken == [3]
    assert c._read_offset[TP0] == 3  # type: ignore[attr-defined]  # 4 was not read: it is fetched again


def test_with_no_committed_offset_a_fetch_from_before_the_seek_is_dropped_too(tmp_path: Path) -> None:
    """Nothing committed yet (a first start, or a rebalance before the first commit): the seek goes
    to the log start, and a fetch from before it must not be taken, or the records below it would
    be skipped as already delivered and committed past."""
    h = Harness(tmp_path, committed=None, log_start=2)
    c = h.consumer
    taken = h.run([[c.perform_seek, (7, 8)], [(2, 3)]])
    assert taken == [2, 3]
    assert h.seeks == [(TP0, None), (TP0, 2)]  # Faust's seek to the committed offset (none), then ours
    assert h.gaps == []
    assert c._read_offset[TP0] == 3  # type: ignore[attr-defined]
