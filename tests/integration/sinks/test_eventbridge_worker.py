"""The ``eventbridge`` role in real worker processes, against moto in server mode.

The PII canary stream of ``test_pii_canary`` (users and owners) goes through the ingest worker,
the ``s3`` worker and the ``eventbridge`` worker (both logging at debug level). The EventBridge
sink reaches its bus through a moto server of its own (same state), which is stopped for at least
20 s mid-stream: while it is down the ``s3`` sink delivers the whole stream and commits every
clean-topic offset, the ``eventbridge`` group acknowledges nothing more and retries (the outage is
proven by its retries, its unchanged count and its lag). When the server is back everything
arrives: the rule selecting ``user.*`` delivers exactly the users' entries, the catch-all rule
every entry, each with the ``eventId`` computed from the clean event (repeats, if any, are equal
entries), and no canary appears in any entry, log line or metric.
"""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any

import pytest

from streamproc.sinks.base import record_from_message
from streamproc.sinks.eventbridge.plan import event_id
from tests.integration.sinks.stack import Stack
from tests.integration.test_pii_canary import ENTITIES, Canaries, build, leaks
from tests.integration.workers import committed_lag, end_offsets, produce, read_topic, wait_for

pytestmark = [pytest.mark.integration, pytest.mark.timeout(600)]

OUTAGE = 20.0
DEADLINE = 120.0


def drain(sqs: Any, url: str) -> list[str]:
    out: list[str] = []
    while msgs := sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10, WaitTimeSeconds=0).get("Messages", []):
        out += [m["Body"] for m in msgs]
        sqs.delete_message_batch(
            QueueUrl=url, Entries=[{"Id": str(i), "ReceiptHandle": m["ReceiptHandle"]} for i, m in enumerate(msgs)]
        )
    return out


def test_an_outage_holds_only_eventbridge_which_loses_nothing_and_leaks_no_pii(
    kafka_bootstrap: str, tmp_path: Path
) -> None:
    with Stack(kafka_bootstrap, tmp_path, entities=ENTITIES, eventbridge=True) as stack:
        assert stack.eb_moto is not None
        ingest, s3, eb = (stack.worker(r, loglevel="debug") for r in ("ingest", "s3", "eventbridge"))
        for w in (ingest, s3, eb):
            w.wait_ready()

        def alive() -> None:
            for role, w in stack.workers.items():
                assert w.proc.poll() is None, f"{role} worker exited:\n{w.log()[-4000:]}"

        def written(w: Any, sink: str) -> float:
            alive()
            return w.total("streamproc_sink_records_total", sink=sink)

        canaries = Canaries(seed=31)
        records, _poison = build(stack.topics, canaries)
        half = len(records) // 2
        produce(kafka_bootstrap, records[:half])
        wait_for(lambda: written(eb, "eventbridge") > 0, DEADLINE, message="eventbridge delivering")

        stack.eb_moto.stop()
        down_at = time.monotonic()
        held = written(eb, "eventbridge")
        s3_before = written(s3, "s3")
        produce(kafka_bootstrap, records[half:])
        sources = end_offsets(kafka_bootstrap, stack.topics.values())
        wait_for(lambda: committed_lag(kafka_bootstrap, stack.app_id, sources) == 0, DEADLINE, message="ingest")
        clean = end_offsets(kafka_bootstrap, stack.clean_topics())
        wait_for(
            lambda: alive() is None and committed_lag(kafka_bootstrap, f"{stack.app_id}-sink-s3", clean) == 0,
            DEADLINE,
            message="the s3 sink to deliver the whole stream while EventBridge is down",
        )
        wait_for(lambda: time.monotonic() - down_at >= OUTAGE, OUTAGE + 5, message="20 s of outage")
        assert written(s3, "s3") > s3_before  # the other sink kept delivering
        assert written(eb, "eventbridge") == held  # nothing was written meanwhile
        assert eb.total("streamproc_sink_retries_total", sink="eventbridge") > 0  # it failed and retried
        assert committed_lag(kafka_bootstrap, f"{stack.app_id}-sink-eventbridge", clean) > 0  # and held

        stack.eb_moto.start()
        stack.wait_drained(roles=("s3", "eventbridge"))
        alive()

        expected: dict[str, str] = {}  # eventId → entity, from the clean topics
        for topic in stack.clean_topics():
            for m in read_topic(kafka_bootstrap, topic):
                r = record_from_message(m.topic(), m.partition(), m.offset(), m.key(), m.value())
                if r.op != "truncate":
                    expected[event_id(r)] = r.entity
        sqs = stack.moto.client("sqs")
        bodies = {rule: drain(sqs, url) for rule, url in stack.eb_queues.items()}
        got: dict[str, dict[str, Any]] = {}
        for rule, raw in bodies.items():
            entries: dict[str, Any] = {}
            for body in raw:
                e = json.loads(body)
                eid = e["detail"]["eventId"]
                assert entries.setdefault(eid, e["detail"]) == e["detail"], "a repeat differs from the first"
                assert e["source"] == f"coredb.{e['detail']['entityType']}"
                assert e["detail-type"] == e["detail"]["eventType"]
            got[rule] = entries
        assert set(got["all"]) == set(expected), "the catch-all rule got exactly every entry"
        assert set(got["users"]) == {i for i, entity in expected.items() if entity == "users"}
        assert {d["entityType"] for d in got["all"].values()} == set(ENTITIES)
        # processedAt is the clean message's Kafka timestamp (set when ingest produced it), after the source time
        assert all(d["metadata"]["processedAt"] > d["timestamp"] for d in got["all"].values())

        found: list[str] = []
        for raw in bodies.values():
            for body in raw:
                found += leaks(body, canaries.tokens)
        for role, w in stack.workers.items():
            found += [f"{role} log: {t}" for t in leaks(w.log(), canaries.tokens)]
            found += [f"{role} metrics: {t}" for t in leaks(w.metrics(), canaries.tokens)]
        assert "DEBUG" in eb.log()  # the log scanned really was at debug level
        assert not found, f"{len(found)} canaries leaked, e.g. {found[:3]}"
