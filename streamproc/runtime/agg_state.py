"""The aggregation role's state: one batch's view of a RocksDB table (:class:`AggBatch`), and the
JSON mappings the pure aggregation code reads and writes through it (:class:`JsonView`).

The tables are stored in :class:`~streamproc.runtime.state.BatchStore` (``streamproc-rocksdb://``)
like the ingest state, and written by the same protocol: reads fall through to the RocksDB
partition, writes (and deletes) stay in the batch's overlay until the batch's output is
acknowledged by Kafka; then every touched key goes to the changelog once, and after that flush
into the local partition together with the changelog offset it reached, in one atomic write per
partition (:mod:`streamproc.runtime.ingest` explains why a crash at any point is safe).

Keys of one table are prefixed by what they hold (:data:`CELLS`, :data:`META`, :data:`ROWS`,
:data:`WATERMARK`, :data:`ORIGINS`), so all the state of one partition is in one database and written at once.
"""

from __future__ import annotations

from collections.abc import Iterator, MutableMapping
from typing import TYPE_CHECKING, Any, cast

from streamproc.jsonutil import dumps, loads
from streamproc.runtime import faust_compat
from streamproc.runtime.state import SCHEME, BatchStore, ChangelogRecord

if TYPE_CHECKING:
    from faust.tables.base import Collection
    from faust.types import CollectionT
    from rocksdict import Rdict

    from streamproc.runtime.producer import BatchProducer

__all__ = ["CELLS", "META", "ROWS", "WATERMARK", "ORIGINS", "PROGRESS", "AggBatch", "JsonView"]

#: key prefixes: the window engine's cells and meta (downstream tables), the per-entity-key row
#: state and the per-partition watermark (upstream tables)
CELLS, META, ROWS, WATERMARK = b"c\x00", b"m\x00", b"r\x00", b"w\x00"
#: upstream tables, per partition: ``{"next": next offset to process, "bs": batch size}``
PROGRESS = b"p\x00progress"
#: upstream tables, per partition and origin stream (``<topic>:<partition>``): the highest origin
#: offset taken (:mod:`streamproc.pipeline.origin`)
ORIGINS = b"o\x00"


class AggBatch:
    """Overlay of one table for one batch: ``get``/``set`` by (partition, key); ``None`` deletes."""

    __slots__ = ("store", "changelog", "overlay", "views", "_dbs")

    def __init__(self, table: CollectionT) -> None:
        store = cast("Collection", table).data  # CollectionT does not declare it
        if not isinstance(store, BatchStore):
            raise TypeError(f"table {table.name} is not stored in a BatchStore ({SCHEME}://)")
        self.store = store
        self.changelog: str = table.changelog_topic.get_topic_name()
        #: (partition, key) → value (``None``: delete); keys such as ``WATERMARK + name`` repeat
        #: in every partition
        self.overlay: dict[tuple[int, bytes], bytes | None] = {}
        #: the JSON views over this batch, whose changed values are encoded once, at the end
        self.views: list[JsonView] = []
        self._dbs: dict[int, Rdict] = {}

    def _db(self, partition: int) -> Rdict:
        db = self._dbs.get(partition)
        if db is None:
            db = self._dbs[partition] = self.store.partition_db(partition)
        return db

    def get(self, partition: int, key: bytes) -> bytes | None:
        where = (partition, key)
        if where in self.overlay:
            return self.overlay[where]
        value: bytes | None = self._db(partition).get(key)
        return value

    def set(self, partition: int, key: bytes, value: bytes | None) -> None:
        self.overlay[(partition, key)] = value

    def keys(self, partition: int, prefix: bytes) -> Iterator[bytes]:
        """Keys of ``partition`` starting with ``prefix``, as the batch sees them."""
        seen = set()
        for key in self._db(partition).keys(from_key=prefix):
            if not isinstance(key, bytes) or not key.startswith(prefix):
                break
            seen.add(key)
            if self.get(partition, key) is not None:
                yield key
        for (p, key), value in list(self.overlay.items()):
            if p == partition and value is not None and key.startswith(prefix) and key not in seen:
                yield key

    def produce_changelog(self, producer: BatchProducer, *, last_apart: bool = False) -> list[ChangelogRecord]:
        """Each touched key once to its partition's changelog (see ``BatchState.produce_changelog``);
        with ``last_apart`` each partition's last record is returned for :meth:`produce_last`."""
        self.materialize()
        records = [faust_compat.changelog_record(k, v, p) for (p, k), v in self.overlay.items()]
        held = set({partition: i for i, (_, _, partition) in enumerate(records)}.values()) if last_apart else set()
        for i, (key, value, partition) in enumerate(records):
            if i not in held:
                producer.produce(self.changelog, key, value, partition=partition)
        return [records[i] for i in sorted(held)]

    def materialize(self) -> None:
        """Encode what the views changed into the overlay (each changed value once per batch)."""
        for view in self.views:
            view.materialize()

    def produce_last(self, producer: BatchProducer, records: list[ChangelogRecord]) -> None:
        for key, value, partition in records:
            producer.produce(self.changelog, key, value, partition=partition)

    def write(self, acked: dict[int, int]) -> None:
        """The overlay and each partition's changelog offset, one atomic write per partition."""
        self.materialize()
        items = ((p, key, value) for (p, key), value in self.overlay.items())
        faust_compat.write_partitions(self.store, items, acked)


class JsonView(MutableMapping[bytes, dict[str, Any]]):
    """JSON dicts of one partition under one key prefix of an :class:`AggBatch`: decoded once per
    batch, and every assigned value encoded once, when the batch is recorded
    (:meth:`AggBatch.materialize`); a deletion becomes a tombstone."""

    def __init__(self, batch: AggBatch, partition: int, prefix: bytes) -> None:
        self.batch = batch
        self.partition = partition
        self.prefix = prefix
        self._cache: dict[bytes, dict[str, Any] | None] = {}
        self._dirty: dict[bytes, None] = {}  # insertion-ordered
        batch.views.append(self)

    def materialize(self) -> None:
        for key in self._dirty:
            value = self._cache[key]
            self.batch.set(self.partition, self.prefix + key, None if value is None else dumps(value))
        self._dirty.clear()

    def __getitem__(self, key: bytes) -> dict[str, Any]:
        if key in self._cache:
            value = self._cache[key]
        else:
            raw = self.batch.get(self.partition, self.prefix + key)
            value = self._cache[key] = None if raw is None else loads(raw)
        if value is None:
            raise KeyError(key)
        return value

    def __setitem__(self, key: bytes, value: dict[str, Any]) -> None:
        self._cache[key] = value
        self._dirty[key] = None

    def __delitem__(self, key: bytes) -> None:
        if key not in self:
            raise KeyError(key)
        self._cache[key] = None
        self._dirty[key] = None

    def __iter__(self) -> Iterator[bytes]:
        self.materialize()
        n = len(self.prefix)
        return (k[n:] for k in self.batch.keys(self.partition, self.prefix))

    def __len__(self) -> int:
        return sum(1 for _ in self)

    def __contains__(self, key: object) -> bool:
        if not isinstance(key, bytes):
            return False
        try:
            self[key]
        except KeyError:
            return False
        return True
