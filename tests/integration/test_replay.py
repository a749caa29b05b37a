"""``streamproc replay`` on the real broker against real workers: the refusal while the group has
a member, the plans of a reset by datetime and by shift (checked against the records' own
timestamps and the committed offsets), a reset alone re-emitting nothing (the dedupe table), the
full re-emission with ``--reset-state`` (every clean event again, at its original position, the
changelog topic and the local tables removed, the audit record written), and one sink replayed
while the other sink and the ingest stage stay where they were."""

from __future__ import annotations

import json
import time
import uuid
from collections import Counter
from datetime import UTC, datetime
from pathlib import Path

import pytest

from streamproc.dev.services import endpoint_env
from streamproc.sinks.s3.aws import make_client
from tests.integration.ops import audit_records, cli, cli_json, committed
from tests.integration.workers import (
    WorkerProcess,
    committed_lag,
    end_offsets,
    generated_stream,
    list_topics,
    produce,
    read_topic,
    unique_config,
    wait_for,
)
from tests.services.moto import MotoService, unique_name

pytestmark = [pytest.mark.integration, pytest.mark.timeout(600)]

ENTITY = "users"


STOPPED = "--workers-stopped"  # the embedded broker keeps a stopped group STABLE (lists no members)


def run_until_committed(worker: WorkerProcess, ends: dict[tuple[str, int], int]) -> None:
    worker.start()
    worker.wait_ready()
    wait_for(lambda: committed_lag(worker.bootstrap, worker.app_id, ends) == 0, 180, 1.0, "every offset committed")


@pytest.fixture(scope="module")
def ingest_run(kafka_bootstrap: str, tmp_path_factory: pytest.TempPathFactory):
    work = tmp_path_factory.mktemp("replay")
    topics, records = generated_stream(work / "p.yaml", (ENTITY,), documents=40, seed=11)
    source = topics[next(iter(topics))]
    half = len(records) // 2
    produce(kafka_bootstrap, records[:half])
    time.sleep(1.5)  # two record times apart: the datetime reset has a boundary to find
    boundary = datetime.now(UTC)
    time.sleep(1.5)
    produce(kafka_bootstrap, records[half:])
    ends = end_offsets(kafka_bootstrap, [source])
    worker = WorkerProcess(kafka_bootstrap, work / "data", work / "p.yaml", log_path=work / "w1.log")
    run_until_committed(worker, ends)
    worker.stop()
    yield {"worker": worker, "source": source, "ends": ends, "boundary": boundary, "records": records}
    worker.stop()


def test_refused_while_the_group_has_a_running_member(kafka_bootstrap: str, tmp_path: Path) -> None:
    unique_config(tmp_path / "p.yaml", (ENTITY,), f"it{uuid.uuid4().hex[:8]}")
    worker = WorkerProcess(kafka_bootstrap, tmp_path / "data", tmp_path / "p.yaml").start()
    try:
        worker.wait_ready()
        done = cli(worker, "replay", "--role", "ingest", "--to-earliest", "--execute")
        assert done.returncode == 1, done.stderr
        assert f"consumer group {worker.app_id} is active" in done.stderr
        assert "members:" in done.stderr and "Stop every worker" in done.stderr
        # the confirmation never overrides members the broker lists: on Kafka they are named, and a
        # broker that lists none (the embedded one) accepts it only from whoever stopped the workers
        preview = cli(worker, "replay", "--role", "ingest", "--to-earliest")
        assert preview.returncode == 1  # the preview is refused too
    finally:
        worker.stop()


def test_reset_by_datetime_targets_the_first_record_at_or_after_it(ingest_run) -> None:
    w, source = ingest_run["worker"], ingest_run["source"]
    boundary = ingest_run["boundary"]
    want: dict[int, int] = {}
    for m in read_topic(w.bootstrap, source):
        if m.timestamp()[1] >= boundary.timestamp() * 1000:
            want.setdefault(m.partition(), m.offset())
    assert want, "the second half has records"
    plan = cli_json(w, "replay", STOPPED, "--role", "ingest", "--to-datetime", boundary.isoformat())
    rows = {r["partition"]: r for r in plan["groups"][0]["partitions"]}
    for p, row in rows.items():
        end = ingest_run["ends"].get((source, p), 0)
        assert row["committed"] == end
        assert row["target"] == want.get(p, end), p
        assert row["reread"] == end - row["target"]
    assert plan["execute"] is False
    assert any("re-emits nothing" in n for n in plan["notes"])
    # a preview changes nothing
    assert committed_lag(w.bootstrap, w.app_id, ingest_run["ends"]) == 0


