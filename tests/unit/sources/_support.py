"""Helpers shared by the decoder tests (imported by conftest.py and the test modules)."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

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
