"""The OpenSearch sink against a cluster: one scenario run against the fake (always) and against
the real opensearchproject/opensearch image (where a Docker engine answers), so the fake is
checked by the real thing; then the failure modes only the fake can stage."""

from __future__ import annotations

import asyncio
import json
import logging
import threading
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import httpx
import pytest
from opensearchpy import AsyncOpenSearch

from streamproc.config.settings import OpenSearchSettings
from streamproc.config.sink_opensearch import OpenSearchSpec
from streamproc.dev.opensearch_fake import OpenSearchFake
from streamproc.errors import (
    ConfigError,
    FatalSinkError,
    RetriableSinkError,
    SinkBackpressure,
)
from streamproc.sinks.base import SinkBatch, SinkRecord
from streamproc.sinks.opensearch.admin import opensearch_init
from streamproc.sinks.opensearch.sink import OpenSearchSink
from streamproc.sinks.opensearch.version import version_of
from tests.integration.sinks.canary import deliver, leaks
from tests.services.docker import docker_available

IMAGE = "opensearchproject/opensearch:2.11.1"


@dataclass
class Target:
    url: str
    fake: OpenSearchFake | None


@pytest.fixture(
    scope="module",
    params=[
        "fake",
        pytest.param(
            "opensearch",
            marks=[
                pytest.mark.docker,
                pytest.mark.skipif(
                    not docker_available(), reason="no Docker engine: the real OpenSearch image cannot run here"
                ),
            ],
        ),
    ],
)
def target(request: pytest.FixtureRequest) -> Iterator[Target]:
    if request.param == "fake":
        with OpenSearchFake() as fake:
            yield Target(fake.url, fake)
        return
    from testcontainers.community.opensearch import OpenSearchContainer

    with OpenSearchContainer(IMAGE) as container:
        conf = container.get_config()
        yield Target(f"http://{conf['host']}:{conf['port']}", None)


def rec(
    op: str,
    key: str,
    position: tuple[int, ...],
    doc: dict[str, Any] | None,
    namespace: str,
    entity: str = "users",
    offset: int = 0,
) -> SinkRecord:
    return SinkRecord(
        "streamproc.events." + entity,
        0,
        offset,
        entity,
        op,
        f"{entity}.{op}",
        namespace,
        {"_id": key},
        position,
        1_700_000_000_000,
        doc,
        None,
        True,
    )


async def _get(client: AsyncOpenSearch, index: str, doc_id: str) -> dict[str, Any] | None:
    resp = await client.get(index=index, id=doc_id, ignore=404)
    return resp if resp.get("found") else None


