"""Contract tests of streamproc's Faust contact surface (:mod:`streamproc.runtime.faust_compat`).

They use the installed faust, aiokafka, mode and rocksdict — real apps, tables, RocksDB stores in
``tmp_path`` and consumers that are built but never connected — and fail when an upgrade breaks an
assumption: read the failing test's message and faust_compat's docstring before changing a pin.
"""

from __future__ import annotations

import asyncio
import hashlib
import importlib
import inspect
from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import aiokafka
import faust
import faust.stores
import faust.tables.recovery
import faust.transport
import pytest
from faust.tables.base import Collection
from faust.types import TP, Message

from streamproc.config.settings import Settings
from streamproc.runtime import consumer, faust_compat, state
from streamproc.runtime.apps import StreamprocApp, faust_app
from streamproc.runtime.state import BatchState, BatchStore

#: (partition, key, value) set by one batch; b"k1" is set twice (the changelog carries it once)
WRITES = [(0, b"k1", b"v1-old"), (1, b"k3", b"v3"), (0, b"k2", b"v2"), (0, b"k1", b"v1")]


class FakeProducer:
    """Records what :meth:`BatchState.produce_changelog` sends, with broker-like offsets."""

    def __init__(self) -> None:
        self.records: list[dict[str, Any]] = []
        self.next_offset: dict[int, int] = {}

    def produce(
        self,
        topic: str,
        key: bytes | None,
        value: bytes | None,
        headers: list[tuple[str, bytes]] | None = None,
        partition: int | None = None,
    ) -> None:
        assert partition is not None, "changelog records go to an explicit partition"
        offset = self.next_offset.get(partition, 0)
        self.next_offset[partition] = offset + 1
        self.records.append(
            {"topic": topic, "partition": partition, "offset": offset, "key": key, "value": value, "headers": headers}
        )

    def acked(self) -> dict[int, int]:
        """The last offset of each partition, as ``BatchProducer.take_acked`` reports it."""
        return {p: n - 1 for p, n in self.next_offset.items()}


def make_app(datadir: Path, app_id: str = "contract") -> StreamprocApp:
    settings = Settings(datadir=datadir, kafka_bootstrap="localhost:9", partitions=2)
    return faust_app(app_id, settings, "localhost:9", store=f"{state.SCHEME}://", web=False, group={})


def make_table(app: StreamprocApp) -> Collection:
    table = app.Table("state-t", partitions=2, key_type=bytes, value_type=bytes)
    assert isinstance(table, Collection)
    return table


def write_batch(table: Collection) -> tuple[BatchState, FakeProducer]:
    """One batch through the project's state path: overlay, changelog, then the local write."""
    batch = BatchState(table)
    for partition, key, value in WRITES:
        batch.partition = partition
        batch.set(key, value)
    producer = FakeProducer()
    batch.produce_changelog(producer)  # type: ignore[arg-type]  # the fake stands in for BatchProducer
    batch.write(producer.acked())
    return batch, producer


def contents(store: BatchStore, partition: int) -> dict[bytes, bytes]:
    db = faust_compat.partition_db(store, partition)
    return {k: v for k, v in db.items() if k != store.offset_key}


@pytest.fixture
def app(tmp_path: Path) -> Iterator[StreamprocApp]:
    yield make_app(tmp_path / "a")


# ------------------------------------------------------------------------- extension points


def test_the_transport_and_store_are_found_through_faust_registries(app: StreamprocApp) -> None:
    """The entry points in pyproject.toml: reinstall the package (make setup) when this fails."""
    assert faust.transport.by_url(f"{consumer.SCHEME}://localhost:9092") is consumer.Transport
    assert faust.stores.by_url(f"{state.SCHEME}://") is BatchStore
    assert type(app.consumer) is faust_compat.BatchDrainConsumer
    assert type(make_table(app).data) is BatchStore
    assert app.producer_transport.Consumer is not faust_compat.BatchDrainConsumer  # producer: stock kafka://


# ------------------------------------------------------------------------- (a) changelog record format


