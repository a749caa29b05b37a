"""The ingest state: a Faust RocksDB store written one batch at a time, and the batch's view of it.

:class:`BatchStore` is Faust's RocksDB store (registered under the URL scheme :data:`SCHEME`
through the ``faust.stores`` entry point in pyproject.toml; the ingest app's ``store`` URL uses it)
with two operations the batch protocol needs: a read from one partition's database, and the
write of a whole batch together with the changelog offset it reached, in one atomic write per
partition. Faust's recovery reads both back as its own (``persisted_offset``, the changelog).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, cast

from faust.stores import rocksdb

from streamproc.runtime import faust_compat

if TYPE_CHECKING:
    from faust.tables.base import Collection
    from faust.types import CollectionT

    from streamproc.runtime.producer import BatchProducer

__all__ = ["SCHEME", "BatchStore", "BatchState"]

#: The URL scheme of :class:`BatchStore` (``faust.stores`` entry point in pyproject.toml).
SCHEME = "streamproc-rocksdb"


class BatchStore(rocksdb.Store):
    """Faust's RocksDB table store, with per-partition reads and atomic batch writes."""

    def get_in(self, partition: int, key: bytes) -> bytes | None:
        """The value of ``key`` in ``partition``'s database (``None`` when absent)."""
        value: bytes | None = faust_compat.partition_db(self, partition).get(key)
        return value

    def write_batch(self, values: Mapping[bytes, tuple[int, bytes]], offsets: Mapping[int, int]) -> None:
        """``values`` (key → (partition, value)) and the changelog offset each partition reached
        (``offsets``, which Faust's recovery resumes from), one atomic write per partition."""
        items = ((partition, key, value) for key, (partition, value) in values.items())
        faust_compat.write_partitions(self, items, offsets)


class BatchState:
    """Table view for one batch: reads fall through to the RocksDB partition of the message being
    processed (``partition``), writes stay local until :meth:`write`."""

    __slots__ = ("store", "changelog", "overlay", "partition")

    def __init__(self, table: CollectionT) -> None:
        store = cast("Collection", table).data  # CollectionT does not declare it
        if not isinstance(store, BatchStore):
            raise TypeError(f"table {table.name} is not stored in a BatchStore ({SCHEME}://)")
        self.store = store
        self.changelog: str = table.changelog_topic.get_topic_name()
        self.overlay: dict[bytes, tuple[int, bytes]] = {}
        self.partition = 0

    def get(self, key: bytes) -> bytes | None:
        hit = self.overlay.get(key)
        if hit is not None:
            return hit[1]
        return self.store.get_in(self.partition, key)

    def set(self, key: bytes, value: bytes) -> None:
        self.overlay[key] = (self.partition, value)

    def produce_changelog(self, producer: BatchProducer) -> None:
        """Each touched key once, to the changelog partition of its source partition (as Faust
        would), through our producer, which batches far more cheaply than Faust's per-record send."""
        produce, changelog = producer.produce, self.changelog
        for key, (partition, value) in self.overlay.items():
            key, value, partition = faust_compat.changelog_record(key, value, partition)
            produce(changelog, key, value, partition=partition)

    def write(self, acked: dict[int, int]) -> None:
        """Into the local store, one write per partition: the batch's keys and the changelog
        offset they reached (``acked``), which Faust's recovery resumes from, as its own send
        callback would record it."""
        self.store.write_batch(self.overlay, acked)
