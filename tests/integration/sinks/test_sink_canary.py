"""PII canaries through every sink: the canary stream of ``test_pii_canary`` (distinct values in
every redacted field of users and owners) goes through the ingest worker and the three sink
workers (logging at debug level), and no canary appears in any S3 object (change objects, SQS
progress markers, archive), SQS message, OpenSearch document, warehouse row, sink log or
/metrics. What landed is counted first, so the scan cannot pass on empty targets."""

from __future__ import annotations

import json

import psycopg
import pytest

from tests.integration.sinks.stack import Stack
from tests.integration.test_pii_canary import ENTITIES, Canaries, build, leaks
from tests.integration.workers import produce

pytestmark = [pytest.mark.integration, pytest.mark.timeout(400)]


def test_no_canary_reaches_any_sink_target_log_or_metric(kafka_bootstrap: str, tmp_path) -> None:
    with Stack(kafka_bootstrap, tmp_path, entities=ENTITIES) as stack:
        stack.start_all(loglevel="debug")  # the loudest a user can make them
        canaries = Canaries(seed=23)
        records, _poison = build(stack.topics, canaries)
        produce(kafka_bootstrap, records)
        stack.wait_drained()
        tokens = canaries.tokens
        found: list[str] = []
        scanned = {"objects": 0, "messages": 0, "documents": 0, "rows": 0}

        s3 = stack.moto.client("s3")
        for bucket in (stack.bucket, stack.lake):
            for page in s3.get_paginator("list_objects_v2").paginate(Bucket=bucket):
                for obj in page.get("Contents", []):
                    found += leaks(s3.get_object(Bucket=bucket, Key=obj["Key"])["Body"].read(), tokens)
                    scanned["objects"] += 1
        sqs = stack.moto.client("sqs")
        for queue in stack.queues.values():
            url = sqs.get_queue_url(QueueName=queue)["QueueUrl"]
            while msgs := sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10).get("Messages", []):
                for m in msgs:
                    found += leaks(m["Body"], tokens)
                    scanned["messages"] += 1
                sqs.delete_message_batch(
                    QueueUrl=url,
                    Entries=[{"Id": str(i), "ReceiptHandle": m["ReceiptHandle"]} for i, m in enumerate(msgs)],
                )
        for index in stack.opensearch.indices():
            for doc_id, source in stack.opensearch.documents(index).items():
                found += leaks(json.dumps(source) + doc_id, tokens)
                scanned["documents"] += 1
        with psycopg.connect(stack.dsn) as conn:
            for entity in ENTITIES:
                for row in conn.execute(f'SELECT * FROM public."{entity}"').fetchall():
                    found += leaks(json.dumps([str(v) for v in row]), tokens)
                    scanned["rows"] += 1
        for role, w in stack.workers.items():
            found += [f"{role} log: {t}" for t in leaks(w.log(), tokens)]
            found += [f"{role} metrics: {t}" for t in leaks(w.metrics(), tokens)]
        assert all(scanned.values()), scanned
        assert "DEBUG" in stack.workers["s3"].log()  # the logs scanned really were at debug level
        assert not found, f"{len(found)} canaries leaked, e.g. {found[:3]}"