def test_the_changelog_written_by_the_project_recovers_into_an_equal_table(tmp_path: Path, app: StreamprocApp) -> None:
    table = make_table(app)
    batch, producer = write_batch(table)
    assert {r["topic"] for r in producer.records} == {table.changelog_topic.get_topic_name()}
    assert all(r["headers"] is None for r in producer.records)
    assert len(producer.records) == 3  # each touched key once

    other = make_app(tmp_path / "b")
    recovered = make_table(other)
    events = [
        faust.Event(
            other,
            r["key"],
            r["value"],
            None,
            Message(r["topic"], r["partition"], r["offset"], 0.0, 0, None, r["key"], r["value"], None),
        )
        for r in producer.records
    ]
    recovered.apply_changelog_batch(events)  # what Faust's recovery does with changelog events

    for partition in (0, 1):
        assert contents(recovered.data, partition) == contents(batch.store, partition), partition
    assert contents(batch.store, 0) == {b"k1": b"v1", b"k2": b"v2"}
    assert recovered.data[b"k3"] == b"v3"  # Faust's own read path finds the recovered value
    assert recovered.data.persisted_offset(TP(batch.changelog, 0)) == batch.store.persisted_offset(
        TP(batch.changelog, 0)
    )


# ------------------------------------------------------------------------- (b) persisted offset


def test_the_persisted_offset_is_the_one_faust_reads_and_resumes_from(app: StreamprocApp) -> None:
    table = make_table(app)
    batch, producer = write_batch(table)
    acked = producer.acked()
    assert acked == {0: 1, 1: 0}
    for partition, offset in acked.items():
        tp = TP(batch.changelog, partition)
        assert table.data.persisted_offset(tp) == offset
        recovery = app.tables.recovery  # type: ignore[attr-defined]  # TableManager, not TableManagerT
        recovery.add_active(table, tp)
        assert recovery.active_offsets[tp] == offset  # Faust's recovery seeks the changelog from here


def test_the_offset_is_encoded_as_set_persisted_offset_encodes_it(app: StreamprocApp) -> None:
    store = make_table(app).data
    assert isinstance(store, BatchStore)
    tp = TP("contract-state-t-changelog", 1)
    store.set_persisted_offset(tp, 123456789)
    raw = faust_compat.partition_db(store, 1).get(store.offset_key)
    assert raw == faust_compat.encode_offset(123456789)
    store.write_batch({}, {1: 42})
    assert store.persisted_offset(tp) == 42


# ------------------------------------------------------------------------- (c) copied upstream code


@pytest.mark.parametrize("name", sorted(faust_compat.UPSTREAM_SHA256))
def test_the_copied_upstream_code_is_unchanged(name: str) -> None:
    module, _, qualname = name.partition(":")
    obj: Any = importlib.import_module(module)
    for part in qualname.split("."):
        obj = getattr(obj, part)
    digest = hashlib.sha256(inspect.getsource(obj).encode()).hexdigest()
    assert digest == faust_compat.UPSTREAM_SHA256[name], (
        f"{name} changed upstream: compare it with the copy in streamproc/runtime/faust_compat.py, "
        "carry the change over, then record the new hash"
    )


def test_the_copies_replace_the_upstream_methods() -> None:
    assert faust_compat.BatchDrainConsumer._drain_messages is not faust.transport.consumer.Consumer._drain_messages
    assert "_drain_messages" in inspect.getsource(faust.transport.consumer.Fetcher)  # still the caller


# ------------------------------------------------------------------------- (d) private attributes


@pytest.mark.parametrize(
    ("cls", "name"), [(c, n) for c, names in faust_compat.CLASS_INTERNALS.items() for n in names], ids=str
)
def test_every_private_class_attribute_exists(cls: type, name: str) -> None:
    assert hasattr(cls, name), f"{cls.__module__}.{cls.__qualname__}.{name} is gone"


