"""What every target holds after the campaign, counted against the offline expectation: the
records run through the worker's own pipeline offline (``streamproc dry-run``'s path, via
:func:`tests.integration.workers.run_offline`), and the sinks' own ``plan()`` for the S3 keys
and SQS deduplication ids. Each target gets a :class:`Count`; a target is clean when nothing is
missing, duplicated, unexpected or different.

* clean topics: every clean event the dry-run emits, found by (topic, key, value); exact copies
  are redeliveries (at-least-once, allowed), anything else is unexpected;
* DLQ: every record the dry-run dead-letters, found by (source topic, key, value), counted once
  per source offset;
* S3 objects (trigger bucket): every planned key with the planned SHA-256, none other (a replay
  writes the same key, so a duplicate object would be an unexpected key);
* SQS messages: every FIFO queue received to the end by a consumer (receive, then delete) and
  counted by MessageDeduplicationId: each planned id exactly once;
* archive records: each clean-topic offset exactly once in the archive's Avro objects;
* OpenSearch documents and warehouse rows: the dry-run's final state of every key, once.
"""

from __future__ import annotations

import hashlib
import json
from collections import Counter
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict, dataclass
from typing import Any

__all__ = ["Count", "verify", "totals"]


@dataclass
class Count:
    expected: int = 0
    found: int = 0  # distinct items found
    missing: int = 0
    duplicates: int = 0  # items present more than once where once is the contract
    unexpected: int = 0  # items the expectation does not have
    mismatched: int = 0  # present, but with other content
    redelivered: int = 0  # exact copies where the contract is at-least-once (clean topics, DLQ)
    error: str | None = None

    @property
    def ok(self) -> bool:
        return self.error is None and not (self.missing or self.duplicates or self.unexpected or self.mismatched)

    def as_dict(self) -> dict[str, Any]:
        out = {k: v for k, v in asdict(self).items() if v is not None}
        out["ok"] = self.ok
        return out


def _compare(want: Counter, got: Counter, *, at_least_once: bool) -> Count:
    """``want``/``got``: item → copies. Copies beyond the wanted number are redeliveries when
    ``at_least_once``, else duplicates."""
    extra = sum(max(0, got[x] - want[x]) for x in want)
    return Count(
        expected=sum(want.values()),
        found=len(got),
        missing=sum(max(0, want[x] - got[x]) for x in want),
        duplicates=0 if at_least_once else extra,
        redelivered=extra if at_least_once else 0,
        unexpected=sum(n for x, n in got.items() if x not in want),
    )


def count_clean(stack: Any, offline: Any) -> Count:
    from tests.integration.workers import read_topic

    want = Counter((e.topic, e.key, e.value) for e in offline.emits())
    got: Counter = Counter()
    for topic in stack.clean_topics():
        got.update((m.topic(), m.key(), m.value()) for m in read_topic(stack.bootstrap, topic))
    return _compare(want, got, at_least_once=True)


def count_dlq(stack: Any, offline: Any) -> Count:
    from tests.integration.workers import read_topic

    sources = set(stack.topics.values())
    want = Counter((r[0], r[1], r[2]) for r, _ in offline.dead_letters())
    by_offset: dict[tuple, tuple] = {}
    copies = 0
    for m in read_topic(stack.bootstrap, f"{stack.prefix}.dlq"):
        h = {k: (v or b"").decode() for k, v in m.headers() or []}
        topic = h.get("__connect.errors.topic")
        if topic not in sources:  # a sink's dead letter (a clean topic's record), not ingest's
            continue
        copies += 1
        by_offset[(topic, h.get("__connect.errors.partition"), h.get("__connect.errors.offset"))] = (
            topic,
            m.key(),
            m.value(),
        )
    count = _compare(want, Counter(by_offset.values()), at_least_once=True)
    count.redelivered += copies - len(by_offset)
    return count


