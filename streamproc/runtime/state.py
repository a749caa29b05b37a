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
from rocksdict import Rdict

from streamproc.runtime import faust_compat

if TYPE_CHECKING:
    from faust.tables.base import Collection
    from faust.types import CollectionT

    from streamproc.runtime.producer import BatchProducer

__all__ = ["SCHEME", "BatchStore", "BatchState", "ChangelogRecord"]

#: (key, value (``None``: a tombstone), changelog partition) of one changelog record
ChangelogRecord = tuple[bytes, bytes | None, int]

#: The URL scheme of :class:`BatchStore` (``faust.stores`` entry point in pyproject.toml).
SCHEME = "streamproc-rocksdb"


class BatchStore(rocksdb.Store):
    """Faust's RocksDB table store, with per-partition reads and atomic batch writes."""

    def get_in(self, partition: int, key: bytes) -> bytes | None:
        """The value of ``key`` in ``partition``'s database (``None`` when absent)."""
        value: bytes | None = self.partition_db(partition).get(key)
        return value

    def partition_db(self, partition: int) -> Rdict:
        """``partition``'s RocksDB database (opened on first use)."""
        return faust_compat.partition_db(self, partition)

    def write_batch(self, values: Mapping[bytes, tuple[int, bytes]], offsets: Mapping[int, int]) -> None:
        """``values`` (key → (partition, value)) and the changelog offset each partition reached
        (``offsets``, which Faust's recovery resumes from), one atomic write per partition."""
        items = ((partition, key, value) for key, (partition, value) in values.items())
        faust_compat.write_partitions(self, items, offsets)


class BatchState:
    """Table view for one batch: reads fall through to the RocksDB partition of the message being
    processed (``partition``), writes stay local until :meth:`write`."""

    __slots__ = ("store", "changelog", "overlay", "partition", "_dbs")

    def __init__(self, table: CollectionT) -> None:
        store = cast("Collection", table).data  # CollectionT does not declare it
        if not isinstance(store, BatchStore):
            raise TypeError(f"table {table.name} is not stored in a BatchStore ({SCHEME}://)")
        self.store = store
        self.changelog: str = table.changelog_topic.get_topic_name()
        self.overlay: dict[bytes, tuple[int, bytes]] = {}
        self.partition = 0
        self._dbs: dict[int, Rdict] = {}  # per batch: one lookup per partition, not per message

    def get(self, key: bytes) -> bytes | None:
        hit = self.overlay.get(key)
        if hit is not None:
            return hit[1]
        db = self._dbs.get(self.partition)
        if db is None:
            db = self._dbs[self.partition] = self.store.partition_db(self.partition)
        value: bytes | None = db.get(key)
        return value

    def set(self, key: bytes, value: bytes) -> None:
        self.overlay[key] = (self.partition, value)

    def produce_changelog(self, producer: BatchProducer, *, last_apart: bool = False) -> list[ChangelogRecord]:
        """Each touched key once, to the changelog partition of its source partition (as Faust
        would), through our producer, which batches far more cheaply than Faust's per-record send.

        With ``last_apart`` the last record of each changelog partition is not produced but
        returned, for :meth:`produce_last` once the others are acknowledged: the partition's last
        record batch then holds one record, so a broker that answers ListOffsets with the last
        batch's base offset + 1 (the embedded one) reports the exact end to Faust's recovery."""
        records = [faust_compat.changelog_record(k, v, p) for k, (p, v) in self.overlay.items()]
        held = set({partition: i for i, (_, _, partition) in enumerate(records)}.values()) if last_apart else set()
        produce, changelog = producer.produce, self.changelog
        for i, (key, value, partition) in enumerate(records):
            if i not in held:
                produce(changelog, key, value, partition=partition)
        return [records[i] for i in sorted(held)]

    def produce_last(self, producer: BatchProducer, records: list[ChangelogRecord]) -> None:
        """Produce the records :meth:`produce_changelog` held back (one per partition)."""
        for key, value, partition in records:
            producer.produce(self.changelog, key, value, partition=partition)

    def write(self, acked: dict[int, int]) -> None:
        """Into the local store, one write per partition: the batch's keys and the changelog
        offset they reached (``acked``), which Faust's recovery resumes from, as its own send
        callback would record it."""
        self.store.write_batch(self.overlay, acked)
