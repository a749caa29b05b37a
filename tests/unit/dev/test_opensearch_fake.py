"""The fake OpenSearch (:mod:`streamproc.dev.opensearch_fake`) answers like OpenSearch: checked
here through opensearch-py's synchronous client, over real HTTP."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from typing import Any

import pytest
from opensearchpy import OpenSearch
from opensearchpy.exceptions import (
    AuthenticationException,
    AuthorizationException,
    ConflictError,
    NotFoundError,
    RequestError,
    TransportError,
)
from opensearchpy.exceptions import (
    ConnectionError as OsConnectionError,
)

from streamproc.dev.opensearch_fake import OpenSearchFake


@pytest.fixture
def client(opensearch_fake: OpenSearchFake) -> Iterator[OpenSearch]:
    c = OpenSearch(hosts=[opensearch_fake.url], max_retries=0, timeout=5)
    yield c
    c.close()


def bulk(client: OpenSearch, *actions: tuple[dict[str, Any], dict[str, Any] | None]) -> list[dict[str, Any]]:
    lines = []
    for meta, doc in actions:
        lines.append(json.dumps(meta))
        if doc is not None:
            lines.append(json.dumps(doc))
    resp = client.bulk(body="\n".join(lines) + "\n")
    return [next(iter(item.values())) for item in resp["items"]]


def idx(doc_id: str, version: int, index: str = "people") -> dict[str, Any]:
    return {"index": {"_index": index, "_id": doc_id, "version": version, "version_type": "external"}}


def dele(doc_id: str, version: int, index: str = "people") -> dict[str, Any]:
    return {"delete": {"_index": index, "_id": doc_id, "version": version, "version_type": "external"}}


def test_cluster_info(client: OpenSearch) -> None:
    info = client.info()
    assert info["version"]["distribution"] == "opensearch"
    assert info["version"]["number"].startswith("2.")


def test_external_versions(client: OpenSearch, opensearch_fake: OpenSearchFake) -> None:
    created, same, newer, older = bulk(
        client,
        (idx("1", 5), {"n": "a"}),
        (idx("1", 5), {"n": "b"}),
        (idx("1", 6), {"n": "c"}),
        (idx("1", 2), {"n": "d"}),
    )
    assert (created["status"], created["result"], created["_version"]) == (201, "created", 5)
    assert same["status"] == 409 and same["error"]["type"] == "version_conflict_engine_exception"
    assert (newer["status"], newer["result"], newer["_version"]) == (200, "updated", 6)
    assert older["status"] == 409
    got = client.get(index="people", id="1")
    assert got["_source"] == {"n": "c"} and got["_version"] == 6
    stale_delete, deleted, again, missing = bulk(
        client, (dele("1", 6), None), (dele("1", 7), None), (dele("1", 8), None), (dele("2", 3), None)
    )
    assert stale_delete["status"] == 409
    assert (deleted["status"], deleted["result"]) == (200, "deleted")
    assert (again["status"], again["result"]) == (404, "not_found")
    assert (missing["status"], missing["result"]) == (404, "not_found")
    (resurrect_stale,) = bulk(client, (idx("2", 2), {"n": "old"}))
    assert resurrect_stale["status"] == 409  # the delete tombstone keeps version 3
    assert opensearch_fake.documents("people") == {}
    assert client.count(index="people")["count"] == 0


def test_delete_with_external_version_creates_the_missing_index(client: OpenSearch) -> None:
    (res,) = bulk(client, (dele("x", 1, index="fresh"), None))
    assert res["status"] == 404 and res["result"] == "not_found"
    assert client.indices.exists(index="fresh")


def test_mapping_errors_like_opensearch(client: OpenSearch) -> None:
    ok, conflict, scalar, meta = bulk(
        client,
        (idx("1", 1), {"address": {"city": "Oslo"}, "age": 3}),
        (idx("2", 1), {"address": "Oslo"}),
        (idx("3", 1), {"age": "three"}),
        (idx("4", 1), {"_id": "4"}),
    )
    assert ok["status"] == 201
    assert conflict["status"] == 400 and conflict["error"]["type"] == "mapper_parsing_exception"
    assert "object mapping for [address]" in conflict["error"]["reason"]
    assert scalar["error"]["type"] == "mapper_parsing_exception"
    assert "field [age] of type [long]" in scalar["error"]["reason"]
    assert scalar["error"]["caused_by"]["type"] == "number_format_exception"
    assert "metadata field" in meta["error"]["reason"]
    mapping = client.indices.get_mapping(index="people")["people"]["mappings"]
    assert mapping["properties"]["address"] == {
        "properties": {"city": {"type": "text", "fields": {"keyword": {"type": "keyword", "ignore_above": 256}}}}
    }


def test_strict_mapping_and_field_limit(client: OpenSearch) -> None:
    client.indices.create(
        index="strict", body={"mappings": {"dynamic": "strict", "properties": {"a": {"type": "long"}}}}
    )
    ok, new_field = bulk(client, (idx("1", 1, "strict"), {"a": 1}), (idx("2", 1, "strict"), {"b": 1}))
    assert ok["status"] == 201
    assert new_field["error"]["type"] == "strict_dynamic_mapping_exception"
    client.indices.create(index="small", body={"settings": {"index.mapping.total_fields.limit": 2}})
    (res,) = bulk(client, (idx("1", 1, "small"), {"a": 1, "b": 2, "c": 3}))
    assert res["error"]["type"] == "illegal_argument_exception" and "Limit of total fields" in res["error"]["reason"]


def test_templates_apply_at_auto_create(client: OpenSearch) -> None:
    body = {
        "index_patterns": ["app_*"],
        "priority": 10,
        "template": {
            "settings": {"number_of_replicas": 0},
            "mappings": {
                "date_detection": False,
                "dynamic_templates": [
                    {"dates": {"match_mapping_type": "string", "match": "*_at", "mapping": {"type": "date"}}},
                    {
                        "strings": {
                            "match_mapping_type": "string",
                            "mapping": {"type": "keyword", "fields": {"text": {"type": "text"}}},
                        }
                    },
                ],
            },
        },
    }
    client.indices.put_index_template(name="app", body=body)
    assert client.indices.get_index_template(name="app")["index_templates"][0]["index_template"] == body
    good, bad_date = bulk(
        client,
        (idx("1", 1, "app_users"), {"name": "Ada", "created_at": "2024-02-01T10:00:00Z"}),
        (idx("2", 1, "app_users"), {"updated_at": "yesterday"}),
    )
    assert good["status"] == 201
    assert bad_date["error"]["type"] == "mapper_parsing_exception"
    props = client.indices.get_mapping(index="app_users")["app_users"]["mappings"]["properties"]
    assert props["name"] == {"type": "keyword", "fields": {"text": {"type": "text"}}}
    assert props["created_at"] == {"type": "date"}
    settings = client.indices.get(index="app_users")["app_users"]["settings"]["index"]
    assert settings["number_of_replicas"] == "0"
    with pytest.raises(RequestError, match="same priority"):
        client.indices.put_index_template(name="clash", body={"index_patterns": ["app_users"], "priority": 10})
    with pytest.raises(NotFoundError):
        client.indices.get_index_template(name="nope")


def test_aliases_route_writes_to_the_write_index(client: OpenSearch, opensearch_fake: OpenSearchFake) -> None:
    client.indices.create(index="events-000001", body={"aliases": {"events": {"is_write_index": True}}})
    assert client.indices.exists_alias(name="events")
    (res,) = bulk(client, (idx("e1", 1, "events"), {"k": 1}))
    assert res["_index"] == "events-000001"
    assert opensearch_fake.documents("events") == {"e1": {"k": 1}}
    assert client.get(index="events", id="e1")["_source"] == {"k": 1}


def test_ism_policy_create_needs_seq_no_to_update(client: OpenSearch) -> None:
    body = {
        "policy": {
            "description": "d",
            "default_state": "hot",
            "states": [
                {
                    "name": "hot",
                    "actions": [{"rollover": {"min_doc_count": 5}}],
                    "transitions": [{"state_name": "delete", "conditions": {"min_index_age": "1d"}}],
                },
                {"name": "delete", "actions": [{"delete": {}}], "transitions": []},
            ],
        }
    }
    ism = client.plugins.index_management
    with pytest.raises(NotFoundError):
        ism.get_policy(policy="p1")
    created = ism.put_policy(policy="p1", body=body)
    assert created["_id"] == "p1" and created["policy"]["policy"]["default_state"] == "hot"
    with pytest.raises(ConflictError):
        ism.put_policy(policy="p1", body=body)
    got = ism.get_policy(policy="p1")
    ism.put_policy(
        policy="p1", body=body, params={"if_seq_no": got["_seq_no"], "if_primary_term": got["_primary_term"]}
    )
    assert ism.get_policy(policy="p1")["_version"] == 2
    broken = {"policy": {"default_state": "nope", "states": []}}
    with pytest.raises(RequestError):
        ism.put_policy(policy="p2", body=broken)


def test_stop_and_start_keep_port_and_state(opensearch_fake: OpenSearchFake, client: OpenSearch) -> None:
    bulk(client, (idx("1", 1), {"n": 1}))
    url = opensearch_fake.url
    opensearch_fake.stop()
    with pytest.raises(OsConnectionError):
        client.info()
    opensearch_fake.start()
    assert opensearch_fake.url == url
    assert client.get(index="people", id="1")["_source"] == {"n": 1}


def test_injected_faults(opensearch_fake: OpenSearchFake, client: OpenSearch) -> None:
    opensearch_fake.fail_next(2, status=429)
    for _ in range(2):
        with pytest.raises(TransportError) as err:
            bulk(client, (idx("1", 1), {"n": 1}))
        assert err.value.status_code == 429
    opensearch_fake.fail_next(1, status=503)
    with pytest.raises(TransportError) as err:
        bulk(client, (idx("1", 1), {"n": 1}))
    assert err.value.status_code == 503
    opensearch_fake.reject_items(1)
    rejected, ok = bulk(client, (idx("1", 1), {"n": 1}), (idx("2", 1), {"n": 2}))
    assert rejected["status"] == 429 and rejected["error"]["type"] == "es_rejected_execution_exception"
    assert ok["status"] == 201


def test_auth() -> None:
    with OpenSearchFake(auth=("admin", "s3cret")) as fake:
        with pytest.raises(AuthenticationException):
            OpenSearch(hosts=[fake.url], max_retries=0).info()
        good = OpenSearch(hosts=[fake.url], http_auth=("admin", "s3cret"), max_retries=0)
        assert good.info()["version"]["distribution"] == "opensearch"
        fake.forbidden = True
        with pytest.raises(AuthorizationException):
            good.info()


def test_restart_is_quick_with_open_keepalive_connections(opensearch_fake: OpenSearchFake, client: OpenSearch) -> None:
    client.info()  # leaves a pooled keep-alive connection open
    started = time.monotonic()
    opensearch_fake.stop()
    opensearch_fake.start()
    assert time.monotonic() - started < 5
    assert client.info()["cluster_name"] == "opensearch-fake"
