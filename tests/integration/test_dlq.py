"""``streamproc dlq`` on the real broker against a real ingest worker: a record rejected by a rule
goes to the DLQ; ``dlq inspect`` lists it without its payload (and with it only under
``--show-payload``, after the warning); the rule is fixed in the config, the worker restarted,
``dlq replay --execute`` re-injects the record through ``<prefix>.retry`` and its clean event
appears at the record's original position, while a record whose key has a later applied change is
reported stale; a poison record fails on every attempt, returns to the DLQ with its attempt count,
and is refused at the maximum."""

from __future__ import annotations

import json
import uuid
from pathlib import Path

import pytest
import yaml

from tests.integration.ops import audit_records, cli, cli_json
from tests.integration.workers import (
    WorkerProcess,
    committed_lag,
    end_offsets,
    produce,
    read_topic,
    unique_config,
    wait_for,
)

pytestmark = [pytest.mark.integration, pytest.mark.timeout(600)]

SECRET_EMAIL = "grace.hopper.canary@example.com"  # PII: must never appear without --show-payload


def user(oid: str, status: str, sec: int, ord_: int) -> tuple[bytes, bytes]:
    doc = {"_id": {"$oid": oid}, "email": SECRET_EMAIL, "firstName": "Grace", "status": status}
    value = {
        "op": "c",
        "ts_ms": sec * 1000 + 7,
        "before": None,
        "after": json.dumps(doc),
        "source": {
            "version": "2.7.3.Final",
            "connector": "mongodb",
            "name": "cdc",
            "ts_ms": sec * 1000,
            "snapshot": "false",
            "db": "Facilitron_common",
            "collection": "users",
            "ord": ord_,
        },
    }
    return json.dumps({"id": json.dumps({"$oid": oid})}).encode(), json.dumps(value).encode()


def strict_users(config: Path) -> None:
    """The users' rules dead-letter: the shipped config lets them warn (``on_invalid: emit``)."""
    cfg = yaml.safe_load(config.read_text())
    cfg["sources"][0]["on_invalid"] = "dlq"
    config.write_text(yaml.safe_dump(cfg, sort_keys=False))


def allow_status(config: Path, status: str) -> None:
    """The fix: ``status`` joins the users' status enum."""
    cfg = yaml.safe_load(config.read_text())
    for rule in cfg["sources"][0]["validate"]:
        if rule["field"] == "status":
            rule["enum"].append(status)
    config.write_text(yaml.safe_dump(cfg, sort_keys=False))


@pytest.fixture(scope="module")
def dlq_run(kafka_bootstrap: str, tmp_path_factory: pytest.TempPathFactory):
    work = tmp_path_factory.mktemp("dlq")
    config = work / "p.yaml"
    topic = unique_config(config, ("users",), f"it{uuid.uuid4().hex[:8]}")["cdc.Facilitron_common.users"]
    strict_users(config)
    a, b, c = (uuid.uuid4().hex[:24] for _ in range(3))
    records = [
        (topic, *user(a, "vip", 1_800_000_000, 1)),  # invalid today; valid after the fix → emitted
        (topic, *user(b, "vip", 1_800_000_000, 2)),  # invalid today; a later change of b is applied → stale
        (topic, *user(b, "active", 1_800_000_001, 1)),
        (topic, *user(c, "active", 1_800_000_001, 2)),
        (topic, b'{"id": "poison"}', b"{not json at all"),  # poison: fails on every attempt
    ]
    produce(kafka_bootstrap, records)
    ends = end_offsets(kafka_bootstrap, [topic])
    worker = WorkerProcess(kafka_bootstrap, work / "data", config, log_path=work / "w1.log").start()
    try:
        worker.wait_ready()
        wait_for(lambda: committed_lag(kafka_bootstrap, worker.app_id, ends) == 0, 180, 1.0, "all committed")
        wait_for(lambda: len(read_topic(kafka_bootstrap, f"{worker.topic_prefix}.dlq")) == 3, 60, 1.0, "3 in DLQ")
    finally:
        worker.stop()
    yield {"worker": worker, "config": config, "topic": topic, "keys": (a, b, c), "work": work}


