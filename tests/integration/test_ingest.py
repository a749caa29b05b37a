"""One real worker on a real broker ingests a realistic change stream (generated Debezium MongoDB
for users/owners/reservations + hand-built Debezium PostgreSQL orders, with duplicates,
reorderings, tombstones, malformed records and rule violations) and agrees event for event with
the offline dry-run pipeline; the DLQ, metrics and health endpoints tell an operator what
happened."""

from __future__ import annotations

import json
import uuid
from collections import Counter

import pytest

from streamproc.dev.demo.generator import generate
from streamproc.pipeline.origin import ORIGIN_HEADER, parse_origin
from streamproc.pipeline.processor import Emit

from .workers import (
    WorkerProcess,
    clean_by_key,
    metric_total,
    produce,
    read_topic,
    run_offline,
    unique_config,
)

pytestmark = pytest.mark.integration

ENTITIES = ("users", "owners", "reservations", "orders")
PLACEHOLDER = "__debezium_unavailable_value"


def pg(topic: str, op: str, lsn: int, row_id: int | None, *, after=None, before=None) -> tuple:
    value = {
        "before": before,
        "after": after,
        "op": op,
        "ts_ms": 1_767_225_600_500 + lsn,
        "source": {
            "version": "2.7.3.Final",
            "connector": "postgresql",
            "name": "pg",
            "ts_ms": 1_767_225_600_000 + lsn,
            "snapshot": "false",
            "db": "shop",
            "schema": "public",
            "table": "orders",
            "lsn": lsn,
            "txId": 700 + lsn,
        },
        "transaction": None,
    }
    key = json.dumps({"id": row_id}).encode() if row_id is not None else None
    return (topic, key, json.dumps(value).encode())


def build_stream(topics: dict[str, str]) -> list[tuple]:
    generated = generate(documents=40, updates=3, seed=11)
    records: list[tuple] = []
    for r in generated.records:
        if r.topic in topics:
            records.append((topics[r.topic], r.key, r.value))
    users, orders = topics["cdc.Facilitron_common.users"], topics["pg.public.orders"]
    first_users = next(r for r in records if r[0] == users)
    row = {
        "id": 1,
        "customer_email": "Buyer.One@Shop.example",
        "status": "pending",
        "total": "19.90",
        "currency": "usd",
        "notes": "x" * 500,
        "created_at": 1_767_225_600_000_000,
    }
    records += [
        # PostgreSQL: insert, full update, TOAST update (unchanged large column), delete + tombstone
        pg(orders, "c", 100, 1, after=row),
        pg(orders, "u", 110, 1, after={**row, "status": "paid"}),
        pg(orders, "u", 120, 1, after={**row, "status": "shipped", "notes": PLACEHOLDER}),
        pg(orders, "c", 130, 2, after={**row, "id": 2, "customer_email": "two@shop.example"}),
        pg(orders, "d", 140, 2, before={"id": 2}),
        (orders, json.dumps({"id": 2}).encode(), None),
        pg(orders, "u", 110, 1, after={**row, "status": "paid"}),  # an older change redelivered: stale
        pg(orders, "u", 120, 1, after={**row, "status": "shipped", "notes": PLACEHOLDER}),  # duplicate
        pg(orders, "t", 150, None),  # truncate: not in the operations → filtered
        pg(orders, "c", 160, 3, after={**row, "id": 3, "status": "lost-in-space"}),  # rule violation
        # poison, with headers that must reach the DLQ byte for byte
        (
            orders,
            b'{"id": 9}',
            b"\x00\x00\x00\x00\x07avro-without-registry",
            [("trace-id", b"t-123"), ("binary", b"\x00\xff\x10")],
        ),
        (users, first_users[1], b'{"op":"c","after":"{\\"_id\\": ', [("trace-id", b"t-456")]),
        (users, first_users[1], b""),  # zero-byte value: not a tombstone, poison
        # a change of another collection on the users topic: not routed to any source
        (users, first_users[1], first_users[2].replace(b'"collection": "users"', b'"collection": "sessions"')),
        # redelivery of an old record at the end of the stream: stale
        first_users,
    ]
    return records


@pytest.fixture(scope="module")
def ingest(kafka_bootstrap: str, tmp_path_factory: pytest.TempPathFactory):
    work = tmp_path_factory.mktemp("ingest")
    uniq = f"it{uuid.uuid4().hex[:10]}"
    topics = unique_config(work / "pipelines.yaml", ENTITIES, uniq)
    records = build_stream(topics)
    worker = WorkerProcess(kafka_bootstrap, work / "data", work / "pipelines.yaml")
    offline = run_offline(records, work / "pipelines.yaml", worker.topic_prefix)
    worker.start()
    try:
        worker.wait_ready()
        produce(kafka_bootstrap, records)
        worker.wait_processed(len(records), timeout=120)
        yield worker, records, offline, topics
    finally:
        worker.stop()


