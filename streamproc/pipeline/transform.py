"""Field transformations: rename, drop, iso_date, decimal, upper, lower.

Each value function leaves a value it cannot convert unchanged (enforce the shape with a
validation rule, e.g. ``type: date``) and maps lists element by element. Steps apply to full
documents and, with the same meaning, to the dotted keys of partial updates (a rename renames
``update.set`` keys and ``update.unset`` paths; a drop removes both).
"""

from __future__ import annotations

import math
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from decimal import Context, Decimal, InvalidOperation
from typing import TYPE_CHECKING, Any

from streamproc.model import Update
from streamproc.pipeline.doc_edits import elementwise, map_values, rename_key_fn
from streamproc.pipeline.path_syntax import REMOVE, Segments, parse_path
from streamproc.pipeline.update_keys import drop_from_unset, map_update_set, rename_in_unset, rename_in_update_set

if TYPE_CHECKING:
    from streamproc.config.pipelines import TransformStep

__all__ = ["to_iso_date", "to_decimal", "Transformer"]

_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_DECIMAL_CONTEXT = Context(prec=400)
_MAX_DIGITS = 200
_MAX_EXPONENT = 100


def _from_epoch(n: int | float) -> datetime:
    """Seconds, milliseconds, microseconds or nanoseconds, told apart by magnitude."""
    a = abs(n)
    if a >= 1e17:
        micros = n // 1000 if isinstance(n, int) else round(n / 1000)
    elif a >= 1e14:
        micros = n if isinstance(n, int) else round(n)
    elif a >= 1e11:
        micros = n * 1000 if isinstance(n, int) else round(n * 1000)
    else:
        micros = n * 1_000_000 if isinstance(n, int) else round(n * 1_000_000)
    return _EPOCH + timedelta(microseconds=micros)


def to_iso_date(value: Any) -> Any:
    """Epoch s/ms/µs/ns or an ISO-8601 string → ``YYYY-MM-DDTHH:MM:SS.mmmZ`` (UTC).

    Sub-millisecond precision, when present, is kept (six fractional digits). Naive
    date-times are taken as UTC.
    """
    try:
        if isinstance(value, bool) or value is None:
            return value
        if isinstance(value, int):
            dt = _from_epoch(value)
        elif isinstance(value, float):
            if not math.isfinite(value):
                return value
            dt = _from_epoch(value)
        elif isinstance(value, str):
            text = value.strip()
            if text.lstrip("-").isdigit():
                dt = _from_epoch(int(text))
            else:
                dt = datetime.fromisoformat(text)
                dt = dt.replace(tzinfo=UTC) if dt.tzinfo is None else dt.astimezone(UTC)
        else:
            return value
    except (ValueError, OverflowError):
        return value
    spec = "milliseconds" if dt.microsecond % 1000 == 0 else "microseconds"
    return dt.replace(tzinfo=None).isoformat(timespec=spec) + "Z"


def to_decimal(value: Any) -> Any:
    """A number or numeric string → canonical decimal string (``"12.5"``, ``"100"``, ``"0"``).

    No exponent, no trailing fractional zeros, no ``-0``; floats go through their shortest
    repr, so ``0.1`` becomes ``"0.1"``.
    """
    if isinstance(value, bool) or value is None:
        return value
    if isinstance(value, int):
        return str(value)
    try:
        if isinstance(value, float):
            if not math.isfinite(value):
                return value
            d = Decimal(repr(value))
        elif isinstance(value, str):
            d = Decimal(value.strip())
        else:
            return value
    except InvalidOperation:
        return value
    if not d.is_finite() or len(d.as_tuple().digits) > _MAX_DIGITS:
        return value
    if d.is_zero():
        return "0"
    if abs(d.adjusted()) > _MAX_EXPONENT:
        return value
    return format(d.normalize(_DECIMAL_CONTEXT), "f")


def _upper(v: Any) -> Any:
    return v.upper() if isinstance(v, str) else v


def _lower(v: Any) -> Any:
    return v.lower() if isinstance(v, str) else v


def _remove(_: Any) -> Any:
    return REMOVE


_VALUE_FUNCTIONS: dict[str, Callable[[Any], Any]] = {
    "iso_date": elementwise(to_iso_date),
    "decimal": elementwise(to_decimal),
    "upper": elementwise(_upper),
    "lower": elementwise(_lower),
}


class _Step:
    __slots__ = ("kind", "segments", "fn", "new_name")

    def __init__(self, kind: str, segments: Segments, fn: Callable[[Any], Any], new_name: str = "") -> None:
        self.kind = kind
        self.segments = segments
        self.fn = fn
        self.new_name = new_name


class Transformer:
    """The compiled transform steps of one source, applied in the configured order."""

    __slots__ = ("steps",)

    def __init__(self, steps: list[TransformStep]) -> None:
        compiled: list[_Step] = []
        for step in steps:
            kind = step.kind
            if kind == "rename":
                assert step.rename is not None
                src = parse_path(step.rename.from_).segments
                new = parse_path(step.rename.to).segments[-1]
                compiled.append(_Step(kind, src, rename_key_fn(src[-1], new), new))
                continue
            fn = _remove if kind == "drop" else _VALUE_FUNCTIONS[kind]
            for text in getattr(step, kind):
                compiled.append(_Step(kind, parse_path(text).segments, fn))
        self.steps = tuple(compiled)

    def transform_doc(self, doc: dict[str, Any]) -> dict[str, Any]:
        out = dict(doc)
        owned = {id(out)}
        for step in self.steps:
            if step.kind == "rename":
                out = map_values(out, step.segments[:-1], step.fn, owned)
            else:
                out = map_values(out, step.segments, step.fn, owned)
        return out

    def transform_update(self, update: Update) -> Update:
        set_ = dict(update.set)
        unset = update.unset
        owned = {id(set_)}
        cache: dict[str, list[str]] = {}
        for step in self.steps:
            segs = step.segments
            if step.kind == "rename":
                set_ = rename_in_update_set(set_, segs, step.new_name, owned=owned, cache=cache)
                unset = rename_in_unset(unset, segs, step.new_name)
            elif step.kind == "drop":
                set_ = map_update_set(set_, segs, step.fn, deeper=True, owned=owned, cache=cache)
                unset = drop_from_unset(unset, segs)
            else:
                set_ = map_update_set(set_, segs, step.fn, deeper=False, owned=owned, cache=cache)
        return Update(set=set_, unset=tuple(unset))