def _planned_trigger(stack: Any, recs: list[Any]) -> tuple[dict[str, str], dict[str, Counter]]:
    from streamproc.config.loader import load_pipelines
    from streamproc.sinks.s3.trigger import S3TriggerSink

    spec = load_pipelines(stack.config).sinks.s3_trigger
    assert spec is not None
    planner = S3TriggerSink(spec, stack.moto.aws_settings())
    objects: dict[str, str] = {}
    dedup_ids: dict[str, Counter] = {q: Counter() for q in stack.queues.values()}
    for action in planner.plan([r for r in recs if planner.wants(r)]):
        if action["kind"] == "s3":
            objects[action["key"]] = action["sha256"]  # a later change of the same key wins
        elif action["kind"] == "sqs":
            dedup_ids[action["queue"]][action["dedup_id"]] = 1  # one message per id (FIFO)
    return objects, dedup_ids


def count_s3(stack: Any, recs: list[Any]) -> Count:
    want, _ = _planned_trigger(stack, recs)
    s3 = stack.moto.client("s3")
    keys = [
        obj["Key"]
        for page in s3.get_paginator("list_objects_v2").paginate(Bucket=stack.bucket, Prefix="prod/")
        for obj in page.get("Contents", [])
        if not obj["Key"].startswith("prod/_streamproc/")  # the sink's progress markers
    ]

    def sha(key: str) -> str:
        return hashlib.sha256(s3.get_object(Bucket=stack.bucket, Key=key)["Body"].read()).hexdigest()

    with ThreadPoolExecutor(8) as pool:
        got = dict(zip(keys, pool.map(sha, keys), strict=True))
    count = _compare(Counter(dict.fromkeys(want, 1)), Counter(dict.fromkeys(got, 1)), at_least_once=False)
    count.mismatched = sum(1 for k, digest in got.items() if k in want and want[k] != digest)
    return count


def count_sqs(stack: Any, recs: list[Any]) -> Count:
    """Receives every message of every queue (and deletes it: a FIFO group's next messages come
    only after the received ones are deleted); each planned deduplication id once."""
    _, want = _planned_trigger(stack, recs)
    sqs = stack.moto.client("sqs")
    total = Count()
    for queue, ids in want.items():
        url = sqs.get_queue_url(QueueName=queue)["QueueUrl"]
        seen: Counter = Counter()
        while True:
            msgs = sqs.receive_message(
                QueueUrl=url,
                MaxNumberOfMessages=10,
                VisibilityTimeout=600,
                WaitTimeSeconds=0,
                MessageSystemAttributeNames=["MessageDeduplicationId"],
            ).get("Messages", [])
            if not msgs:
                break
            seen.update(m.get("Attributes", {}).get("MessageDeduplicationId", "(none)") for m in msgs)
            sqs.delete_message_batch(
                QueueUrl=url, Entries=[{"Id": str(i), "ReceiptHandle": m["ReceiptHandle"]} for i, m in enumerate(msgs)]
            )
        c = _compare(ids, seen, at_least_once=False)
        for name in ("expected", "found", "missing", "duplicates", "unexpected"):
            setattr(total, name, getattr(total, name) + getattr(c, name))
    return total


def count_archive(stack: Any) -> Count:
    import io

    import fastavro

    from streamproc.errors import DecodeError
    from streamproc.sinks.base import record_from_message
    from tests.integration.workers import read_topic

    s3 = stack.moto.client("s3")
    got: Counter = Counter()
    for page in s3.get_paginator("list_objects_v2").paginate(Bucket=stack.lake, Prefix="archive/"):
        for obj in page.get("Contents", []):
            if obj["Key"].endswith(".avro"):
                data = s3.get_object(Bucket=stack.lake, Key=obj["Key"])["Body"].read()
                got.update((r["topic"], r["partition"], r["offset"]) for r in fastavro.reader(io.BytesIO(data)))
    want: Counter = Counter()
    for topic in stack.clean_topics():
        for m in read_topic(stack.bootstrap, topic):
            try:
                record_from_message(m.topic(), m.partition(), m.offset(), m.key(), m.value())
            except DecodeError:  # not a clean event: the DLQ's, not the archive's
                continue
            want[(m.topic(), m.partition(), m.offset())] = 1
    return _compare(want, got, at_least_once=False)