def test_offline_expectation_covers_every_fault(ingest) -> None:
    """The stream exercises what the other tests assert on (so they cannot pass vacuously)."""
    _w, records, offline, _t = ingest
    assert offline.dropped("duplicate") >= 2
    assert offline.dropped("stale") >= 2
    classes = Counter(o.error_class for _r, o in offline.dead_letters())
    assert classes["poison"] == 3 and classes["invalid"] >= 1
    assert {e.entity for e in offline.emits()} == set(ENTITIES)
    assert any(
        json.loads(e.value)["complete"] and json.loads(e.value)["update"]
        for e in offline.emits()
        if e.entity == "orders"
    )


def test_each_clean_event_names_the_raw_record_it_came_from(ingest, kafka_bootstrap: str) -> None:
    """``streamproc.origin`` (which the aggregations tell copies by) names the consumed record:
    read back from the broker, the raw record there is one whose offline run emits this event."""
    worker, records, offline, _t = ingest
    emitted: dict[tuple[str, bytes | None], set[bytes]] = {}
    for rec, outcome in zip(offline.records, offline.outcomes, strict=True):
        if type(outcome) is Emit:
            emitted.setdefault((rec[0], rec[2]), set()).add(outcome.value)
    raw = {
        (m.topic(), m.partition(), m.offset()): m.value()
        for topic in {r[0] for r in records}
        for m in read_topic(kafka_bootstrap, topic)
    }
    checked = 0
    for entity in ENTITIES:
        for m in read_topic(kafka_bootstrap, f"{worker.topic_prefix}.events.{entity}"):
            origin = parse_origin(m.headers())
            assert origin is not None, entity
            topic, part = origin.stream.decode().rsplit(":", 1)
            value = raw[(topic, int(part), origin.offset)]
            assert m.value() in emitted[(topic, value)], f"{entity}: the origin names another record"
            checked += 1
    assert checked == len(offline.emits())


def test_clean_topics_match_dry_run_event_for_event(ingest, kafka_bootstrap: str) -> None:
    worker, _records, offline, _t = ingest
    expected = offline.by_key()
    for entity in ENTITIES:
        topic = f"{worker.topic_prefix}.events.{entity}"
        messages = read_topic(kafka_bootstrap, topic)
        want = {k: v for k, v in expected.items() if k[0] == topic}
        assert len(messages) == sum(len(v) for v in want.values()), entity
        got = clean_by_key(messages)
        assert got.keys() == want.keys(), entity
        for key in want:
            # the worker adds the origin (dry-run consumes no topic): checked below
            seen = [(v, [h for h in hs if h[0] != ORIGIN_HEADER]) for v, hs in got[key]]
            assert seen == want[key], f"{entity} key {key[1]!r}: worker and dry-run differ"
        for m in messages:  # keyed by the JSON entity key, which is also in the value
            value = json.loads(m.value())
            assert json.loads(m.key()) == value["key"]
            headers = dict(m.headers())
            assert headers["op"].decode() == value["op"] and headers["entity"].decode() == entity
            assert json.loads(headers["source_position"]) == value["position"]


def test_toast_update_on_the_clean_topic_keeps_the_stored_column(ingest, kafka_bootstrap: str) -> None:
    worker, *_ = ingest
    events = [json.loads(m.value()) for m in read_topic(kafka_bootstrap, f"{worker.topic_prefix}.events.orders")]
    row1 = [e for e in events if e["key"] == {"id": 1}]
    assert [e["after"]["status"] for e in row1] == ["pending", "paid", "shipped"]
    assert row1[-1]["after"]["notes"] == "x" * 500 and row1[-1]["complete"] is True
    assert row1[-1]["after"]["customer_email"].startswith("tok_")
    assert row1[-1]["after"]["created_at"].endswith("Z")
    deleted = [e for e in events if e["key"] == {"id": 2}]
    assert [e["op"] for e in deleted] == ["insert", "delete"]


def test_dlq_holds_the_original_records_with_connect_headers(ingest, kafka_bootstrap: str) -> None:
    worker, _records, offline, topics = ingest
    dlq = read_topic(kafka_bootstrap, f"{worker.topic_prefix}.dlq")
    expected = offline.dead_letters()
    assert len(dlq) == len(expected)
    sources = {}
    for topic in set(topics.values()):
        for m in read_topic(kafka_bootstrap, topic):
            sources[(m.topic(), m.partition(), m.offset())] = m
    want = Counter(
        (rec[0], rec[1], rec[2], tuple(rec[3]) if len(rec) > 3 else (), dl.error_class, dl.reason, dl.stage.upper())
        for rec, dl in expected
    )
    got = Counter()
    for m in dlq:
        headers = list(m.headers() or [])
        h = dict(headers)
        original = [
            (k, v) for k, v in headers if not k.startswith("__connect.errors.") and k != "streamproc.error.class"
        ]
        src = sources[
            (
                h["__connect.errors.topic"].decode(),
                int(h["__connect.errors.partition"]),
                int(h["__connect.errors.offset"]),
            )
        ]
        # byte for byte the record at the named topic/partition/offset
        assert m.key() == src.key() and m.value() == src.value()
        assert original == list(src.headers() or [])
        assert h["__connect.errors.connector.name"].decode() == worker.app_id
        assert h["__connect.errors.exception.class.name"].decode().startswith("streamproc.errors.")
        got[
            (
                h["__connect.errors.topic"].decode(),
                m.key(),
                m.value(),
                tuple(original),
                h["streamproc.error.class"].decode(),
                h["__connect.errors.exception.message"].decode(),
                h["__connect.errors.stage"].decode(),
            )
        ] += 1
    assert got == want