def test_reset_by_shift_moves_each_committed_offset(ingest_run) -> None:
    w, source = ingest_run["worker"], ingest_run["source"]
    plan = cli_json(w, "replay", STOPPED, "--role", "ingest", "--topic", f"{source}:0,1", "--shift-by", "-3")
    rows = plan["groups"][0]["partitions"]
    assert [r["partition"] for r in rows] == [0, 1]
    for r in rows:
        end = ingest_run["ends"].get((source, r["partition"]), 0)
        assert r["target"] == max(0, end - 3) and r["reread"] == end - r["target"]


def test_a_reset_alone_reemits_nothing_and_reset_state_reemits_everything(ingest_run) -> None:
    w, source, ends = ingest_run["worker"], ingest_run["source"], ingest_run["ends"]
    clean_topic = f"{w.topic_prefix}.events.{ENTITY}"
    first = read_topic(w.bootstrap, clean_topic)
    assert first

    done = cli_json(w, "replay", STOPPED, "--role", "ingest", "--to-earliest", "--execute")
    assert done["execute"] and sum(r["reread"] for r in done["groups"][0]["partitions"]) == sum(ends.values())
    assert committed_lag(w.bootstrap, w.app_id, ends) == sum(ends.values())  # the group is at the start
    run_until_committed(w, ends)
    assert len(read_topic(w.bootstrap, clean_topic)) == len(first), "a reset alone re-emitted events"
    # each re-read change is dropped: the last one per key as a duplicate, earlier ones as stale
    dropped = w.total("streamproc_events_dropped_total", reason="duplicate") + w.total(
        "streamproc_events_dropped_total", reason="stale"
    )
    assert dropped >= len(first) and w.total("streamproc_events_out_total") == 0
    w.stop()

    changelog = f"{w.app_id}-state-{source}-changelog"
    assert changelog in list_topics(w.bootstrap)
    preview = cli_json(w, "replay", STOPPED, "--role", "ingest", "--to-earliest", "--reset-state")
    removal = preview["groups"][0]["reset_state"]
    assert removal["topics"] == [changelog]
    assert removal["paths"] and all(Path(p).exists() for p in removal["paths"])
    assert changelog in list_topics(w.bootstrap)  # the preview removed nothing

    done = cli_json(w, "replay", STOPPED, "--role", "ingest", "--to-earliest", "--reset-state", "--execute")
    assert done["groups"][0]["reset_state"] == removal
    assert not any(Path(p).exists() for p in removal["paths"])
    wait_for(lambda: changelog not in list_topics(w.bootstrap), 30, message="the changelog deleted")

    run_until_committed(w, ends)
    again = read_topic(w.bootstrap, clean_topic)
    assert len(again) == 2 * len(first)
    copies: dict[tuple[bytes, tuple], list[bytes]] = {}
    for m in again:
        position = tuple(json.loads(m.value())["position"])
        copies.setdefault((m.key(), position), []).append(m.value())
    assert Counter(len(v) for v in copies.values()) == {2: len(first)}  # each event once more, same position
    assert all(v[0] == v[1] for v in copies.values())

    audits = audit_records(w.bootstrap, w.topic_prefix, "replay")
    last = audits[-1]
    assert last["what"]["reset_state"] is True and last["who"]["user"] and last["who"]["host"]
    assert last["groups"][0]["reset_state"]["topics"] == [changelog]
    moved = {(r["topic"], r["partition"]): (r["committed"], r["target"]) for r in last["groups"][0]["partitions"]}
    assert moved == {(source, p): (end, 0) for (_, p), end in ends.items()} | {
        (source, p): (None, 0) for p in range(4) if (source, p) not in ends
    }


def queued(sqs, queue: str) -> int:
    url = sqs.get_queue_url(QueueName=queue)["QueueUrl"]
    attrs = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["ApproximateNumberOfMessages"])
    return int(attrs["Attributes"]["ApproximateNumberOfMessages"])


