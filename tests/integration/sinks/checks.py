"""What every sink target must hold after a run of a :class:`Stack`, checked against the offline
pipeline output (the dry-run path): every S3 object and SQS message the trigger sink's own
``plan()`` derives, each archived clean-topic offset once, and the final redacted document of every
key in OpenSearch and in the warehouse. Shared by the end-to-end, outage and isolation tests."""

from __future__ import annotations

import hashlib
import io
import json
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import fastavro
import psycopg

from streamproc.errors import DecodeError
from streamproc.sinks.base import record_from_message
from tests.integration.sinks.stack import Stack
from tests.integration.workers import BackgroundProducer, read_topic, run_offline

__all__ = [
    "produce_slowly",
    "expected_records",
    "final_state",
    "check_s3_and_sqs",
    "check_archive",
    "check_opensearch",
    "check_warehouse",
    "check_everything",
]


def produce_slowly(stack: Stack, records: list[tuple], seconds: float) -> BackgroundProducer:
    producer = BackgroundProducer(stack.bootstrap, records, max(1, len(records) // 30), seconds / 30)
    producer.start()
    return producer


# --------------------------------------------------------------------------- expectations


def expected_records(stack: Stack, records: list[tuple]) -> list[Any]:
    """Clean events as SinkRecords, from the offline pipeline (the dry-run path)."""
    offline = run_offline(records, stack.config, stack.prefix)
    return [record_from_message(e.topic, 0, n, e.key, e.value, e.headers) for n, e in enumerate(offline.emits())]


def final_state(recs: list[Any]) -> dict[tuple[str, str], Any]:
    last: dict[tuple[str, str], Any] = {}
    for r in recs:
        last[(r.entity, json.dumps(r.key, sort_keys=True))] = r
    return last


def check_s3_and_sqs(stack: Stack, recs: list[Any], crashed: bool = False) -> None:
    from streamproc.config.loader import load_pipelines
    from streamproc.sinks.s3.trigger import S3TriggerSink

    spec = load_pipelines(stack.config).sinks.s3_trigger
    planner = S3TriggerSink(spec, stack.moto.aws_settings())
    want_objects: dict[str, str] = {}
    want_bodies: dict[str, Counter] = {q: Counter() for q in stack.queues.values()}
    for action in planner.plan([r for r in recs if planner.wants(r)]):
        if action["kind"] == "s3":
            want_objects[action["key"]] = action["sha256"]  # a later change of the same key wins
        elif action["kind"] == "sqs":
            want_bodies[action["queue"]][action["body"]["S3FilePartsOfJSONDocument"][0]["Key"]] += 1
    s3 = stack.moto.client("s3")
    keys = [
        obj["Key"]
        for page in s3.get_paginator("list_objects_v2").paginate(Bucket=stack.bucket, Prefix="prod/")
        for obj in page.get("Contents", [])
        if not obj["Key"].startswith("prod/_streamproc/")
    ]  # the sink's progress markers

    def sha(key: str) -> str:
        return hashlib.sha256(s3.get_object(Bucket=stack.bucket, Key=key)["Body"].read()).hexdigest()

    with ThreadPoolExecutor(8) as pool:
        got = dict(zip(keys, pool.map(sha, keys), strict=True))
    assert set(got) == set(want_objects), (len(got), len(want_objects))
    assert got == want_objects
    sqs = stack.moto.client("sqs")
    for queue, want in want_bodies.items():
        url = sqs.get_queue_url(QueueName=queue)["QueueUrl"]
        seen: Counter = Counter()
        while True:
            msgs = sqs.receive_message(
                QueueUrl=url, MaxNumberOfMessages=10, VisibilityTimeout=600, WaitTimeSeconds=0
            ).get("Messages", [])
            if not msgs:
                break
            for m in msgs:
                seen[json.loads(m["Body"])["S3FilePartsOfJSONDocument"][0]["Key"]] += 1
            # FIFO: a group's next messages are delivered only once the received ones are deleted
            sqs.delete_message_batch(
                QueueUrl=url, Entries=[{"Id": str(i), "ReceiptHandle": m["ReceiptHandle"]} for i, m in enumerate(msgs)]
            )
        assert sum(want.values()) > 0
        if queue.endswith(".fifo"):
            # Deduplication id = the object key: changes of one document within one source
            # second share a key (the object holds the later one) and one message, as with triggers.
            assert seen == Counter(set(want)), f"{queue}: missing or repeated messages"
        elif not crashed:
            # No deduplication on a standard queue: every planned message arrives, none twice.
            assert seen == want, f"{queue}: missing or repeated messages"
        else:
            # After a SIGKILL between sending and the progress marker, a standard queue (which
            # has no deduplication) may get one batch per partition again (docs/SINKS-S3.md).
            assert not (want - seen), f"{queue}: planned messages missing"
            repeats = sum((seen - want).values())
            assert repeats <= 4 * stack.batch_records, f"{queue}: {repeats} repeated messages"


def check_archive(stack: Stack) -> None:
    s3 = stack.moto.client("s3")
    offsets: Counter = Counter()
    for page in s3.get_paginator("list_objects_v2").paginate(Bucket=stack.lake, Prefix="archive/"):
        for obj in page.get("Contents", []):
            if not obj["Key"].endswith(".avro"):
                continue
            data = s3.get_object(Bucket=stack.lake, Key=obj["Key"])["Body"].read()
            for row in fastavro.reader(io.BytesIO(data)):
                offsets[(row["topic"], row["partition"], row["offset"])] += 1
    want = set()
    for topic in stack.clean_topics():
        for m in read_topic(stack.bootstrap, topic, timeout=10):
            try:
                record_from_message(m.topic(), m.partition(), m.offset(), m.key(), m.value())
            except DecodeError:  # not a clean event: the DLQ's, not the archive's
                continue
            want.add((m.topic(), m.partition(), m.offset()))
    assert set(offsets) == want, (len(offsets), len(want))
    assert max(offsets.values()) == 1, "an archived record was written twice"


def check_opensearch(stack: Stack, final: dict[tuple[str, str], Any]) -> None:
    from streamproc.config.loader import load_pipelines
    from streamproc.sinks.opensearch.plan import index_name, source_document

    spec = load_pipelines(stack.config).sinks.opensearch
    live = {k: r for k, r in final.items() if r.op != "delete"}
    indices = {entity: index_name(spec, entity, r.namespace) for (entity, _), r in final.items()}
    got = {}
    for entity in stack.entities:
        for doc_id, source in stack.opensearch.documents(indices[entity]).items():
            got[(entity, doc_id)] = source
    assert len(got) == len(live)
    for (entity, key), r in live.items():
        doc_id = str(json.loads(key)["_id"])
        assert got[(entity, doc_id)] == source_document(spec, r.doc)  # `_id` is metadata: renamed


def check_warehouse(stack: Stack, final: dict[tuple[str, str], Any]) -> None:
    with psycopg.connect(stack.dsn) as conn:
        for entity in stack.entities:
            rows = conn.execute(f'SELECT "_id", _src_position, _deleted, _doc FROM public."{entity}"').fetchall()
            ids = [r[0] for r in rows]
            assert len(ids) == len(set(ids))
            want = {json.loads(k)["_id"]: r for (e, k), r in final.items() if e == entity}
            assert set(ids) == set(want)
            for _id, position, deleted, doc in rows:
                r = want[_id]
                assert tuple(int(p) for p in position) == r.position
                assert deleted == (r.op == "delete")
                if not deleted:
                    assert doc == r.doc


def check_everything(stack: Stack, records: list[tuple], crashed: bool = False) -> None:
    for w in stack.workers.values():  # drained: nothing is left to write; free the CPU for the reads
        w.kill()
    recs = expected_records(stack, records)
    final = final_state(recs)
    check_s3_and_sqs(stack, recs, crashed)
    check_archive(stack)
    check_opensearch(stack, final)
    check_warehouse(stack, final)