def count_opensearch(stack: Any, final: dict[tuple[str, str], Any]) -> Count:
    from streamproc.config.loader import load_pipelines
    from streamproc.sinks.opensearch.plan import index_name, source_document

    spec = load_pipelines(stack.config).sinks.opensearch
    assert spec is not None
    live = {(e, str(json.loads(k)["_id"])): r for (e, k), r in final.items() if r.op != "delete"}
    indices = {index_name(spec, e, r.namespace): e for (e, _), r in final.items()}
    got: Counter = Counter()
    docs: dict[tuple[str, str], Any] = {}
    for index, entity in sorted(indices.items()):
        for doc_id, source in stack.opensearch.documents(index).items():
            got[(entity, doc_id)] += 1
            docs[(entity, doc_id)] = source
    count = _compare(Counter(dict.fromkeys(live, 1)), got, at_least_once=False)
    count.mismatched = sum(1 for k, r in live.items() if k in docs and docs[k] != source_document(spec, r.doc))
    return count


def count_warehouse(stack: Any, final: dict[tuple[str, str], Any]) -> Count:
    import psycopg

    got: Counter = Counter()
    want: Counter = Counter()
    mismatched = 0
    with psycopg.connect(stack.dsn) as conn:
        for entity in stack.entities:
            expect = {json.loads(k)["_id"]: r for (e, k), r in final.items() if e == entity}
            want.update((entity, _id) for _id in expect)
            rows = conn.execute(f'SELECT "_id", _src_position, _deleted, _doc FROM public."{entity}"').fetchall()
            for _id, position, deleted, doc in rows:
                got[(entity, _id)] += 1
                r = expect.get(_id)
                if r is not None and (
                    tuple(int(p) for p in position) != r.position
                    or deleted != (r.op == "delete")
                    or (not deleted and doc != r.doc)
                ):
                    mismatched += 1
    count = _compare(want, got, at_least_once=False)
    count.mismatched = mismatched
    return count


def _guarded(fn: Callable[[], Count]) -> Count:
    try:
        return fn()
    except Exception as exc:  # noqa: BLE001 - a target that cannot be read is a failed check, reported
        return Count(error=f"{type(exc).__name__}: {str(exc)[:300]}")


def verify(stack: Any, records: list[tuple]) -> dict[str, Count]:
    """Every target of ``stack`` against the offline run of ``records`` (see the module docstring)."""
    from tests.integration.sinks.checks import expected_records, final_state
    from tests.integration.workers import run_offline

    offline = run_offline(records, stack.config, stack.prefix)
    recs = expected_records(stack, records)
    final = final_state(recs)
    return {
        "clean_events": _guarded(lambda: count_clean(stack, offline)),
        "dlq_records": _guarded(lambda: count_dlq(stack, offline)),
        "s3_objects": _guarded(lambda: count_s3(stack, recs)),
        "sqs_messages": _guarded(lambda: count_sqs(stack, recs)),
        "archive_records": _guarded(lambda: count_archive(stack)),
        "opensearch_documents": _guarded(lambda: count_opensearch(stack, final)),
        "warehouse_rows": _guarded(lambda: count_warehouse(stack, final)),
    }


def totals(counts: dict[str, Count]) -> dict[str, int]:
    """Lost (missing), duplicated (duplicates + unexpected), different and unreadable, summed."""
    return {
        "lost": sum(c.missing for c in counts.values()),
        "duplicates": sum(c.duplicates + c.unexpected for c in counts.values()),
        "mismatched": sum(c.mismatched for c in counts.values()),
        "errors": sum(1 for c in counts.values() if c.error is not None),
    }
