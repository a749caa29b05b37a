"""Seed corpora of the fuzz targets, built from what the project already trusts:

* the CDC corpus (``$STREAMPROC_CORPUS``, else ``<repo>/../shared/cdc-corpus``, as the unit tests
  find it): every published record of every format, by file-name prefix;
* the demo generator (:func:`streamproc.dev.demo.generator.generate`): Debezium MongoDB streams
  for the shipped configuration, with duplicates, reorders, tombstones and malformed records;
* the Avro records of :mod:`fuzz.avro_schemas`, Confluent-framed;
* the pipelines files of the repository (``config/``, ``bench/``);
* the literal records and pipelines texts of the unit tests, and a few hand-written inputs of the
  classes issue 10 lists (:mod:`fuzz.literals`), so the fuzzer starts next to the limits instead
  of having to find them.

:func:`write_seeds` writes a target's seeds into a directory (one file per seed, named by its
hash), which the runner passes to libFuzzer as a read-only corpus.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

from fuzz.avro_schemas import COMPLEX, RECORDS, SCHEMAS, SQL_ENVELOPE, frame, schema_mode_input
from fuzz.harness import join_record
from fuzz.literals import CONFIG_SNIPPETS, EXTJSON_WRAPPERS, compact, hostile_values, unit_test_literals

__all__ = ["REPO_ROOT", "corpus_dir", "corpus_records", "seeds_for", "write_seeds", "dictionary", "write_dictionary"]

REPO_ROOT = Path(__file__).resolve().parents[1]

#: corpus file-name prefix per decoder target (the corpus names files ``<prefix>__<case>__<n>.json``)
_PREFIXES = {
    "debezium_mongo": ("debezium_mongodb",),
    "debezium_sql": ("debezium_postgres",),
    "mongo_kafka": ("mongo_kafka",),
    "dms": ("aws_dms",),
    "flat": ("debezium_mongodb_unwrap", "debezium_postgres_unwrap"),
}


def corpus_dir() -> Path:
    env = os.environ.get("STREAMPROC_CORPUS")
    return Path(env) if env else REPO_ROOT.parent / "shared" / "cdc-corpus"


def corpus_records(*prefixes: str) -> list[tuple[str, Any, Any]]:
    """``(topic, key, value)`` of every corpus file whose prefix is one of ``prefixes`` (all if none)."""
    directory = corpus_dir()
    if not directory.is_dir():
        return []
    out = []
    for path in sorted(directory.glob("*.json")):
        prefix = path.name.split("__", 1)[0]
        if prefixes and prefix not in prefixes:
            continue
        record = json.loads(path.read_text())
        out.append((str(record.get("topic") or ""), record.get("key"), record.get("value")))
    return out


def _decoder_seeds(target: str) -> list[bytes]:
    seeds = [join_record(topic, key, value) for topic, key, value in corpus_records(*_PREFIXES[target])]
    seeds += [join_record("", None, value) for value in unit_test_literals()[0]]
    if target == "debezium_mongo":
        seeds += [join_record(r.topic, r.key, r.value) for r in _demo_records(documents=2)]
    return seeds + [join_record("", None, v) for v in hostile_values()]


def _demo_records(documents: int) -> Iterator[Any]:
    from streamproc.dev.demo.generator import generate

    yield from generate(documents=documents, updates=3, seed=7).records


def _detect_seeds() -> list[bytes]:
    seeds = [join_record(topic, key, value) for topic, key, value in corpus_records()]
    seeds += [join_record("", None, value) for value in unit_test_literals()[0]]
    return seeds + [join_record("", None, v) for v in hostile_values()]


def _avro_seeds() -> list[bytes]:
    seeds = [b"\x00" + frame(schema_id, SCHEMAS[schema_id], record) for schema_id, record in RECORDS]
    seeds.append(b"\x02" + frame(1, SQL_ENVELOPE, RECORDS[0][1]))
    seeds.append(schema_mode_input(COMPLEX, RECORDS[-1][1]))
    seeds.append(schema_mode_input(SQL_ENVELOPE, RECORDS[1][1]))
    seeds.append(b"\x00\x00\x00\x00\x00\x63")  # an unknown schema id
    return seeds


def _extjson_seeds() -> list[bytes]:
    seeds: list[bytes] = []
    for _topic, _key, value in corpus_records("debezium_mongodb", "mongo_kafka"):
        if type(value) is dict:
            for name in ("after", "before", "patch", "filter"):
                if type(value.get(name)) is str:
                    seeds.append(value[name].encode())
            doc = value.get("fullDocument")
            if doc is not None:
                seeds.append(compact(doc))
    seeds += [compact(v) for v in EXTJSON_WRAPPERS]
    return seeds + [b'{"a": NaN, "b": Infinity, "c": 1.0E+20}']


def _config_seeds() -> list[bytes]:
    paths = sorted((REPO_ROOT / "config").glob("*.yaml")) + sorted((REPO_ROOT / "bench").glob("*.yaml"))
    seeds = [p.read_bytes() for p in paths] + unit_test_literals()[1]
    seeds += CONFIG_SNIPPETS
    return seeds


def _processor_line(topic: str, key: bytes | None, value: bytes | None) -> bytes:
    return topic.encode() + b"\t" + (key or b"") + b"\t" + (b"~" if value is None else value)


def _processor_seeds() -> list[bytes]:
    from streamproc.dev.demo.generator import generate

    seeds: list[bytes] = []
    for seed in (1, 2):
        lanes: dict[tuple[str, bytes | None], list[bytes]] = {}
        for r in generate(documents=2, updates=4, seed=seed).records:
            lanes.setdefault((r.topic, r.key), []).append(_processor_line(r.topic, r.key, r.value))
        seeds += [b"\n".join(lines[:16]) for lines in lanes.values()]
    orders = [
        _processor_line(
            "pg.public.orders", compact(k) if k is not None else None, compact(v) if v is not None else None
        )
        for _t, k, v in corpus_records("debezium_postgres")
    ]
    seeds += [b"\n".join(orders[i : i + 4]) for i in range(0, len(orders), 4)]
    users = "cdc.Facilitron_common.users"
    insert = {
        "op": "c",
        "after": json.dumps({"_id": {"$oid": "5f1e3c4d5e6f0b7f7a3e5c1c"}, "email": "a@example.org", "tags": [1, 2]}),
        "source": {
            "connector": "mongodb",
            "ts_ms": 1_767_225_600_000,
            "db": "Facilitron_common",
            "collection": "users",
            "ord": 1,
        },
    }
    key = compact({"id": json.dumps({"$oid": "5f1e3c4d5e6f0b7f7a3e5c1c"})})
    for value in hostile_values()[:5]:
        seeds.append(b"\n".join([_processor_line(users, key, compact(insert)), _processor_line(users, key, value)]))
    return seeds


_BUILDERS: dict[str, Callable[[], list[bytes]]] = {
    "debezium_mongo": lambda: _decoder_seeds("debezium_mongo"),
    "debezium_sql": lambda: _decoder_seeds("debezium_sql"),
    "mongo_kafka": lambda: _decoder_seeds("mongo_kafka"),
    "dms": lambda: _decoder_seeds("dms"),
    "flat": lambda: _decoder_seeds("flat"),
    "avro": _avro_seeds,
    "detect": _detect_seeds,
    "extjson": _extjson_seeds,
    "config_loader": _config_seeds,
    "processor": _processor_seeds,
}


def seeds_for(target: str) -> list[bytes]:
    """The seed inputs of ``target`` (a name from :data:`fuzz.targets.TARGETS`)."""
    return _BUILDERS[target]()


def _json_parts(seed: bytes) -> Iterator[Any]:
    """The JSON texts inside a seed (framed records, processor lines, JSON strings inside them)."""
    for line in seed.split(b"\n"):
        for part in line.split(b"\t"):
            try:
                value = json.loads(part)
            except ValueError:
                continue
            stack = [value]
            while stack:
                item = stack.pop()
                if type(item) is dict:
                    yield item
                    stack.extend(item.values())
                elif type(item) is list:
                    stack.extend(item)
                elif type(item) is str and item[:1] in ("{", "["):
                    with contextlib.suppress(ValueError):
                        stack.append(json.loads(item))


def dictionary(target: str) -> list[bytes]:
    """libFuzzer dictionary tokens for ``target``: every object key of its seeds as JSON text
    (``"after"``, and ``\\"after\\"`` as inside a JSON string), the YAML keys of the pipelines
    files; nothing for the binary Avro target."""
    if target == "avro":
        return []
    tokens: set[bytes] = set()
    for seed in seeds_for(target):
        if target == "config_loader":
            for line in seed.decode("utf-8", "replace").splitlines():
                head = line.strip().lstrip("-{ ").split(":", 1)[0]
                if 0 < len(head) <= 30 and head.replace("_", "").isalnum():
                    tokens.add(f"{head}:".encode())
            continue
        for obj in _json_parts(seed):
            for key in obj:
                if 0 < len(key) <= 30:
                    quoted = json.dumps(key)
                    tokens.add(quoted.encode())
                    tokens.add(json.dumps(quoted)[1:-1].encode())  # as written inside a JSON string
    return sorted(tokens)


def write_dictionary(target: str, path: Path) -> int:
    """Write :func:`dictionary` in libFuzzer's ``-dict`` format; return the number of tokens."""
    tokens = dictionary(target)
    lines = []
    for token in tokens:
        escaped = "".join(chr(b) if 32 <= b < 127 and b not in (34, 92) else f"\\x{b:02x}" for b in token)
        lines.append(f'"{escaped}"')
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("\n".join(lines) + "\n" if lines else "")
    return len(tokens)


def write_seeds(target: str, directory: Path) -> int:
    """Write ``target``'s seeds into ``directory`` (created), one file each; return how many."""
    directory.mkdir(parents=True, exist_ok=True)
    seeds = seeds_for(target)
    for seed in seeds:
        (directory / hashlib.sha1(seed).hexdigest()).write_bytes(seed)
    return len(seeds)