def test_metrics_count_what_happened(ingest) -> None:
    worker, records, offline, topics = ingest
    s = worker.samples()
    assert metric_total(s, "streamproc_events_in_total") == len(records)
    for topic in set(topics.values()):
        assert metric_total(s, "streamproc_events_in_total", topic=topic) == sum(r[0] == topic for r in records)
    for entity in ENTITIES:
        for reason in ("duplicate", "stale"):
            assert metric_total(s, "streamproc_events_dropped_total", entity=entity, reason=reason) == offline.dropped(
                reason, entity
            ), (entity, reason)
        assert metric_total(s, "streamproc_events_out_total", entity=entity) == sum(
            1 for e in offline.emits() if e.entity == entity
        )
    assert metric_total(s, "streamproc_events_dropped_total", reason="duplicate") >= 2
    assert metric_total(s, "streamproc_events_dropped_total", reason="stale") >= 2
    assert metric_total(s, "streamproc_events_dropped_total", entity="orders", reason="operation") == 1
    assert metric_total(s, "streamproc_events_dropped_total", reason="unrouted") == 1
    assert metric_total(s, "streamproc_events_skipped_total", reason="tombstone") == sum(
        1 for r in records if r[2] is None
    )
    dl = Counter((rec[0], o.error_class) for rec, o in offline.dead_letters())
    for (topic, cls), n in dl.items():
        assert metric_total(s, "streamproc_events_dlq_total", topic=topic, error_class=cls) == n
    assert metric_total(s, "streamproc_end_to_end_latency_seconds_count") == len(offline.emits())


def test_health_endpoints(ingest) -> None:
    worker, *_ = ingest
    live, ready = worker.get("/livez"), worker.get("/readyz")
    assert live.status_code == 200 and live.json() == {"status": "ok"}
    assert ready.status_code == 200 and ready.json() == {"ready": True}
    assert worker.get("/metrics").headers["content-type"].startswith("text/plain")


def test_dlq_log_lines_name_position_not_payload(ingest) -> None:
    worker, records, offline, _t = ingest
    log = worker.log()
    lines = [line for line in log.splitlines() if "DLQ:" in line]
    assert len(lines) == len(offline.dead_letters())
    assert "lost-in-space" not in log and "avro-without-registry" not in log
    assert "Buyer.One" not in log and "buyer.one" not in log


def test_clean_restart_keeps_the_state(ingest, kafka_bootstrap: str) -> None:
    """Stop the worker, start it again on the same state: old records stay dropped, and a new
    partial update is merged into the document stored before the restart. (Runs last: it
    replaces the module's worker.)"""
    worker, records, offline, topics = ingest
    worker.stop()
    assert worker.proc.returncode == 0, worker.log()[-3000:]
    again = WorkerProcess(
        kafka_bootstrap,
        worker.datadir,
        worker.config,
        app_id=worker.app_id,
        topic_prefix=worker.topic_prefix,
        log_path=worker.datadir.parent / "restarted.log",
    )
    users = topics["cdc.Facilitron_common.users"]
    last = {}
    for e in offline.emits():
        if e.entity == "users":
            last[e.key] = json.loads(e.value)
    key, final = next((k, v) for k, v in last.items() if v["op"] != "delete" and v["after"])
    raw_key = next(
        r[1] for r, o in zip(offline.records, offline.outcomes, strict=True) if getattr(o, "key", None) == key
    )
    update = {
        "op": "u",
        "ts_ms": 1_800_000_000_100,
        "before": None,
        "after": None,
        "updateDescription": {
            "updatedFields": json.dumps({"role": "admin"}),
            "removedFields": None,
            "truncatedArrays": None,
        },
        "source": {
            "connector": "mongodb",
            "ts_ms": 1_800_000_000_000,
            "db": "Facilitron_common",
            "collection": "users",
            "ord": 1,
            "snapshot": "false",
        },
    }
    clean_topic = f"{worker.topic_prefix}.events.users"
    before_count = len(read_topic(kafka_bootstrap, clean_topic))
    again.start()
    try:
        again.wait_ready()
        old = next(r for r in records if r[0] == users)
        produce(kafka_bootstrap, [old, (users, raw_key, json.dumps(update).encode())])
        again.wait_processed(2)
        assert again.total("streamproc_events_dropped_total", entity="users") == 1
        messages = read_topic(kafka_bootstrap, clean_topic)
        assert len(messages) == before_count + 1
        event = json.loads(next(m.value() for m in reversed(messages) if m.key() == key))
        assert event["complete"] is True
        assert event["after"] == {**final["after"], "role": "admin"}
    finally:
        again.stop()