async def sink_scenario(url: str) -> None:
    """Init, then index/update/delete, a repeated batch, a stale event and a mapping error."""
    db = f"it{uuid.uuid4().hex[:8]}"
    namespace = f"{db}.users"
    index = f"{db}_users"
    spec = OpenSearchSpec(max_bulk_records=2, number_of_replicas=0, ism={"policy_id": f"{db}-policy"})
    settings = OpenSearchSettings(url=url, timeout=30)
    report = await opensearch_init(settings, spec, {"users": namespace})
    assert report.indices == {"users": index} and report.policy_result == "created"
    client = AsyncOpenSearch(hosts=[url], timeout=30)
    sink = OpenSearchSink(spec, settings)
    await sink.start()
    try:
        tpl = await client.indices.get_index_template(name=spec.template_name)
        assert tpl["index_templates"][0]["index_template"]["index_patterns"] == [index]
        policy = await client.plugins.index_management.get_policy(policy=spec.ism.policy_id)
        assert [s["name"] for s in policy["policy"]["states"]] == ["hot", "delete"]

        first = [
            rec("insert", "a", (10,), {"_id": "a", "name": "Ada", "created_at": "2024-01-02T03:04:05Z"}, namespace),
            rec("insert", "b", (11,), {"_id": "b", "name": "Bob"}, namespace),
            rec("insert", "c", (12,), {"_id": "c", "name": "Cy"}, namespace),
            rec("update", "a", (20,), {"_id": "a", "name": "Ada L.", "created_at": "2024-01-02T03:04:05Z"}, namespace),
            rec("delete", "c", (21,), None, namespace),
            rec("delete", "never", (22,), None, namespace),
        ]
        batch = SinkBatch(list(first))
        await sink.write(batch)
        assert batch.failures == []
        a = await _get(client, index, "a")
        assert a is not None and a["_source"]["name"] == "Ada L." and a["_version"] == version_of((20,))
        assert a["_source"]["src_id"] == "a"
        assert (await _get(client, index, "b")) is not None
        assert (await _get(client, index, "c")) is None

        again = SinkBatch(list(first))  # a redelivered batch: 409, 404 or the same content again = done
        await sink.write(again)
        assert again.failures == []
        a2 = await _get(client, index, "a")
        assert a2 is not None and a2["_version"] == a["_version"] and a2["_source"] == a["_source"]

        stale = SinkBatch(
            [
                rec("update", "a", (15,), {"_id": "a", "name": "stale"}, namespace),
                rec("insert", "c", (12,), {"_id": "c", "name": "Cy"}, namespace),
            ]
        )
        await sink.write(stale)
        assert stale.failures == []
        a3 = await _get(client, index, "a")
        assert a3 is not None and a3["_source"]["name"] == "Ada L."
        assert (await _get(client, index, "c")) is None  # the delete's version outranks the old insert

        # equal positions are later changes of one source transaction: the later one wins
        txn = SinkBatch(
            [
                rec("update", "b", (40,), {"_id": "b", "name": "Bob 1"}, namespace),
                rec("update", "b", (40,), {"_id": "b", "name": "Bob 2"}, namespace),
            ]
        )
        await sink.write(txn)
        assert txn.failures == []
        b = await _get(client, index, "b")
        assert b is not None and b["_source"]["name"] == "Bob 2" and b["_version"] == version_of((40,))

        secret = "ada@example.com"
        mixed = SinkBatch(
            [
                rec("insert", "d", (30,), {"_id": "d", "profile": {"city": "Oslo"}}, namespace),
                rec("insert", "e", (31,), {"_id": "e", "profile": secret}, namespace),
                rec("insert", "f", (32,), {"_id": "f", "name": "Fay"}, namespace),
            ]
        )
        await sink.write(mixed)
        assert [f.record.key for f in mixed.failures] == [{"_id": "e"}]
        reason = mixed.failures[0].reason
        assert "mapper_parsing_exception" in reason and "profile" in reason and secret not in reason
        assert (await _get(client, index, "f")) is not None

        await client.indices.refresh(index=index)
        assert (await client.count(index=index))["count"] == 4  # a, b, d, f
        props = (await client.indices.get_mapping(index=index))[index]["mappings"]["properties"]
        assert props["name"]["type"] == "keyword" and props["name"]["fields"]["text"]["type"] == "text"
        assert props["created_at"]["type"] == "date"

        planned = sink.plan(first[:1])
        assert planned == [{"kind": "opensearch", "action": "index", "index": index, "id": "a", "version": 11}]

        second = await opensearch_init(settings, spec, {"users": namespace})  # idempotent
        assert second.policy_result == "updated" and second.templates == report.templates
    finally:
        await sink.stop()
        await client.close()


def test_sink_scenario(target: Target) -> None:
    asyncio.run(sink_scenario(target.url))


# ------------------------------------------------------------------------- fake-only failure modes


def _sink(fake: OpenSearchFake, **spec: Any) -> OpenSearchSink:
    return OpenSearchSink(OpenSearchSpec(**spec), OpenSearchSettings(url=fake.url, timeout=5))


def _records(n: int, start: int = 1) -> list[SinkRecord]:
    return [rec("insert", f"k{i}", (i,), {"_id": f"k{i}", "n": i}, "app.users") for i in range(start, start + n)]


async def _write(sink: OpenSearchSink, records: list[SinkRecord]) -> SinkBatch:
    batch = SinkBatch(records)
    await sink.write(batch)
    return batch