def test_every_private_instance_attribute_exists(app: StreamprocApp) -> None:
    async def build_worker_consumer() -> aiokafka.AIOKafkaConsumer:
        thread = app.consumer._thread  # type: ignore[attr-defined]  # ThreadDelegateConsumer's thread
        worker_consumer = thread._create_worker_consumer(app.transport)
        await worker_consumer.stop()
        return worker_consumer

    worker_consumer = asyncio.run(build_worker_consumer())
    assert worker_consumer._fetch_max_wait_ms == faust_compat.FETCH_MAX_WAIT_MS
    assert "self._fetch_max_wait_ms" in inspect.getsource(aiokafka.AIOKafkaConsumer.start)
    instances = {
        faust.transport.consumer.Consumer: app.consumer,
        faust.transport.drivers.aiokafka.Consumer: app.consumer,
        aiokafka.AIOKafkaConsumer: worker_consumer,
        faust.sensors.monitor.Monitor: app.monitor,
    }
    assert set(instances) == set(faust_compat.INSTANCE_INTERNALS)
    for cls, obj in instances.items():
        assert isinstance(obj, cls)
        for name in faust_compat.INSTANCE_INTERNALS[cls]:
            assert hasattr(obj, name), f"{cls.__module__}.{cls.__qualname__} instances have no {name}"


def test_track_marks_messages_in_flight_and_the_stream_inbound(app: StreamprocApp) -> None:
    messages = [Message("t", p, o, 0.0, 0, None, b"k", b"v", None) for p, o in ((0, 1), (1, 5))]
    consumer.track(app.consumer, messages)
    assert set(app.consumer._unacked_messages) == set(messages)  # type: ignore[attr-defined]
    assert set(app.monitor.stream_inbound_time) == {TP("t", 0), TP("t", 1)}


# ------------------------------------------------------------------------- (e) recovery's end of a changelog


def test_recovery_takes_a_changelog_end_from_list_offsets(app: StreamprocApp) -> None:
    """The embedded broker's exact hand-over rests on this (runtime/ingest.py): Faust's recovery
    reads a changelog partition up to the consumer's ``highwaters`` (ListOffsets) minus 1, and
    refuses a persisted offset beyond it only under the public ``recovery_consistency_check``."""

    class ListOffsets:
        async def highwaters(self, *tps: TP) -> dict[TP, int]:
            return dict.fromkeys(tps, 7)

    recovery = app.tables.recovery  # type: ignore[attr-defined]  # TableManager, not TableManagerT
    tp = TP("contract-state-t-changelog", 0)
    destination: Counter[TP] = Counter()
    asyncio.run(recovery._build_highwaters(ListOffsets(), {tp}, destination, "active"))
    assert destination[tp] == 6
    assert "consumer.highwaters(" in inspect.getsource(type(recovery)._build_highwaters)
    assert "if self.app.conf.recovery_consistency_check:" in inspect.getsource(type(recovery))
    assert app.conf.recovery_consistency_check is True  # Faust's default, kept on real Kafka


# ------------------------------------------------------------------------- (f) read offsets around a rebalance


def test_a_revocation_forgets_read_offsets_and_the_seek_after_assignment_sets_them() -> None:
    """``BatchDrainConsumer`` takes a source partition's records only once it is sought after a
    rebalance, which it tells by the read offset Faust removes on revocation and sets in
    ``perform_seek``; Faust's recovery seeks after resuming the partitions (the window the
    consumer guards, tests/unit/runtime/test_drain_seek.py)."""
    revoked = inspect.getsource(faust.transport.consumer.Consumer.on_partitions_revoked)
    assert "self._read_offset.pop(tp, None)" in revoked
    seek = inspect.getsource(faust.transport.consumer.Consumer.perform_seek)
    assert "await self.seek_to_committed()" in seek and "read_offset.update(" in seek
    recovery = inspect.getsource(faust.tables.recovery.Recovery)
    assert recovery.count("consumer.perform_seek()") == 2
    for resumed in recovery.split("consumer.perform_seek()")[:2]:
        assert "consumer.resume_partitions(" in resumed.rsplit("async def ", 1)[-1]
