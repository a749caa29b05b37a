"""The ingest batch's end (:meth:`IngestRuntime.finish_batch`) against a model of the embedded broker:
each flush stores one record batch per partition, and ListOffsets answers the last batch's base
offset + 1 (tansu 0.6). Sending each changelog partition's last record alone makes that answer
the exact end, which is what a worker taking the partition over recovers up to."""

from __future__ import annotations

import asyncio
import logging
from collections import defaultdict
from pathlib import Path
from typing import Any, cast

import pytest
from faust.tables.base import Collection
from faust.types import TP

from streamproc.config.settings import Settings
from streamproc.runtime import state
from streamproc.runtime.apps import faust_app
from streamproc.runtime.ingest import IngestRuntime
from streamproc.runtime.metrics import Metrics
from streamproc.runtime.state import BatchState

#: (source partition, key, value): partition 0 gets three keys, partition 1 two, partition 2 one
WRITES = [(0, b"a", b"1"), (1, b"b", b"2"), (0, b"c", b"3"), (2, b"d", b"4"), (1, b"e", b"5"), (0, b"f", b"6")]


class TansuModel:
    """A producer whose flushes store record batches as the embedded broker does."""

    def __init__(self) -> None:
        self.queued: list[tuple[str, int, bytes, bytes]] = []
        self.batches: dict[int, list[list[tuple[int, bytes, bytes]]]] = defaultdict(list)
        self.acked: dict[int, int] = {}
        self.events: list[str] = []

    def produce(
        self,
        topic: str,
        key: bytes | None,
        value: bytes | None,
        headers: list[tuple[str, bytes]] | None = None,
        partition: int | None = None,
    ) -> None:
        assert partition is not None and key is not None and value is not None
        self.queued.append((topic, partition, key, value))

    async def flush(self, timeout: float = 150.0) -> None:
        self.events.append(f"flush {len(self.queued)}")
        by_partition: dict[int, list[tuple[bytes, bytes]]] = defaultdict(list)
        for _, partition, key, value in self.queued:
            by_partition[partition].append((key, value))
        self.queued.clear()
        for partition, records in by_partition.items():
            start = self.end(partition)
            self.batches[partition].append([(start + i, k, v) for i, (k, v) in enumerate(records)])
            self.acked[partition] = start + len(records) - 1

    def take_acked(self, topic: str) -> dict[int, int]:
        out, self.acked = self.acked, {}
        return out

    def end(self, partition: int) -> int:
        """The real end: the offset after the last stored record."""
        batches = self.batches[partition]
        return batches[-1][-1][0] + 1 if batches else 0

    def list_offsets(self, partition: int) -> int:
        """tansu 0.6's ListOffsets(latest): the last batch's base offset + 1."""
        batches = self.batches[partition]
        return batches[-1][0][0] + 1 if batches else 0

    def records(self, partition: int) -> list[tuple[bytes, bytes]]:
        return [(k, v) for batch in self.batches[partition] for _, k, v in batch]


def make_runtime(tmp_path: Path, embedded: bool, **settings: Any) -> tuple[IngestRuntime, Collection, TansuModel]:
    s = Settings(datadir=tmp_path, kafka_bootstrap="localhost:9", partitions=3, **settings)
    app = faust_app("batch", s, "localhost:9", store=f"{state.SCHEME}://", web=False, group={})
    table = app.Table("state-t", partitions=3, key_type=bytes, value_type=bytes)
    assert isinstance(table, Collection)
    runtime = IngestRuntime(app, s, cast(Any, None), Metrics(), embedded)
    model = TansuModel()
    runtime.producer = cast(Any, model)
    return runtime, table, model


def run_batch(runtime: IngestRuntime, table: Collection, writes: list[tuple[int, bytes, bytes]]) -> BatchState:
    batch = BatchState(table)
    for partition, key, value in writes:
        batch.partition = partition
        batch.set(key, value)
    asyncio.run(runtime.finish_batch(batch, len(writes)))
    return batch


def test_on_the_embedded_broker_list_offsets_reports_the_exact_end(tmp_path: Path) -> None:
    runtime, table, model = make_runtime(tmp_path, embedded=True)
    batch = run_batch(runtime, table, WRITES)
    run_batch(runtime, table, [(0, b"a", b"7"), (0, b"g", b"8"), (1, b"b", b"9")])
    for partition in (0, 1, 2):
        assert model.list_offsets(partition) == model.end(partition), partition
        assert table.data.persisted_offset(TP(batch.changelog, partition)) == model.end(partition) - 1
    assert model.records(0) == [(b"a", b"1"), (b"c", b"3"), (b"f", b"6"), (b"a", b"7"), (b"g", b"8")]
    assert [len(b) for b in model.batches[0]] == [2, 1, 1, 1]  # the last record of each flush alone
    assert model.events == ["flush 0", "flush 3", "flush 3", "flush 0", "flush 1", "flush 2"]


def test_without_the_split_the_model_reproduces_the_gap(tmp_path: Path) -> None:
    """The model is faithful to the quirk: one flush per changelog leaves ListOffsets short."""
    runtime, table, model = make_runtime(tmp_path, embedded=False)
    run_batch(runtime, table, WRITES)
    assert model.list_offsets(0) == 1 and model.end(0) == 3
    assert model.events == ["flush 0", "flush 6"]  # real Kafka: one changelog flush


def test_the_split_keeps_each_partitions_order_and_content(tmp_path: Path) -> None:
    _, table, _ = make_runtime(tmp_path, embedded=True)
    batch = BatchState(table)
    for partition, key, value in WRITES + [(0, b"a", b"last")]:
        batch.partition = partition
        batch.set(key, value)
    apart, together = TansuModel(), TansuModel()
    last = batch.produce_changelog(cast(Any, apart), last_apart=True)
    assert sorted((p, k) for k, _, p in last) == [(0, b"f"), (1, b"e"), (2, b"d")]
    batch.produce_last(cast(Any, apart), last)
    assert batch.produce_changelog(cast(Any, together)) == []
    for partition in (0, 1, 2):
        want = [(k, v) for _, p, k, v in together.queued if p == partition]
        assert [(k, v) for _, p, k, v in apart.queued if p == partition] == want
    assert (b"a", b"last") in [(k, v) for _, _, k, v in together.queued]  # each key once, last value


def test_the_test_hold_waits_after_the_output_and_before_the_state(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    runtime, table, model = make_runtime(tmp_path, embedded=True, test_hold_after_output=0.05)
    with caplog.at_level(logging.WARNING, logger="streamproc.ingest"):
        run_batch(runtime, table, WRITES[:1])
    held = [r.getMessage() for r in caplog.records if "test hook" in r.getMessage()]
    assert held == [
        "test hook: a batch of 1 messages held 0.1s after its output was acknowledged, "
        "before its state and offsets are written"
    ]
    assert model.events[0] == "flush 0"  # the output flush came first


def test_the_assignment_is_logged_by_source_topic(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    runtime, _, _ = make_runtime(tmp_path, embedded=False)
    app = runtime.app
    app.source_buffers.update({"src.b": cast(Any, None), "src.a": cast(Any, None)})
    assigned = {TP("src.a", 2), TP("src.a", 0), TP("batch-state-src.a-changelog", 1)}
    with caplog.at_level(logging.INFO, logger="streamproc.ingest"):
        runtime.on_assigned(app, assigned, signal=None)
    assert caplog.records[-1].getMessage() == "ingest partitions assigned: src.a=0,2 src.b=-"
