"""The whole pipeline against real services: a generated change stream goes through the ingest
worker and three sink workers (one process per role, as in production) into moto's S3 and SQS
(a FIFO and a standard queue), the OpenSearch stand-in and a real PostgreSQL.

* Outage: one target is stopped mid-stream, once every sink is writing, until its sink has failed
  often enough to open its breaker and every other sink has written more (each wait has a
  deadline). That sink backs off (its retries and breaker show it, its worker stays up) while the
  other sinks keep writing; after recovery every change has arrived exactly once at every sink.
* SIGKILL: the S3 and warehouse sink workers are killed mid-stream and restarted once the ingest
  worker has produced more clean events behind them (or the stream has ended); no change is lost,
  no SQS message is sent twice, no archive record is written twice, no row is duplicated.
* Poison: a record on a clean topic that is not a clean event goes to the DLQ from every sink.

"Exactly once" is checked against what the running system must produce: every S3 object and
SQS message the sinks' own ``plan()`` derives from the offline pipeline output (the dry-run
path), each archived clean-topic offset once, and the final redacted document of every key in
OpenSearch and in the warehouse (compared with the offline pipeline's final state)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from tests.integration.sinks.checks import check_everything, produce_slowly
from tests.integration.sinks.stack import Stack
from tests.integration.workers import produce, read_topic, wait_for

pytestmark = [pytest.mark.integration, pytest.mark.timeout(600)]

SINK_ROLES = ("s3", "opensearch", "warehouse")
DEADLINE = 60.0  # for each wait on a condition of the running stack


@pytest.fixture
def stack(kafka_bootstrap: str, tmp_path: Path):
    with Stack(kafka_bootstrap, tmp_path) as s:
        yield s


# --------------------------------------------------------------------------- tests


def _take_down(stack: Stack, target: str) -> tuple[Any, Any]:
    if target == "s3":
        return stack.moto.stop, stack.moto.start
    if target == "opensearch":
        return stack.opensearch.stop, stack.opensearch.start
    return stack.postgres.stop, stack.postgres.start


def written(stack: Stack, role: str) -> float:
    return stack.workers[role].total("streamproc_sink_records_total")


@pytest.mark.parametrize("target", SINK_ROLES)
def test_outage_of_one_target_holds_only_that_sink_and_loses_nothing(stack: Stack, target: str) -> None:
    stack.start_all()
    records = stack.records()
    producer = produce_slowly(stack, records, seconds=30)
    wait_for(lambda: all(written(stack, r) > 0 for r in SINK_ROLES), DEADLINE, message="every sink writing")
    down, up = _take_down(stack, target)
    others = [r for r in SINK_ROLES if r != target]
    held = stack.workers[target]

    def held_up() -> bool:
        assert held.proc.poll() is None, f"the {target} worker stopped during the outage:\n{held.log()[-3000:]}"
        return True

    def held_retried() -> bool:
        return held_up() and held.total("streamproc_sink_retries_total") > 0

    def held_breaker_opened() -> bool:  # the gauge: 0 closed, 1 half-open, 2 open (summed over its sinks)
        return held_up() and held.total("streamproc_sink_breaker_state") >= 2

    down()
    try:
        wait_for(held_retried, DEADLINE, message=f"the {target} sink to retry")
        before = {r: written(stack, r) for r in others}
        for r in others:
            wait_for(
                lambda r=r: written(stack, r) > before[r],
                DEADLINE,
                message=f"sink {r} to keep writing while {target} is down",
            )
        wait_for(held_breaker_opened, DEADLINE, message=f"the {target} sink's breaker to open")
    finally:
        up()
    producer.join_ok()
    stack.wait_drained()
    assert "Traceback" not in stack.workers[target].log()
    check_everything(stack, records)


def test_sigkill_of_sink_workers_mid_stream_loses_nothing_and_duplicates_nothing(stack: Stack) -> None:
    stack.start_all()
    records = stack.records()
    producer = produce_slowly(stack, records, seconds=20)
    for role in ("s3", "warehouse"):
        w = stack.workers[role]
        wait_for(lambda w=w: w.total("streamproc_sink_records_total") > 50, 120, message=f"{role} writing")
    ingest = stack.workers["ingest"]
    for role in ("s3", "warehouse"):
        stack.workers[role].kill()
    at_kill = ingest.total("streamproc_events_out_total")
    wait_for(  # a backlog for the restarted sinks, unless the stream has already ended
        lambda: ingest.total("streamproc_events_out_total") > at_kill or not producer.is_alive(),
        DEADLINE,
        message="clean events produced while the S3 and warehouse sinks are down",
    )
    for role in ("s3", "warehouse"):
        old = stack.workers[role]
        stack.worker(role).wait_ready()
        assert old.proc.returncode == -9
    producer.join_ok()
    stack.wait_drained()
    check_everything(stack, records, crashed=True)


def test_poison_on_a_clean_topic_goes_to_the_dlq_from_every_sink(stack: Stack) -> None:
    stack.start_all()
    records = stack.records()[:200]
    clean = stack.clean_topics()[0]
    produce(stack.bootstrap, records + [(clean, b'{"_id":"x"}', b"not a clean event", [("h", b"1")])])
    stack.wait_drained()
    dlq = read_topic(stack.bootstrap, f"{stack.prefix}.dlq", timeout=10)
    poison = [m for m in dlq if m.value() == b"not a clean event"]
    stages = sorted(dict(m.headers())["__connect.errors.stage"].decode() for m in poison)
    # once per sink (the s3 role runs two), original bytes and headers kept
    assert stages == ["SINK OPENSEARCH READ", "SINK S3 READ", "SINK S3-ARCHIVE READ", "SINK WAREHOUSE READ"]
    for m in poison:
        headers = dict(m.headers())
        assert m.key() == b'{"_id":"x"}' and headers["h"] == b"1"
        assert headers["__connect.errors.topic"].decode() == clean
        assert headers["streamproc.error.class"] == b"poison"
    check_everything(stack, records)
