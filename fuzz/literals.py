"""Inputs written by hand, and by the unit tests, for the seed corpora (:mod:`fuzz.seeds`).

* :func:`hostile_values`: small records of each input class issue 10 reproduced (deep update
  paths, padded arrays, dotted names, absurd decimal scales, out-of-range dates, deep nesting,
  lone surrogates, invalid UTF-8, non-finite numbers);
* :data:`EXTJSON_WRAPPERS`: one document per Extended JSON wrapper type, canonical and legacy;
* :data:`CONFIG_SNIPPETS`: small pipelines files (anchors, merge keys, a catastrophic regex,
  invalid UTF-8);
* :func:`unit_test_literals`: the CDC records (JSON strings and dict literals carrying a marker
  key) and pipelines texts written literally in ``tests/unit``, read with :mod:`ast`, never
  imported.
"""

from __future__ import annotations

import ast
import contextlib
import json
from pathlib import Path
from typing import Any

__all__ = ["CONFIG_SNIPPETS", "EXTJSON_WRAPPERS", "compact", "hostile_values", "unit_test_literals"]

_REPO_ROOT = Path(__file__).resolve().parents[1]

EXTJSON_WRAPPERS: list[dict[str, Any]] = [
    {
        "a": {"$numberLong": "9223372036854775808"},
        "b": {"$numberInt": "7"},
        "c": {"$numberDouble": "-Infinity"},
    },
    {"d": {"$date": {"$numberLong": "253402300800000"}}, "e": {"$date": "2026-01-01T00:00:00Z"}},
    {"f": {"$numberDecimal": "1E+6144"}, "g": {"$binary": {"base64": "AA==", "subType": "04"}}},
    {"h": {"$timestamp": {"t": 1, "i": 2}}, "i": {"$regularExpression": {"pattern": "^a", "options": "i"}}},
    {"j": {"$minKey": 1}, "k": {"$maxKey": 1}, "l": {"$undefined": True}, "m": {"$uuid": "00" * 16}},
    {"n": {"$code": "f()", "$scope": {"x": 1}}, "o": {"$ref": "c", "$id": {"$oid": "0" * 24}, "$db": "d"}},
    {"p": {"$regex": "a", "$options": "m"}, "q": {"$binary": "AA==", "$type": "00"}, "r": {"$oid": "zz"}},
    {"s": {"$symbol": "x"}, "t": {"$dbPointer": {"$ref": "c", "$id": {"$oid": "1" * 24}}}},
]

CONFIG_SNIPPETS: list[bytes] = [
    b"version: 1\nsources:\n  - {entity: a, topic: t.a, key: [id], format: dms}\n",
    b"version: 1\nx-r: &r [{path: email, mode: HASH}]\nsources:\n  - entity: a\n    namespace: d.a\n    redact: *r\n",
    b"version: 1\nx-b: &b {key: [_id]}\nsources:\n  - <<: *b\n    entity: a\n    namespace: d.a\n",
    b"version: 1\nsources:\n  - entity: a\n    namespace: d.a\n"
    b"    validate: [{field: x, type: string, pattern: '(a+)+$'}]\n",
    b"version: 1\nsources: []\n\xff\xfe",
]


_MARKERS = frozenset(
    ("op", "operationType", "metadata", "payload", "schema", "__deleted", "__op", "updateDescription", "fullDocument")
)


def unit_test_literals() -> tuple[list[Any], list[bytes]]:
    """(CDC records, pipelines texts) written literally in ``tests/unit``."""
    records: list[Any] = []
    configs: list[bytes] = []
    for path in sorted((_REPO_ROOT / "tests" / "unit").rglob("*.py")):
        try:
            tree = ast.parse(path.read_text(encoding="utf-8"))
        except (SyntaxError, UnicodeDecodeError):
            continue
        for node in ast.walk(tree):
            value: Any = None
            if isinstance(node, ast.Constant) and isinstance(node.value, (str, bytes)) and len(node.value) >= 10:
                text = node.value
                if "sources:" in (text if isinstance(text, str) else text.decode("utf-8", "replace")):
                    configs.append(text.encode() if isinstance(text, str) else text)
                    continue
                try:
                    value = json.loads(text)
                except ValueError:
                    continue
            elif isinstance(node, ast.Dict):
                try:
                    value = ast.literal_eval(node)
                except (ValueError, TypeError, SyntaxError, MemoryError, RecursionError):
                    continue
            if isinstance(value, dict) and _MARKERS & set(value):
                with contextlib.suppress(TypeError, ValueError):
                    json.dumps(value)
                    records.append(value)
    return records, configs


def compact(value: Any) -> bytes:
    return json.dumps(value, separators=(",", ":"), ensure_ascii=False).encode("utf-8", "surrogatepass")


def _mongo_update(fields: dict[str, Any], ord_: int = 1) -> dict[str, Any]:
    source = {"connector": "mongodb", "name": "cdc", "ts_ms": 1_767_225_600_000, "db": "Facilitron_common"}
    return {
        "op": "u",
        "ts_ms": 1_767_225_600_001,
        "before": None,
        "after": None,
        "updateDescription": {"updatedFields": json.dumps(fields), "removedFields": None, "truncatedArrays": None},
        "source": {**source, "collection": "users", "ord": ord_},
    }


def hostile_values() -> list[bytes]:
    """Values of the classes issue 10 reproduced (each in a small form)."""
    deep = "[" * 300 + "]" * 300
    decimal = {
        "schema": {"type": "bytes", "name": "org.apache.kafka.connect.data.Decimal", "parameters": {"scale": "99999"}}
    }
    values: list[Any] = [
        _mongo_update({"tags.300000000": 1}),
        _mongo_update({".".join(["a"] * 500): 1}),
        _mongo_update({f"tags.{n}.99999": 1 for n in range(20)}),
        _mongo_update({"contacts.email": "x@example.org", "phones": ["+1 555-0100"]}),
        {
            "op": "c",
            "after": json.dumps({"_id": 1, "contacts.email": "x@example.org", "ssn.full": "000-00-0000"}),
            "source": {"connector": "mongodb", "ts_ms": 1, "db": "Facilitron_common", "collection": "users", "ord": 1},
        },
        {
            "schema": {"type": "struct", "fields": [{"field": "amount", **decimal["schema"]}]},
            "payload": {"amount": "AQ=="},
        },
        {"op": "c", "after": {"id": 1, "at": 253402300800000000}, "source": {"connector": "postgresql", "ts_ms": 1}},
    ]
    out = [compact(v) for v in values]
    out += [deep.encode(), b'{"op":"c","after":"\\ud800"}', b'{"op":"c","after":"\xff\xfe"}', b"1e400", b"NaN"]
    return out
