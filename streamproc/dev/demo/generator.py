"""A realistic Debezium MongoDB change stream for the seven trigger collections.

Inserts, partial updates (``updateDescription`` only), full updates (``after`` +
``updateDescription``), replaces, deletes with tombstones, PII in users and owners, and the
faults a real pipeline meets: redelivered duplicates, reordered pairs, malformed records and
business-rule violations. Deterministic for a seed. Pure: returns records, does no I/O. The
documents themselves come from :mod:`.documents`.
"""

from __future__ import annotations

import json
import random
from collections import Counter
from dataclasses import dataclass, field
from typing import Any

from streamproc.dev.demo.documents import COLLECTIONS, oid

__all__ = ["Record", "DemoStream", "generate", "COLLECTIONS"]


@dataclass(frozen=True, slots=True)
class Record:
    """One Kafka record of the stream and what the generator meant by it."""

    topic: str
    key: bytes | None
    value: bytes | None
    kind: str  # insert|update|replace|delete|tombstone|duplicate|reordered|malformed|invalid


@dataclass
class DemoStream:
    """The records in produce order; ``injected`` counts them per kind (what the generator did)."""

    records: list[Record] = field(default_factory=list)
    injected: Counter[str] = field(default_factory=Counter)


class _Clock:
    """Source positions: cluster-time seconds and an increment, strictly increasing."""

    def __init__(self, start_ms: int) -> None:
        self.sec, self.ord = start_ms // 1000, 0

    def tick(self) -> tuple[int, int]:
        self.ord += 1
        if self.ord > 50:
            self.sec, self.ord = self.sec + 1, 1
        return self.sec * 1000, self.ord


def _envelope(
    db: str,
    coll: str,
    op: str,
    ts: tuple[int, int],
    *,
    after: dict[str, Any] | None = None,
    update: dict[str, Any] | None = None,
    unset: list[str] | None = None,
) -> dict[str, Any]:
    value: dict[str, Any] = {
        "op": op,
        "ts_ms": ts[0] + 7,
        "before": None,
        "after": json.dumps(after) if after is not None else None,
    }
    if update is not None or unset is not None:
        value["updateDescription"] = {
            "updatedFields": json.dumps(update) if update else None,
            "removedFields": unset or None,
            "truncatedArrays": None,
        }
    value["source"] = {
        "version": "2.7.3.Final",
        "connector": "mongodb",
        "name": "cdc",
        "ts_ms": ts[0],
        "snapshot": "false",
        "db": db,
        "collection": coll,
        "ord": ts[1],
    }
    return value


def generate(documents: int = 300, updates: int = 3, seed: int = 42, start_ms: int = 1_767_225_600_000) -> DemoStream:
    """``documents`` documents per collection, each with about ``updates`` changes, interleaved."""
    rnd = random.Random(seed)
    clock = _Clock(start_ms)
    out = DemoStream()
    ids: dict[str, list[str]] = {c: [] for c in COLLECTIONS}

    def emit(topic: str, key: bytes | None, value: bytes | None, kind: str) -> None:
        out.records.append(Record(topic, key, value, kind))
        out.injected[kind] += 1

    # per collection, a queue of per-document event lists; interleaved round-robin below
    lanes: list[list[tuple[str, bytes, dict, str]]] = []
    for coll, (db, factory, partial, invalid) in COLLECTIONS.items():
        topic = f"cdc.{db}.{coll}"
        for i in range(documents):
            _id = oid(rnd)
            ids[coll].append(_id)
            key = json.dumps({"id": json.dumps({"$oid": _id})}).encode()
            doc = {"_id": {"$oid": _id}, **factory(rnd, i, start_ms, ids)}
            lane: list[tuple[str, bytes, dict, str]] = [(topic, key, {"op": "c", "after": doc}, "insert")]
            for _ in range(rnd.randint(max(0, updates - 2), updates + 2)):
                roll = rnd.random()
                if roll < 0.6:
                    lane.append((topic, key, {"op": "u", "update": partial(rnd)}, "update"))
                elif roll < 0.85:
                    change = partial(rnd)
                    doc = {**doc, **change}
                    lane.append((topic, key, {"op": "u", "after": doc, "update": change}, "update"))
                else:
                    doc = {"_id": doc["_id"], **factory(rnd, i, start_ms, ids)}
                    lane.append((topic, key, {"op": "u", "after": doc}, "replace"))
            if rnd.random() < 0.01:
                lane.append((topic, key, {"op": "u", "update": invalid}, "invalid"))
            if rnd.random() < 0.05:
                lane.append((topic, key, {"op": "d"}, "delete"))
            lanes.append(lane)
    rnd.shuffle(lanes)
    cursors = [0] * len(lanes)
    live = list(range(len(lanes)))
    while live:
        li = rnd.choice(live)
        topic, key, spec, kind = lanes[li][cursors[li]]
        cursors[li] += 1
        if cursors[li] == len(lanes[li]):
            live.remove(li)
        db, coll = topic.split(".")[1:]
        ts = clock.tick()
        op = spec["op"]
        value = json.dumps(_envelope(db, coll, op, ts, after=spec.get("after"), update=spec.get("update"))).encode()
        if kind == "update" and cursors[li] < len(lanes[li]) and rnd.random() < 0.03:
            # reorder: the next change of this document overtakes this one, which then arrives stale
            t2, k2, s2, kind2 = lanes[li][cursors[li]]
            if kind2 in ("update", "replace"):
                cursors[li] += 1
                if cursors[li] == len(lanes[li]):
                    live.remove(li)
                v2 = json.dumps(
                    _envelope(db, coll, s2["op"], clock.tick(), after=s2.get("after"), update=s2.get("update"))
                ).encode()
                emit(t2, k2, v2, kind2)
                emit(topic, key, value, "reordered")
                continue
        emit(topic, key, value, kind)
        if op == "d":
            emit(topic, key, None, "tombstone")
        if rnd.random() < 0.03:
            emit(topic, key, value, "duplicate")
    topics = [f"cdc.{db}.{c}" for c, (db, *_rest) in COLLECTIONS.items()]
    for _ in range(max(2, documents // 100)):
        topic = rnd.choice(topics)
        emit(topic, b'{"id":"{\\"$oid\\": \\"0\\"}"}', b"\x00\x01garbage-not-json", "malformed")
        emit(topic, None, b'{"op":"c","after":"{\\"_id\\": ', "malformed")
    return out
