"""Helpers of the hand-over and crash tests: a producer released in parts, the ingest tables as
their changelogs and the workers' local RocksDB partitions hold them, and the count of clean
events that are redeliveries (byte-equal copies at the position of their first copy)."""

from __future__ import annotations

import json
import threading
import time
from collections import defaultdict
from collections.abc import Iterable, Sequence
from pathlib import Path

from .workers import Offline, Record, produce, read_topic

__all__ = ["GatedProducer", "changelog_tables", "exact_copies", "local_table", "merged"]


class GatedProducer(threading.Thread):
    """Produces ``records`` in chunks of ``chunk`` with ``pause`` seconds between them, but never
    past the count :meth:`allow` has released: a test releases the next part of the stream just
    before a hand-over, so records keep arriving while partitions move."""

    def __init__(self, bootstrap: str, records: Sequence[Record], chunk: int, pause: float) -> None:
        super().__init__(daemon=True)
        self.bootstrap, self.records, self.chunk, self.pause = bootstrap, records, chunk, pause
        self.sent = 0
        self._allowed = 0
        self._changed = threading.Condition()
        self.errors: list[BaseException] = []

    def allow(self, fraction: float) -> None:
        with self._changed:
            self._allowed = max(self._allowed, int(len(self.records) * fraction))
            self._changed.notify_all()

    def run(self) -> None:
        try:
            while self.sent < len(self.records):
                with self._changed:
                    while self.sent >= self._allowed:
                        self._changed.wait()
                    upto = min(self.sent + self.chunk, self._allowed)
                produce(self.bootstrap, self.records[self.sent : upto])
                self.sent = upto
                time.sleep(self.pause)
        except BaseException as exc:  # noqa: BLE001 - re-raised by join_ok
            self.errors.append(exc)

    def join_ok(self, timeout: float = 180.0) -> None:
        self.allow(1.0)
        self.join(timeout)
        assert not self.is_alive() and not self.errors, self.errors


def changelog_tables(bootstrap: str, app_id: str, topics: Iterable[str]) -> dict[tuple[str, int], dict[bytes, bytes]]:
    """The ingest tables as their changelog topics hold them: (source topic, partition) → table
    key → last value."""
    tables: dict[tuple[str, int], dict[bytes, bytes]] = defaultdict(dict)
    for topic in topics:
        for m in read_topic(bootstrap, f"{app_id}-state-{topic}-changelog"):
            tables[(topic, m.partition())][m.key()] = m.value()
    return dict(tables)


def merged(tables: dict[tuple[str, int], dict[bytes, bytes]]) -> dict[bytes, bytes]:
    """One dict of every table partition's per-key state (a key in two partitions is an error).
    The schema-drift keys (one per entity in each partition, ``pipeline/schema_drift.py``), which
    the dry-run does not keep, are left out."""
    from streamproc.pipeline.schema_drift import is_schema_key

    out: dict[bytes, bytes] = {}
    for table in tables.values():
        part = {k: v for k, v in table.items() if not is_schema_key(k)}
        assert not set(part) & set(out), "a table key in two changelog partitions"
        out.update(part)
    return out


def local_table(datadir: Path, topic: str, partition: int) -> tuple[dict[bytes, bytes], int | None]:
    """A stopped worker's RocksDB partition of the ``topic`` table (Faust's layout, raw mode):
    (key → value, the persisted changelog offset)."""
    from faust.stores.rocksdb import Store
    from rocksdict import AccessType, Options, Rdict

    path = datadir / "v1" / "tables" / f"state-{topic}-{partition}.db"
    db = Rdict(str(path), options=Options(raw_mode=True), access_type=AccessType.read_only())
    try:
        data = {bytes(k): bytes(v) for k, v in db.items()}
    finally:
        db.close()
    offset = data.pop(Store.offset_key, None)
    return data, int(offset) if offset is not None else None


def exact_copies(clean: dict[str, list], offline: Offline) -> int:
    """Clean events beyond the dry-run's, which must all be redeliveries: each clean event equals
    (bytes) a dry-run event of its key *at the same position*, and every dry-run event is there.
    Returns how many events are extra copies."""
    copies = 0
    for topic, messages in clean.items():
        want: dict[tuple[bytes, tuple], list[bytes]] = defaultdict(list)
        for e in offline.emits():
            if e.topic == topic:
                want[(e.key, tuple(json.loads(e.value)["position"]))].append(e.value)
        got: dict[tuple[bytes, tuple], list[bytes]] = defaultdict(list)
        for m in messages:
            got[(m.key(), tuple(json.loads(m.value())["position"]))].append(m.value())
        for pair, values in got.items():
            expected = want.get(pair, [])
            assert all(v in expected for v in values), f"{topic} {pair}: an event that is no copy of the dry-run's"
            assert all(v in values for v in expected), f"{topic} {pair}: a dry-run event is missing"
            copies += len(values) - len(expected)
        assert set(want) <= set(got), f"{topic}: {len(set(want) - set(got))} (key, position) pairs missing"
    return copies