def test_throttling_raises_backpressure_and_the_retry_lands(opensearch_fake: OpenSearchFake) -> None:
    async def run() -> None:
        sink = _sink(opensearch_fake, backpressure_seconds=2.5)
        await sink.start()
        try:
            opensearch_fake.fail_next(1, status=429)
            with pytest.raises(SinkBackpressure) as err:
                await _write(sink, _records(3))
            assert err.value.retry_after == 2.5
            opensearch_fake.reject_items(1)  # item-level 429 inside an HTTP 200 bulk answer
            with pytest.raises(SinkBackpressure, match="rejected 1 of 3"):
                await _write(sink, _records(3))
            batch = await _write(sink, _records(3))  # the runner's retry of the whole batch
            assert batch.failures == []
            assert sorted(opensearch_fake.documents("app_users")) == ["k1", "k2", "k3"]
        finally:
            await sink.stop()

    asyncio.run(run())


def test_server_errors_and_outages_are_retriable(opensearch_fake: OpenSearchFake) -> None:
    async def run() -> None:
        sink = _sink(opensearch_fake)
        await sink.start()
        try:
            opensearch_fake.fail_next(1, status=503)
            with pytest.raises(RetriableSinkError, match="503"):
                await _write(sink, _records(2))
            opensearch_fake.stop()
            with pytest.raises(RetriableSinkError, match="unreachable") as err:
                await _write(sink, _records(2))
            assert f"127.0.0.1:{opensearch_fake.port}" in str(err.value)
            opensearch_fake.start()
            assert (await _write(sink, _records(2))).failures == []
            assert sorted(opensearch_fake.documents("app_users")) == ["k1", "k2"]
        finally:
            await sink.stop()

    asyncio.run(run())


def test_start_against_an_unreachable_url_is_retriable_and_clear() -> None:
    async def run() -> None:
        with OpenSearchFake() as fake:
            port = fake.port
        sink = OpenSearchSink(
            OpenSearchSpec(), OpenSearchSettings(url=f"http://admin:hunter2@127.0.0.1:{port}", timeout=2)
        )
        with pytest.raises(RetriableSinkError) as err:  # an outage: the runner waits it out
            await sink.start()
        message = str(err.value)
        assert f"127.0.0.1:{port} is not reachable" in message and "STREAMPROC_OPENSEARCH__URL" in message
        assert "hunter2" not in message and "admin" not in message
        with pytest.raises(FatalSinkError, match="URL is not set"):
            await OpenSearchSink(OpenSearchSpec(), OpenSearchSettings()).start()

    asyncio.run(run())


def test_start_with_bad_credentials_or_permissions_is_fatal() -> None:
    async def run() -> None:
        with OpenSearchFake(auth=("svc", "right")) as fake:
            wrong = OpenSearchSettings(url=fake.url, username="svc", password="wrong")
            with pytest.raises(FatalSinkError, match="refused the credentials \\(401\\)"):
                await OpenSearchSink(OpenSearchSpec(), wrong).start()
            fake.forbidden = True
            right = OpenSearchSettings(url=fake.url, username="svc", password="right")
            with pytest.raises(FatalSinkError, match="403"):
                await OpenSearchSink(OpenSearchSpec(), right).start()

    asyncio.run(run())


def test_one_write_sends_several_bulk_requests_bounded_by_count_and_bytes(opensearch_fake: OpenSearchFake) -> None:
    async def run() -> None:
        by_count = _sink(opensearch_fake, max_bulk_records=2)
        await by_count.start()
        before = len(opensearch_fake.requests())
        await _write(by_count, _records(5))
        bulks = [p for _, p in opensearch_fake.requests()[before:] if p.endswith("/_bulk")]
        assert len(bulks) == 3
        await by_count.stop()
        by_bytes = _sink(opensearch_fake, max_bulk_bytes=150)
        await by_bytes.start()
        before = len(opensearch_fake.requests())
        await _write(by_bytes, _records(4, start=10))
        bulks = [p for _, p in opensearch_fake.requests()[before:] if p.endswith("/_bulk")]
        assert len(bulks) == 4  # each index action is ~120 bytes
        await by_bytes.stop()
        assert len(opensearch_fake.documents("app_users")) == 9

    asyncio.run(run())


