"""Helpers shared by the decoder tests (imported by conftest.py and the test modules)."""

from __future__ import annotations

import io
import json
import os
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import fastavro

REPO_ROOT = Path(__file__).resolve().parents[3]

#: corpus file-name prefix → the format that file is in
PREFIX_FORMATS = {
    "debezium_mongodb": "debezium-mongodb",
    "debezium_mongodb_unwrap": "debezium-mongodb-flat",
    "debezium_postgres": "debezium-sql",
    "debezium_postgres_unwrap": "debezium-sql-flat",
    "mongo_kafka": "mongo-kafka",
    "aws_dms": "dms",
}


#: the MongoDB Server manual shapes whose clusterTime is the placeholder "<Timestamp>"
PLACEHOLDER_ERRORS = {
    "mongo_kafka__update__1",
    "mongo_kafka__update__2",
    "mongo_kafka__replace__1",
    "mongo_kafka__delete__2",
}


def corpus_dir() -> Path:
    env = os.environ.get("STREAMPROC_CORPUS")
    return Path(env) if env else REPO_ROOT.parent / "shared" / "cdc-corpus"


def corpus_names() -> list[str]:
    directory = corpus_dir()
    if not directory.is_dir():
        return []
    return sorted(p.stem for p in directory.glob("*.json"))


def format_of(name: str) -> str:
    return PREFIX_FORMATS[name.split("__", 1)[0]]


def strict_json(text: str) -> Any:
    """Parse ``text`` as strict JSON (fails on NaN/Infinity tokens)."""

    def reject(token: str) -> Any:
        raise ValueError(f"non-strict JSON token {token}")

    return json.loads(text, parse_constant=reject)


def dumps(obj: Any) -> bytes:
    """JSON bytes as a Kafka JsonConverter would write them."""
    return json.dumps(obj).encode()


class FakeRegistry:
    """Minimal registry: ``get_schema(id)`` like SchemaRegistryClient, counting lookups."""

    def __init__(self) -> None:
        self.schemas: dict[int, Any] = {}
        self.lookups = 0
        self.fail_with: Exception | None = None

    def add(self, schema: Any, schema_type: str = "AVRO") -> int:
        schema_id = len(self.schemas) + 1
        self.schemas[schema_id] = SimpleNamespace(schema_str=json.dumps(schema), schema_type=schema_type)
        return schema_id

    def get_schema(self, schema_id: int) -> Any:
        self.lookups += 1
        if self.fail_with is not None:
            raise self.fail_with
        if schema_id not in self.schemas:
            raise NotFound()
        return self.schemas[schema_id]


class NotFound(Exception):
    http_status_code = 404


def frame(schema_id: int, schema: Any, record: Any) -> bytes:
    buf = io.BytesIO()
    fastavro.schemaless_writer(buf, fastavro.parse_schema(schema), record)
    return b"\x00" + schema_id.to_bytes(4, "big") + buf.getvalue()