def marker_keys(s3, bucket: str) -> set[str]:
    listed = s3.list_objects_v2(Bucket=bucket, Prefix="prod/_streamproc/offsets/")
    return {o["Key"] for o in listed.get("Contents", ())}


def test_one_sink_is_replayed_while_the_others_stay(kafka_bootstrap: str, tmp_path: Path) -> None:
    bucket, queue = unique_name("replay"), unique_name("replayq")
    sinks = {
        "s3_trigger": {"bucket": bucket, "env": "prod/", "entities": {ENTITY: {"queue": queue}}},
        "warehouse": {"schema": "main", "entities": "all"},
    }
    topics, records = generated_stream(tmp_path / "p.yaml", (ENTITY,), documents=30, seed=4)
    unique_config(tmp_path / "p.yaml", (ENTITY,), next(iter(topics.values())).split(".")[0], sinks=sinks)
    source = next(iter(topics.values()))
    with MotoService() as moto:
        aws = moto.aws_settings()
        s3, sqs = make_client("s3", aws), make_client("sqs", aws)
        env = endpoint_env(aws, None, f"duckdb:///{tmp_path / 'wh.duckdb'}")
        env["STREAMPROC_SINK__CREATE_MISSING"] = "true"
        w = WorkerProcess(
            kafka_bootstrap, tmp_path / "data", tmp_path / "p.yaml", roles="ingest,s3,warehouse", extra_env=env
        )
        clean = f"{w.topic_prefix}.events.{ENTITY}"
        base = w.app_id.removesuffix("-ingest")
        s3_group, wh_group = f"{base}-sink-s3", f"{base}-sink-warehouse"
        produce(kafka_bootstrap, records)
        source_ends = end_offsets(kafka_bootstrap, [source])
        w.start()
        try:
            w.wait_ready()
            wait_for(lambda: committed_lag(kafka_bootstrap, w.app_id, source_ends) == 0, 180, 1.0, "ingest done")
            clean_ends = end_offsets(kafka_bootstrap, [clean])
            for g in (s3_group, wh_group):
                wait_for(lambda g=g: committed_lag(kafka_bootstrap, g, clean_ends) == 0, 180, 1.0, f"{g} done")
        finally:
            w.stop()
        sent, keys = queued(sqs, queue), marker_keys(s3, bucket)
        assert sent > 0 and keys
        before_wh = committed(kafka_bootstrap, wh_group, clean, 4)
        before_ingest = committed(kafka_bootstrap, w.app_id, source, 4)

        done = cli_json(w, "replay", STOPPED, "--role", "s3", "--to-earliest", "--reset-state", "--execute")
        assert [g["group"] for g in done["groups"]] == [s3_group]
        markers = done["groups"][0]["reset_state"]["objects"]
        assert sorted(markers) == sorted(f"s3://{bucket}/{k}" for k in keys)
        assert not marker_keys(s3, bucket)  # removed in the bucket
        at_start = committed(kafka_bootstrap, s3_group, clean, 4)
        assert all(at_start[p] == 0 for (_, p) in clean_ends)
        assert committed(kafka_bootstrap, wh_group, clean, 4) == before_wh  # the other sink: untouched
        assert committed(kafka_bootstrap, w.app_id, source, 4) == before_ingest  # and the ingest stage

        again = WorkerProcess(
            kafka_bootstrap,
            tmp_path / "data",
            tmp_path / "p.yaml",
            roles="s3",
            extra_env=env,
            app_id=w.app_id,
            topic_prefix=w.topic_prefix,
            log_path=tmp_path / "again.log",
        )
        again.start()
        try:
            again.wait_ready()
            wait_for(lambda: committed_lag(kafka_bootstrap, s3_group, clean_ends) == 0, 180, 1.0, "s3 re-read")
            wait_for(lambda: queued(sqs, queue) >= 2 * sent, 60, 1.0, "the messages sent again")
            assert queued(sqs, queue) == 2 * sent  # every message once more, no more
            assert marker_keys(s3, bucket)
        finally:
            again.stop()
        assert committed(kafka_bootstrap, wh_group, clean, 4) == before_wh