def test_inspect_lists_records_and_summary_without_payload(dlq_run) -> None:
    w = dlq_run["worker"]
    done = cli(w, "dlq", "inspect")
    assert done.returncode == 0, done.stderr
    lines = [ln for ln in done.stdout.splitlines() if ln.startswith("dlq ")]
    assert len(lines) == 3
    assert sum(f"from {dlq_run['topic']}[" in ln for ln in lines) == 3
    assert sum(" invalid " in ln for ln in lines) == 2 and sum(" poison " in ln for ln in lines) == 1
    assert "3 of 3 DLQ records selected" in done.stdout
    assert SECRET_EMAIL not in done.stdout + done.stderr and "Grace" not in done.stdout + done.stderr
    as_json = cli_json(w, "dlq", "inspect", "--error-class", "invalid")
    assert as_json["selected"] == 2 and as_json["total"] == 3
    assert {r["stage"] for r in as_json["records"]} == {"VALIDATE"}
    assert [s["count"] for s in as_json["summary"]] == [2]
    assert SECRET_EMAIL not in json.dumps(as_json)
    # an invalid record holds the canary; which DLQ partition sorts first depends on the random keys
    shown = cli(w, "dlq", "inspect", "--error-class", "invalid", "--limit", "1", "--show-payload")
    assert "UNREDACTED" in shown.stderr
    assert SECRET_EMAIL in shown.stdout


def test_fixed_config_then_replay_emits_the_event_and_reports_the_stale_one(dlq_run) -> None:
    w = dlq_run["worker"]
    a, b, _ = dlq_run["keys"]
    preview = cli_json(w, "dlq", "replay", "--error-class", "invalid")
    assert [r["refused"] for r in preview["records"]] == [None, None] and not preview["execute"]
    assert read_topic(w.bootstrap, f"{w.topic_prefix}.retry") == []  # the preview sent nothing
    allow_status(dlq_run["config"], "vip")
    w.log_path = dlq_run["work"] / "w2.log"
    w.start()
    w.wait_ready()
    done = cli_json(w, "dlq", "replay", "--error-class", "invalid", "--execute", "--wait", "120")
    outcomes = {r["source"]: r.get("outcome") for r in done["records"]}
    assert sorted(outcomes.values()) == ["emitted", "stale"], done
    retried = read_topic(w.bootstrap, f"{w.topic_prefix}.retry")
    assert len(retried) == 2
    assert {dict(m.headers())["streamproc.dlq.attempt"] for m in retried} == {b"1"}
    assert {dict(m.headers())["streamproc.dlq.source"].decode() for m in retried} == set(outcomes)
    clean = read_topic(w.bootstrap, f"{w.topic_prefix}.events.users")
    emitted_a = [m for m in clean if a.encode() in m.key()]
    assert len(emitted_a) == 1
    assert json.loads(emitted_a[0].value())["position"][:2] == [1_800_000_000_000, 1]  # its original position
    assert len([m for m in clean if b.encode() in m.key()]) == 1  # b: only its later change
    inspect = cli_json(w, "dlq", "inspect", "--error-class", "invalid")
    assert sorted(r["retried"] for r in inspect["records"]) == ["emitted", "stale"]
    audits = audit_records(w.bootstrap, w.topic_prefix, "dlq replay")
    assert audits and len(audits[-1]["injected"]) == 2 and audits[-1]["who"]["host"]


def test_a_record_failing_again_returns_with_its_attempt_and_is_refused_at_the_limit(dlq_run) -> None:
    w = dlq_run["worker"]
    if w.proc is None or w.proc.poll() is not None:
        w.log_path = dlq_run["work"] / "w3.log"
        w.start()
        w.wait_ready()
    for attempt in (1, 2, 3):
        done = cli_json(w, "dlq", "replay", "--error-class", "poison", "--execute", "--wait", "120")
        injected = [r for r in done["records"] if r["refused"] is None]
        assert [r["attempt"] for r in injected] == [attempt]
        assert injected[0]["outcome"] == "dlq"
        assert all("superseded" in r["refused"] for r in done["records"] if r["refused"] is not None)
    poison = cli_json(w, "dlq", "inspect", "--error-class", "poison")["records"]
    assert sorted(r["attempt"] for r in poison) == [0, 1, 2, 3]
    assert len({(r["topic"], r["partition"], r["offset"]) for r in poison}) == 1  # the same source record
    last = cli_json(w, "dlq", "replay", "--error-class", "poison", "--execute")
    refused = {r["attempt"]: r["refused"] for r in last["records"]}
    assert "at the maximum of 3 attempts" in refused[3]
    assert all(r["refused"] for r in last["records"])  # nothing re-injected
    text = cli(w, "dlq", "replay", "--error-class", "poison")
    assert "refused: at the maximum of 3 attempts" in text.stdout
    w.stop()
