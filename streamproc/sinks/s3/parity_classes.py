"""The class of one parity pair, pure: two documents' bytes (or one side missing) and, with
``--config``, what the pipeline makes of the trigger-side (left) document.

Exactly one class per pair, first match wins:

- ``identical``: the same bytes;
- ``equal-after-pipeline``: the left document, run through the pipeline (validation, transforms,
  redaction), equals the right one as a JSON value (key order and spacing aside); without a
  pipeline, equal as JSON values;
- ``numeric-representation``: equal once Decimal128/Int64 spellings (``{"$numberDecimal": "1.5"}``,
  ``{"$numberLong": "7"}``, a decimal string, a number) are read as the numbers they are;
- ``fields-differ``: anything else, with the differing field paths (never values);
- ``missing-left`` / ``missing-right``: the pair exists on one side only (right / left);
- ``dlq-by-rule``: a right-side miss the pipeline sends to the DLQ, with the rule's name.

The pipeline is passed in as a function (:data:`Pipeline`) so this module needs no config.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation
from typing import Any

import orjson

__all__ = [
    "CLASSES",
    "MATCHED",
    "Piped",
    "Pipeline",
    "classify_pair",
    "classify_left_only",
    "unwrap_numbers",
    "numbers_equal",
    "diff_paths",
    "MAX_PATHS",
]

IDENTICAL = "identical"
EQUAL = "equal-after-pipeline"
NUMERIC = "numeric-representation"
FIELDS = "fields-differ"
MISSING_LEFT = "missing-left"
MISSING_RIGHT = "missing-right"
DLQ = "dlq-by-rule"
CLASSES: tuple[str, ...] = (IDENTICAL, EQUAL, NUMERIC, FIELDS, MISSING_LEFT, MISSING_RIGHT, DLQ)
MATCHED: tuple[str, ...] = (IDENTICAL, EQUAL)
"""Classes counted as matches (``numeric-representation`` too with ``--numeric-equal``)."""

#: At most this many differing field paths are kept per pair.
MAX_PATHS = 20
_NUMBER_WRAPPERS = ("$numberDecimal", "$numberLong", "$numberInt", "$numberDouble")


@dataclass(frozen=True, slots=True)
class Piped:
    """What the pipeline made of a document: the clean document, or the rule that sends it to the DLQ."""

    doc: Any = None
    rule: str | None = None


Pipeline = Callable[[Any], Piped]


def _loads(data: bytes) -> tuple[bool, Any]:
    try:
        return True, orjson.loads(data)
    except orjson.JSONDecodeError:
        return False, None


def _wrapped_number(v: dict[str, Any]) -> str | None:
    if len(v) == 1:
        ((k, inner),) = v.items()
        if k in _NUMBER_WRAPPERS and isinstance(inner, str):
            return inner
    return None


def unwrap_numbers(value: Any) -> Any:
    """Extended JSON number wrappers as the worker's decoder reads them: ``$numberDecimal`` → the
    decimal string, ``$numberLong``/``$numberInt`` → an integer, ``$numberDouble`` → a float."""
    if isinstance(value, dict):
        inner = _wrapped_number(value)
        if inner is not None:
            key = next(iter(value))
            try:
                if key in ("$numberLong", "$numberInt"):
                    return int(inner)
                if key == "$numberDouble":
                    return float(inner)
            except ValueError:
                return value
            return inner
        return {k: unwrap_numbers(v) for k, v in value.items()}
    if isinstance(value, list):
        return [unwrap_numbers(v) for v in value]
    return value


def _number(v: Any, strings: bool) -> Decimal | None:
    if isinstance(v, bool):
        return None
    if isinstance(v, int):
        return Decimal(v)
    if isinstance(v, float):
        return Decimal(repr(v))
    if isinstance(v, dict):
        inner = _wrapped_number(v)
        return _number(inner, True) if inner is not None else None
    if strings and isinstance(v, str) and v and (v[0].isdigit() or v[0] in "+-."):
        try:
            d = Decimal(v)
        except InvalidOperation:
            return None
        return d if d.is_finite() else None
    return None


def numbers_equal(a: Any, b: Any) -> bool:
    """Equal as JSON values where numbers in any spelling compare by value (a decimal string
    equals a number only when the other side is a number or a wrapper, never two strings)."""
    if isinstance(a, str) and isinstance(b, str):
        return a == b
    na, nb = _number(a, not isinstance(b, str)), _number(b, not isinstance(a, str))
    if na is not None or nb is not None:
        return na is not None and nb is not None and na == nb
    if isinstance(a, dict) and isinstance(b, dict):
        return a.keys() == b.keys() and all(numbers_equal(a[k], b[k]) for k in a)
    if isinstance(a, list) and isinstance(b, list):
        return len(a) == len(b) and all(numbers_equal(x, y) for x, y in zip(a, b, strict=True))
    return _strict_equal(a, b)


def _strict_equal(a: Any, b: Any) -> bool:
    """Equal as JSON values: key order ignored, ``true`` never equal to ``1``, ``1`` equal to ``1.0``."""
    if isinstance(a, bool) or isinstance(b, bool):
        return a is b
    if isinstance(a, dict):
        return isinstance(b, dict) and a.keys() == b.keys() and all(_strict_equal(a[k], b[k]) for k in a)
    if isinstance(a, list):
        return isinstance(b, list) and len(a) == len(b) and all(_strict_equal(x, y) for x, y in zip(a, b, strict=True))
    if isinstance(a, (int, float)) and isinstance(b, (int, float)):
        return a == b
    return type(a) is type(b) and a == b


def diff_paths(a: Any, b: Any, limit: int = MAX_PATHS) -> list[str]:
    """The field paths where ``a`` and ``b`` differ (``contacts[0].email``; ``""`` the whole document)."""
    out: list[str] = []
    _diff(a, b, "", out, limit)
    return out


def _join(path: str, key: str) -> str:
    return f"{path}.{key}" if path else key


def _diff(a: Any, b: Any, path: str, out: list[str], limit: int) -> None:
    if len(out) >= limit:
        return
    if isinstance(a, dict) and isinstance(b, dict):
        for k in list(a) + [k for k in b if k not in a]:
            if k not in a or k not in b:
                out.append(_join(path, str(k)))
            else:
                _diff(a[k], b[k], _join(path, str(k)), out, limit)
            if len(out) >= limit:
                return
    elif isinstance(a, list) and isinstance(b, list) and len(a) == len(b):
        for i, (x, y) in enumerate(zip(a, b, strict=True)):
            _diff(x, y, f"{path}[{i}]", out, limit)
    elif not _strict_equal(a, b):
        out.append(path)


def _through(pipeline: Pipeline | None, doc: Any) -> Any:
    if pipeline is None:
        return doc
    piped = pipeline(doc)
    return piped.doc if piped.rule is None else doc


def classify_pair(left: bytes, right: bytes, pipeline: Pipeline | None) -> tuple[str, list[str]]:
    """The class of a pair present on both sides and, for ``fields-differ``, the differing paths."""
    if left == right:
        return IDENTICAL, []
    ok_l, doc_l = _loads(left)
    ok_r, doc_r = _loads(right)
    if not (ok_l and ok_r):
        return FIELDS, [""]
    piped = _through(pipeline, doc_l)
    if _strict_equal(piped, doc_r):
        return EQUAL, []
    unwrapped = _through(pipeline, unwrap_numbers(doc_l))
    if numbers_equal(unwrapped, doc_r) or numbers_equal(piped, doc_r):
        return NUMERIC, []
    return FIELDS, diff_paths(unwrapped, doc_r)


def classify_left_only(left: bytes, pipeline: Pipeline) -> tuple[str, str | None]:
    """A left-only document: ``dlq-by-rule`` with the rule's name when the pipeline (reading
    Extended JSON numbers as the decoder does) sends it to the DLQ, else ``missing-right``."""
    ok, doc = _loads(left)
    if not ok:
        return MISSING_RIGHT, None
    piped = pipeline(unwrap_numbers(doc))
    return (DLQ, piped.rule) if piped.rule is not None else (MISSING_RIGHT, None)
