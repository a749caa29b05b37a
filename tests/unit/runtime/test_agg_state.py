"""The aggregation role's table views (``runtime/agg_state.py``) on a real BatchStore: reads fall
through to RocksDB, writes and deletes stay in the batch until written, each changed value is
encoded once, and a deletion is a tombstone in the changelog and a delete in RocksDB."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from streamproc.jsonutil import dumps, loads
from streamproc.runtime.agg_state import CELLS, META, AggBatch, JsonView


class FakeProducer:
    def __init__(self) -> None:
        self.sent: list[tuple[str, bytes, bytes | None, int]] = []

    def produce(self, topic: str, key: bytes, value: bytes | None, partition: int | None = None) -> None:
        assert partition is not None
        self.sent.append((topic, key, value, partition))


@pytest.fixture
def table(tmp_path: Path) -> Any:
    import faust

    from streamproc.runtime.state import SCHEME

    app = faust.App("agg-state-test", store=f"{SCHEME}://", datadir=str(tmp_path), autodiscover=False)
    return app.Table("agg-x", partitions=2, key_type=bytes, value_type=bytes)


def test_views_read_through_write_once_and_delete_with_tombstones(table: Any) -> None:
    first = AggBatch(table)
    cells = JsonView(first, 1, CELLS)
    cells[b"a"] = {"n": 1}
    cells[b"a"] = {"n": 2}  # re-assigned: encoded once, the last value
    cells[b"b"] = {"n": 5}
    JsonView(first, 1, META)[b"a"] = {"wm": 7}  # same key, other prefix: another entry
    producer = FakeProducer()
    assert first.produce_changelog(producer) == []  # type: ignore[arg-type]
    assert sorted((k, loads(v or b"null"), p) for _, k, v, p in producer.sent) == [
        (CELLS + b"a", {"n": 2}, 1),
        (CELLS + b"b", {"n": 5}, 1),
        (META + b"a", {"wm": 7}, 1),
    ]
    first.write({1: 2})

    second = AggBatch(table)
    view = JsonView(second, 1, CELLS)
    assert view[b"a"] == {"n": 2} and b"b" in view and b"a" not in JsonView(second, 0, CELLS)
    assert sorted(view) == [b"a", b"b"] and len(view) == 2
    del view[b"b"]
    with pytest.raises(KeyError):
        view[b"b"]
    with pytest.raises(KeyError):
        del view[b"zzz"]
    assert sorted(view) == [b"a"]
    producer = FakeProducer()
    second.produce_changelog(producer)  # type: ignore[arg-type]
    assert producer.sent == [(second.changelog, CELLS + b"b", None, 1)]
    second.write({1: 3})
    assert second.store.get_in(1, CELLS + b"b") is None
    assert second.store.get_in(1, CELLS + b"a") == dumps({"n": 2})


def test_each_partitions_last_record_can_be_held_back(table: Any) -> None:
    batch = AggBatch(table)
    for p in (0, 1):
        view = JsonView(batch, p, CELLS)
        view[b"x%d" % p] = {"p": p}
        view[b"y%d" % p] = {"p": p}
    producer = FakeProducer()
    held = batch.produce_changelog(producer, last_apart=True)  # type: ignore[arg-type]
    assert sorted(p for _, _, p in held) == [0, 1]  # one per partition, sent last and alone
    assert sorted([k for k, _, _ in held] + [k for _, k, _, _ in producer.sent]) == [
        CELLS + b"x0",
        CELLS + b"x1",
        CELLS + b"y0",
        CELLS + b"y1",
    ]


def test_one_key_in_two_partitions_of_one_batch_keeps_both_values(table: Any) -> None:
    """``WATERMARK + name`` is the same key in every partition: a batch over two partitions must
    record each partition's value (the overlay once kept only the last one set)."""
    batch = AggBatch(table)
    batch.set(0, b"w\x00agg", b"100")
    batch.set(1, b"w\x00agg", b"200")
    assert (batch.get(0, b"w\x00agg"), batch.get(1, b"w\x00agg")) == (b"100", b"200")
    producer = FakeProducer()
    batch.produce_changelog(producer)  # type: ignore[arg-type]
    assert sorted((p, v) for _, _, v, p in producer.sent) == [(0, b"100"), (1, b"200")]
    batch.write({0: 1, 1: 1})
    assert (batch.store.get_in(0, b"w\x00agg"), batch.store.get_in(1, b"w\x00agg")) == (b"100", b"200")
