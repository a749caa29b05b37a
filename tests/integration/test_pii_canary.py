"""PII never leaves the raw topics: distinct canary values in every redacted field of users and
owners (inserts, dotted/array/element partial updates, full updates, delete pre-images) go
through a real worker, and no canary appears on any clean topic (key, value, headers), in the
worker's log (debug level), in /metrics, in the state changelog topics or in the state files.
The redacted forms are asserted too, so the test fails if redaction were skipped entirely.

The DLQ keeps raw bytes by design (it is as sensitive as the raw topics): the canaries of the
two records deliberately sent invalid/poison are asserted to be there, and only there."""

from __future__ import annotations

import json
import random
import re
import uuid
from datetime import UTC, datetime
from pathlib import Path

import pytest

from .workers import WorkerProcess, list_topics, produce, read_topic, unique_config

pytestmark = pytest.mark.integration

ENTITIES = ("users", "owners")
BASE_MS = 1_767_225_600_000
EMAIL_MASK = re.compile(r"^c\*+@c\*+\.test$")
OTHER_MASK = re.compile(r"^\*+[0-9a-f]{2}$")
HASH = re.compile(r"^hmac-sha256:[0-9a-f]{8}:[0-9a-f]{64}$")  # key id, then the HMAC


class Canaries:
    """Hands out distinct canary values and remembers every secret token to scan for."""

    def __init__(self, seed: int) -> None:
        self.rnd = random.Random(seed)
        self.tokens: set[str] = set()
        self.derived: set[str] = set()  # forms only the pipeline could produce (ISO dates)

    def tag(self) -> str:
        t = uuid.uuid4().hex[:12]
        self.tokens.add(t)
        return t

    def email(self, what: str) -> str:
        return f"canary-{what}-{self.tag()}@canary.test"

    def text(self, what: str) -> str:
        return f"CANARY-{what}-{self.tag()}"  # ≤ 32 characters: passes the phone rules

    def date(self) -> dict:
        ms = self.rnd.randint(-1_000_000_000_000, 600_000_000_000)
        iso = datetime.fromtimestamp(ms / 1000, tz=UTC).strftime("%Y-%m-%dT%H:%M:%S.") + f"{ms % 1000:03d}"
        self.tokens.update({str(ms), iso})
        self.derived.add(iso)
        return {"$date": ms}

    def person(self, email: str | None = None) -> dict:
        return {
            "email": email or self.email("email"),
            "phone": self.text("ph"),
            "lastName": self.text("ln"),
            "ssn": self.text("ssn"),
            "taxId": self.text("tax"),
            "password": self.text("pw"),
            "passwordHash": self.text("pwh"),
            "dateOfBirth": self.date(),
            "phones": [{"type": "mobile", "number": self.text("pn")}],
            "contacts": [{"name": "Bob", "email": self.email("ce"), "phone": self.text("cp")}],
        }

    def dotted_update(self) -> dict:
        return {
            "email": self.email("email2"),
            "phone": self.text("ph2"),
            "lastName": self.text("ln2"),
            "ssn": self.text("ssn2"),
            "taxId": self.text("tax2"),
            "password": self.text("pw2"),
            "passwordHash": self.text("pwh2"),
            "dateOfBirth": self.date(),
            "phones.0.number": self.text("pn2"),
            "contacts.0.email": self.email("ce2"),
            "contacts.0.phone": self.text("cp2"),
        }

    def shape_update(self) -> dict:
        return {
            "phones": [{"type": "home", "number": self.text("pn3")}, {"type": "work", "number": self.text("pn4")}],
            "contacts.1": {"name": "Eve", "email": self.email("ce3"), "phone": self.text("cp3")},
            "contacts.0": {"name": "Bob", "email": self.email("ce4"), "phone": self.text("cp4")},
        }


def envelope(coll: str, op: str, ord_: int, oid: str, *, after=None, before=None, update=None) -> bytes:
    value = {
        "op": op,
        "ts_ms": BASE_MS + 7,
        "before": json.dumps(before) if before else None,
        "after": json.dumps(after) if after else None,
        "source": {
            "version": "2.7.3.Final",
            "connector": "mongodb",
            "name": "cdc",
            "ts_ms": BASE_MS,
            "snapshot": "false",
            "db": "Facilitron_common",
            "collection": coll,
            "ord": ord_,
        },
    }
    if update is not None:
        value["updateDescription"] = {
            "updatedFields": json.dumps(update),
            "removedFields": None,
            "truncatedArrays": None,
        }
    return json.dumps(value).encode()