def test_truncates_are_skipped_and_partial_updates_go_to_the_dlq(opensearch_fake: OpenSearchFake) -> None:
    async def run() -> None:
        sink = _sink(opensearch_fake)
        await sink.start()
        truncate = SinkRecord(
            "t", 0, 1, "users", "truncate", "users.truncated", "app.users", {}, (5,), None, None, None, True
        )
        partial = SinkRecord(
            "t", 0, 2, "users", "update", "users.updated", "app.users", {"_id": "p"}, (6,), None, None, None, False
        )
        unpackable = rec("insert", "u", (), {"_id": "u"}, "app.users")
        batch = await _write(sink, [truncate, partial, unpackable, *_records(1)])
        assert [(f.record.offset, f.record.key) for f in batch.failures] == [(2, {"_id": "p"}), (0, {"_id": "u"})]
        assert "partial update" in batch.failures[0].reason and "position is empty" in batch.failures[1].reason
        assert opensearch_fake.documents("app_users") == {"k1": {"src_id": "k1", "n": 1}}
        await sink.stop()

    asyncio.run(run())


def test_rollover_entities_write_through_their_alias(opensearch_fake: OpenSearchFake) -> None:
    async def run() -> None:
        spec = OpenSearchSpec(ism={"entities": ["events"], "delete_after_days": 14})
        settings = OpenSearchSettings(url=opensearch_fake.url)
        report = await opensearch_init(settings, spec, {"users": "app.users", "events": "app.events"})
        assert report.templates == ["streamproc", "streamproc-rollover-app_events"]
        assert report.aliases_created == ["app_events"]
        sink = OpenSearchSink(spec, settings)
        await sink.start()
        ev = rec("insert", "e1", (1,), {"_id": "e1", "kind": "login"}, "app.events", entity="events")
        assert (await _write(sink, [ev])).failures == []
        await sink.stop()
        assert opensearch_fake.documents("app_events-000001") == {"e1": {"src_id": "e1", "kind": "login"}}
        client = AsyncOpenSearch(hosts=[opensearch_fake.url])
        policy = await client.plugins.index_management.get_policy(policy="streamproc-rollover")
        await client.close()
        assert policy["policy"]["ism_template"][0]["index_patterns"] == ["app_events-*"]
        assert policy["policy"]["states"][0]["transitions"][0]["conditions"] == {"min_index_age": "14d"}

    asyncio.run(run())


def test_rollover_alias_is_bootstrapped_by_the_sink_when_init_did_not_run(opensearch_fake: OpenSearchFake) -> None:
    async def run() -> None:
        sink = _sink(opensearch_fake, ism={"entities": ["events"]})
        await sink.start()
        ev = rec("insert", "e1", (1,), {"kind": "login"}, "app.events", entity="events")
        await _write(sink, [ev])
        await sink.stop()
        assert "app_events-000001" in opensearch_fake.indices() and "app_events" not in opensearch_fake.indices()

    asyncio.run(run())


def test_start_with_create_missing_bootstraps_aliases_once(opensearch_fake: OpenSearchFake) -> None:
    async def run() -> None:
        spec = OpenSearchSpec(ism={"entities": ["events"]})
        sink = OpenSearchSink(
            spec,
            OpenSearchSettings(url=opensearch_fake.url),
            namespaces={"users": "app.users", "events": "app.events"},
            create_missing=True,
        )
        await sink.start()
        assert "app_events-000001" in opensearch_fake.indices()
        before = len(opensearch_fake.requests())
        ev = rec("insert", "e1", (1,), {"kind": "login"}, "app.events", entity="events")
        assert (await _write(sink, [ev])).failures == []
        await sink.stop()
        sent = opensearch_fake.requests()[before:]
        assert [p for _, p in sent] == ["/_bulk"]  # no alias look-up: start() bootstrapped it
        assert opensearch_fake.documents("app_events-000001") == {"e1": {"kind": "login"}}

    asyncio.run(run())


