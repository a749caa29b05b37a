"""Property tests: the positions of two events of one key compare in source commit order.

For every format, hypothesis draws a history of one key: commits in commit order, each with one
or more changes of the key (a transaction), and source metadata assigned the way that source
assigns it (cluster times, LSNs, commit timestamps; transaction ids that are *not* in commit
order). For every pair of changes a before b:

* ``position(a) <= position(b)``: a later commit is never stale or a duplicate of an earlier one;
* ``position(a) == position(b)`` only where the format carries no tie-breaker: the same commit
  (no transaction metadata) or the same source timestamp. Those the pipeline tells apart by
  content (issue 10 §0), so equal must mean "the same commit" or "the same tick", nothing else;
* decoding a message again gives the same position (a redelivery is a duplicate).
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from streamproc.sources import Decoder

from ._support import dumps

DECODER = Decoder()
EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
SETTINGS = settings(max_examples=150, deadline=None, database=None)  # no example files in the tree

#: changes per commit, in commit order (several = one transaction touching the key repeatedly)
histories = st.lists(st.integers(min_value=1, max_value=3), min_size=2, max_size=8)


def check(events: list[tuple[int, int, bytes | None, bytes]], topic: str, tie: str) -> None:
    """``events``: (commit number, tick, key, value) in commit order. ``tie``: what an equal
    position may mean — ``"none"`` (never), ``"commit"`` (same commit) or ``"tick"`` (same tick)."""
    decoded = [DECODER.decode(topic, key, value) for _, _, key, value in events]
    positions = [ev.position for ev in decoded]  # type: ignore[union-attr]
    assert all(positions)
    for (_, _, key, value), pos in zip(events, positions, strict=True):
        assert DECODER.decode(topic, key, value).position == pos  # type: ignore[union-attr]
    for i in range(len(events)):
        for j in range(i + 1, len(events)):
            a, b = positions[i], positions[j]
            assert a <= b, (events[i][:2], events[j][:2], a, b)
            if a == b:
                assert tie != "none", (a, b)
                assert events[i][0] == events[j][0] if tie == "commit" else events[i][1] == events[j][1]


@st.composite
def cluster_times(draw: st.DrawFn, n: int) -> list[tuple[int, int]]:
    """``n`` strictly increasing BSON timestamps (seconds, increment), one per commit."""
    t, i, out = draw(st.integers(1_600_000_000, 1_700_000_000)), 1, []
    for _ in range(n):
        if draw(st.booleans()):
            i += draw(st.integers(1, 5))
        else:
            t, i = t + draw(st.integers(1, 100)), draw(st.integers(1, 5))
        out.append((t, i))
    return out


@SETTINGS
@given(histories, st.data(), st.booleans())
def test_debezium_mongodb(history: list[int], data: st.DataObject, metadata: bool) -> None:
    times = data.draw(cluster_times(len(history)))
    events, order = [], 0
    for c, (changes, (t, i)) in enumerate(zip(history, times, strict=True)):
        for _ in range(changes):
            order += data.draw(st.integers(1, 3))  # other keys' events of the transaction in between
            txn = {"id": f"{t}:{i}", "total_order": order, "data_collection_order": order} if metadata else None
            if changes == 1 and data.draw(st.booleans()):
                txn = None  # a write outside a transaction has no transaction block
            value = {
                "op": "u",
                "after": '{"_id": 7, "n": 1}',
                "source": {"connector": "mongodb", "ts_ms": t * 1000, "ord": i, "db": "d", "collection": "c"},
                "transaction": txn,
            }
            events.append((c, t, dumps({"id": "7"}), dumps(value)))
    check(events, "cdc.d.c", "none" if metadata else "commit")


@SETTINGS
@given(histories, st.data())
def test_debezium_mongodb_flat(history: list[int], data: st.DataObject) -> None:
    times = data.draw(cluster_times(len(history)))
    events = []
    for c, (changes, (t, i)) in enumerate(zip(history, times, strict=True)):
        for _ in range(changes):
            value = {"_id": 7, "n": c, "__op": "u", "__source_ts_ms": t * 1000, "__source_ord": i, "__collection": "c"}
            events.append((c, t, dumps({"id": "7"}), dumps(value)))
    check(events, "cdc.d.c", "commit")


@SETTINGS
@given(histories, st.data(), st.booleans())
def test_debezium_sql(history: list[int], data: st.DataObject, metadata: bool) -> None:
    lsn, events, order = data.draw(st.integers(1, 2**40)), [], 0
    for c, changes in enumerate(history):
        lsn += data.draw(st.integers(1, 10_000))  # row locks: the next writer logs after this commit
        for _ in range(changes):
            lsn += data.draw(st.integers(1, 500))
            order += 1
            source = {"connector": "postgresql", "lsn": lsn, "schema": "public", "table": "t", "txId": 900 - c}
            value: dict[str, Any] = {"op": "u", "after": {"id": 7, "n": c}, "source": source}
            if metadata:
                value["transaction"] = {"id": f"{900 - c}:{lsn}", "total_order": order, "data_collection_order": order}
            events.append((c, lsn, dumps({"id": 7}), dumps(value)))
    check(events, "pg.public.t", "none")


@SETTINGS
@given(histories, st.data(), st.booleans())
def test_debezium_sql_flat(history: list[int], data: st.DataObject, with_lsn: bool) -> None:
    lsn, ms, events = 1000, data.draw(st.integers(1_600_000_000_000, 1_700_000_000_000)), []
    for c, changes in enumerate(history):
        ms += data.draw(st.integers(0, 3))  # commits in the same millisecond happen
        for _ in range(changes):
            lsn += data.draw(st.integers(1, 500))
            value: dict[str, Any] = {"id": 7, "n": c, "__op": "u", "__source_ts_ms": ms, "__table": "t"}
            if with_lsn:
                value["__lsn"] = lsn
            events.append((c, ms, dumps({"id": 7}), dumps(value)))
    check(events, "pg.public.t", "none" if with_lsn else "tick")


@SETTINGS
@given(histories, st.data())
def test_mongo_kafka(history: list[int], data: st.DataObject) -> None:
    times = data.draw(cluster_times(len(history)))
    events = []
    for c, (changes, (t, i)) in enumerate(zip(history, times, strict=True)):
        for n in range(changes):
            token = data.draw(st.text("0123456789ABCDEF", min_size=20, max_size=40))  # resume tokens differ
            value = {
                "_id": {"_data": f"82{token}{n}"},
                "operationType": "update",
                "clusterTime": {"$timestamp": {"t": t, "i": i}},
                "ns": {"db": "d", "coll": "c"},
                "documentKey": {"_id": 7},
                "updateDescription": {"updatedFields": {"n": c}, "removedFields": []},
            }
            events.append((c, t, dumps({"_id": 7}), dumps(value)))
    check(events, "cdc.d.c", "commit")


@SETTINGS
@given(histories, st.data(), st.booleans())
def test_dms(history: list[int], data: st.DataObject, seconds_only: bool) -> None:
    """Transaction ids are drawn at random: they follow first writes, not commits."""
    when = datetime(2020, 5, 30, tzinfo=UTC) + timedelta(microseconds=data.draw(st.integers(0, 10**12)))
    base = {"record-type": "data", "partition-key-type": "primary-key", "schema-name": "s", "table-name": "t"}
    load = {**base, "operation": "load", "timestamp": "2020-05-29T23:00:00.000001Z"}
    events = [(-1, -1, None, dumps({"data": {"id": 7, "n": -1}, "metadata": load}))]
    for c, changes in enumerate(history):
        if seconds_only:  # MySQL's commit timestamps have whole seconds
            when += timedelta(seconds=data.draw(st.integers(0, 2)))
        else:
            when += timedelta(microseconds=data.draw(st.integers(0, 3)))
        stamp = when.replace(microsecond=0) if seconds_only else when
        txid = data.draw(st.integers(1, 2**40))
        for r in range(changes):
            md = {
                **base,
                "operation": "update",
                "timestamp": (stamp + timedelta(seconds=5)).strftime("%Y-%m-%dT%H:%M:%S.%fZ"),
                "transaction-id": txid,
                "transaction-record-id": r + 1,
                "commit-timestamp": stamp.strftime("%Y-%m-%dT%H:%M:%S.%fZ"),
            }
            tick = (stamp - EPOCH) // timedelta(microseconds=1)
            events.append((c, tick, None, dumps({"data": {"id": 7, "n": c}, "metadata": md})))
    check(events, "dms.s.t", "tick")