def build(topics: dict[str, str], c: Canaries, docs: int = 12) -> tuple[list[tuple], list[bytes]]:
    records: list[tuple] = []
    ord_ = 0

    def nxt() -> int:
        nonlocal ord_
        ord_ += 1
        return ord_

    for coll in ENTITIES:
        topic = topics[f"cdc.Facilitron_common.{coll}"]
        for i in range(docs):
            oid = f"{c.rnd.getrandbits(96):024x}"
            key = json.dumps({"id": json.dumps({"$oid": oid})}).encode()
            base = {"_id": {"$oid": oid}, "firstName": "Ada", "status": "active", "createdAt": {"$date": BASE_MS}}
            if coll == "owners":
                base.update(name=f"District {i}", type="school_district", timezone="America/Chicago")
            doc = {**base, **c.person()}
            records.append((topic, key, envelope(coll, "c", nxt(), oid, after=doc)))
            records.append((topic, key, envelope(coll, "u", nxt(), oid, update=c.dotted_update())))
            records.append((topic, key, envelope(coll, "u", nxt(), oid, update=c.shape_update())))
            full = {**base, **c.person()}
            records.append((topic, key, envelope(coll, "u", nxt(), oid, after=full, update={"email": full["email"]})))
            if i % 3 == 0:
                records.append((topic, key, envelope(coll, "d", nxt(), oid, before=full)))
                records.append((topic, key, None))
    # deliberately bad records carrying canaries: they go to the DLQ, raw, by design
    users = topics["cdc.Facilitron_common.users"]
    bad_oid = f"{c.rnd.getrandbits(96):024x}"
    # no key field anywhere: a structural error, to the DLQ whatever the rules' severity (the
    # shipped business rules of users only warn: a bad email alone is emitted, redacted)
    invalid = c.person(email=c.text("bad"))
    dlq_values = [envelope("users", "c", nxt(), bad_oid, after=invalid), b"\x01not-json " + c.text("poison").encode()]
    bad_key = json.dumps({"id": json.dumps({"$oid": bad_oid})}).encode()
    records += [(users, None, dlq_values[0]), (users, bad_key, dlq_values[1])]
    return records, dlq_values


def leaks(blob: bytes | str | None, tokens: set[str]) -> list[str]:
    if not blob:
        return []
    text = (blob.decode("utf-8", "replace") if isinstance(blob, bytes) else blob).lower()
    found = [t for t in tokens if t.lower() in text]
    if "canary" in text:
        found.append("canary")
    return found


def message_leaks(messages, tokens: set[str]) -> list[str]:
    out = []
    for m in messages:
        for part in (m.key(), m.value(), *(k.encode() + b"=" + (v or b"") for k, v in (m.headers() or []))):
            out += leaks(part, tokens)
    return out


@pytest.fixture(scope="module")
def canary_run(kafka_bootstrap: str, tmp_path_factory: pytest.TempPathFactory):
    work = tmp_path_factory.mktemp("redaction")
    uniq = f"it{uuid.uuid4().hex[:10]}"
    topics = unique_config(work / "pipelines.yaml", ENTITIES, uniq)
    c = Canaries(seed=uuid.uuid4().int & 0xFFFF)
    records, dlq_values = build(topics, c)
    worker = WorkerProcess(kafka_bootstrap, work / "data", work / "pipelines.yaml", loglevel="debug")
    worker.start()
    try:
        worker.wait_ready()
        produce(kafka_bootstrap, records)
        worker.wait_processed(len(records), timeout=120)
        metrics_text = worker.metrics()
    finally:
        worker.stop()  # the log is complete and the state files are closed
    yield worker, c, records, dlq_values, metrics_text, topics