def test_init_rejects_entities_without_a_source(opensearch_fake: OpenSearchFake) -> None:
    spec = OpenSearchSpec(entities=["users", "ghosts"])
    with pytest.raises(ConfigError, match="ghosts is not an entity"):
        asyncio.run(opensearch_init(OpenSearchSettings(url=opensearch_fake.url), spec, {"users": "app.users"}))


def test_start_can_install_what_is_missing(opensearch_fake: OpenSearchFake) -> None:
    async def run() -> None:
        sink = OpenSearchSink(
            OpenSearchSpec(),
            OpenSearchSettings(url=opensearch_fake.url),
            namespaces={"users": "app.users"},
            create_missing=True,
        )
        await sink.start()
        await sink.stop()
        client = AsyncOpenSearch(hosts=[opensearch_fake.url])
        assert await client.indices.exists_index_template(name="streamproc")
        await client.close()

    asyncio.run(run())


def test_opensearch_down_at_start_is_waited_out_by_the_runner(opensearch_fake: OpenSearchFake) -> None:
    opensearch_fake.stop()
    back = threading.Timer(2.0, opensearch_fake.start)
    back.start()
    try:
        delivery = asyncio.run(deliver(_sink(opensearch_fake), _records(3), entities=["users"]))
    finally:
        back.join()
    retries = delivery.metrics.registry.get_sample_value(
        "streamproc_sink_retries_total", {"sink": "opensearch", "reason": "transient"}
    )
    assert retries is not None and retries > 0  # the start really failed and was retried
    assert delivery.written == 3 and sorted(opensearch_fake.documents("app_users")) == ["k1", "k2", "k3"]


def test_a_mapping_error_quoting_a_value_reaches_no_exception_log_dlq_or_metric(
    opensearch_fake: OpenSearchFake, caplog: pytest.LogCaptureFixture
) -> None:
    """The stand-in answers a mapping error as OpenSearch does, quoting the value ("Preview of
    field's value: …"): the record goes to the DLQ naming type and field only, and the canary is
    in no log record, DLQ reason or metric label (nor in a metric label as a foreign entity name).
    A whole request refused with a body quoting a value: tests/unit/sinks/test_boundary_privacy.py."""
    canary = "canary-" + uuid.uuid4().hex[:12] + "@example.org"
    raw = httpx.post(
        f"{opensearch_fake.url}/_bulk",
        content=b'{"index":{"_index":"probe","_id":"1"}}\n{"n":1}\n{"index":{"_index":"probe","_id":"2"}}\n'
        + json.dumps({"n": canary}).encode()
        + b"\n",
        headers={"Content-Type": "application/x-ndjson"},
    ).text
    assert canary in raw  # the stand-in really quotes the value

    caplog.set_level(logging.DEBUG)
    records = [
        rec("insert", "a", (1,), {"_id": "a", "age": 41}, "app.users"),
        rec("insert", "b", (2,), {"_id": "b", "age": canary}, "app.users"),
        rec("insert", "c", (3,), {"_id": "c", "age": 7}, "app.users", entity=canary),  # a foreign entity
    ]
    sink = _sink(opensearch_fake, entities="all")
    delivery = asyncio.run(deliver(sink, records, entities=["users"]))
    assert [f.record.key for f in delivery.dlq] == [{"_id": "b"}]
    reason = delivery.dlq[0].reason
    assert "mapper_parsing_exception" in reason and "field age" in reason
    assert delivery.written == 2 and sorted(opensearch_fake.documents("app_users")) == ["a", "c"]
    other = delivery.metrics.registry.get_sample_value(
        "streamproc_sink_records_total", {"sink": "opensearch", "entity": "other"}
    )
    assert other == 1  # the foreign entity is counted under "other"
    assert leaks(canary, delivery, caplog) == []