def test_clean_topics_carry_no_canary_but_redacted_values(canary_run, kafka_bootstrap: str) -> None:
    worker, c, records, _dlq, _m, _t = canary_run
    clean_topics = [t for t in list_topics(kafka_bootstrap) if t.startswith(f"{worker.topic_prefix}.events.")]
    assert sorted(clean_topics) == sorted(f"{worker.topic_prefix}.events.{e}" for e in ENTITIES)
    events = []
    for topic in clean_topics:
        messages = read_topic(kafka_bootstrap, topic)
        assert message_leaks(messages, c.tokens) == [], topic
        events += [json.loads(m.value()) for m in messages]
    per_entity_docs = 12
    assert len(events) == len(ENTITIES) * per_entity_docs * 4 + 2 * 4  # 4 changes per doc, deletes of docs 0,3,6,9

    def check_person(doc: dict) -> None:
        assert EMAIL_MASK.match(doc["email"]), doc["email"]
        assert OTHER_MASK.match(doc["phone"]) and OTHER_MASK.match(doc["lastName"])
        assert HASH.match(doc["dateOfBirth"])
        for gone in ("ssn", "taxId", "password", "passwordHash"):
            assert gone not in doc
        for p in doc["phones"]:
            assert OTHER_MASK.match(p["number"])
        for contact in doc["contacts"]:
            assert EMAIL_MASK.match(contact["email"]) and OTHER_MASK.match(contact["phone"])

    by_op: dict[str, list[dict]] = {}
    for e in events:
        by_op.setdefault(e["op"], []).append(e)
    for e in by_op["insert"]:
        check_person(e["after"])
    for e in by_op["update"]:
        assert e["complete"] is True
        check_person(e["after"])
        check_person(e["before"])
        for path, value in e["update"]["set"].items():
            assert not path.startswith(("ssn", "taxId", "password"))
            if path in ("email", "contacts.0.email"):
                assert EMAIL_MASK.match(value)
            if path == "dateOfBirth":
                assert HASH.match(value)
    for e in by_op["delete"]:
        check_person(e["before"])
    assert len(by_op["delete"]) == 8
    # merged partial updates: the second contact added by an element update is masked too
    shaped = [e for e in by_op["update"] if "contacts.1" in e["update"]["set"]]
    assert len(shaped) == 24 and all(len(e["after"]["contacts"]) == 2 for e in shaped)


def test_every_canary_was_sent_and_is_detectable_on_the_raw_topics(canary_run, kafka_bootstrap: str) -> None:
    """Control for the scans below: the raw change topics do hold every canary."""
    _w, c, records, _dlq, _m, topics = canary_run
    raw = [m for t in topics.values() for m in read_topic(kafka_bootstrap, t)]
    assert len(raw) == len(records)
    assert set(message_leaks(raw, c.tokens)) == (c.tokens - c.derived) | {"canary"}


def test_worker_log_has_no_canary(canary_run) -> None:
    worker, c, *_ = canary_run
    log = worker.log()
    assert "[DEBUG]" in log, "the worker did not log at debug level"
    assert "DLQ:" in log  # the bad records were logged — by position and reason only
    assert leaks(log, c.tokens) == []


def test_metrics_have_no_canary(canary_run) -> None:
    _w, c, records, _dlq, metrics_text, _t = canary_run
    assert "streamproc_events_out_total" in metrics_text
    assert leaks(metrics_text, c.tokens) == []


def test_state_changelogs_and_files_have_no_canary(canary_run, kafka_bootstrap: str) -> None:
    worker, c, _records, _dlq, _m, topics = canary_run
    changelogs = [f"{worker.app_id}-state-{t}-changelog" for t in topics.values()]
    existing = list_topics(kafka_bootstrap)
    total = 0
    for topic in changelogs:
        assert topic in existing
        messages = read_topic(kafka_bootstrap, topic)
        total += len(messages)
        assert message_leaks(messages, c.tokens) == [], topic
    assert total > 0, "no state was written to the changelogs"
    files = [p for p in Path(worker.datadir).rglob("*") if p.is_file()]
    assert files, "the worker wrote no state files"
    blobs = {path: path.read_bytes() for path in files}
    # the stored documents are readable in the files (so a canary there would be found)
    assert any(b"hmac-sha256:" in blob for blob in blobs.values())
    for path, blob in blobs.items():
        assert leaks(blob, c.tokens) == [], path


def test_dlq_holds_raw_bytes_of_the_bad_records_only(canary_run, kafka_bootstrap: str) -> None:
    worker, c, _records, dlq_values, _m, _t = canary_run
    dlq = read_topic(kafka_bootstrap, f"{worker.topic_prefix}.dlq")
    assert sorted(m.value() for m in dlq) == sorted(dlq_values)
    assert {dict(m.headers())["streamproc.error.class"] for m in dlq} == {b"invalid", b"poison"}
    for m in dlq:
        assert b"CANARY-" in m.value()  # raw, as sensitive as the source topic
        message = dict(m.headers())["__connect.errors.exception.message"]
        assert leaks(message, c.tokens) == [] and b"canary" not in message.lower()
