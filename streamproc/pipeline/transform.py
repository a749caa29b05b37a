"""Field transformations: rename, drop, iso_date, decimal, upper, lower.

Each value function leaves a value it cannot convert unchanged (enforce the shape with a
validation rule, e.g. ``type: date``) and maps lists element by element. Steps apply to full
documents and, with the same meaning, to the dotted keys of partial updates (a rename renames
``update.set`` keys and ``update.unset`` paths; a drop removes both).
"""

from __future__ import annotations

import functools
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
    from streamproc.config.steps import TransformStep

__all__ = ["to_iso_date", "epoch_unit", "to_decimal", "Transformer"]

_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_DECIMAL_CONTEXT = Context(prec=400)
_MAX_DIGITS = 200
_MAX_EXPONENT = 100
_MAX_DECIMAL_TEXT = 2 * _MAX_DIGITS + 2 * _MAX_EXPONENT


#: (unit name, units per second, smallest magnitude read in this unit by default)
_UNITS: tuple[tuple[str, int, int], ...] = (
    ("ns", 1_000_000_000, 10**18),
    ("us", 1_000_000, 10**15),
    ("ms", 1_000, 10**11),
    ("s", 1, 0),
)
_PER_SECOND = {name: per for name, per, _ in _UNITS}
#: Debezium's PostgreSQL ±infinity timestamps (Long.MAX_VALUE / Long.MIN_VALUE)
_SENTINELS = {2**63 - 1: "infinity", -(2**63): "-infinity"}
_MIN_US = -62135596800 * 1_000_000  # 0001-01-01T00:00:00Z
_MAX_US = 253402300800 * 1_000_000 - 1  # 9999-12-31T23:59:59.999999Z
_MAX_TEXT = 64


def epoch_unit(n: int | float) -> str:
    """The unit an epoch number is read in by default, from its magnitude: below 1e11 seconds,
    below 1e15 milliseconds, below 1e18 microseconds, else nanoseconds."""
    a = abs(n)
    return next(name for name, _, floor in _UNITS if a >= floor)


def _epoch_micros(n: int | float, unit: str) -> int | None:
    """``n`` (in ``unit``) as microseconds since the epoch, or ``None`` outside years 1-9999."""
    per = _PER_SECOND[unit]
    if isinstance(n, int):
        micros = n * 1_000_000 // per if per <= 1_000_000 else n // (per // 1_000_000)
    else:
        micros = round(n * (1_000_000 / per))
    return micros if _MIN_US <= micros <= _MAX_US else None


def to_iso_date(value: Any, unit: str | None = None) -> Any:
    """Epoch s/ms/µs/ns or an ISO-8601 string → ``YYYY-MM-DDTHH:MM:SS.mmmZ`` (UTC).

    The unit of an epoch number is ``unit`` when given, else chosen by magnitude
    (:func:`epoch_unit`). A number outside years 1-9999 *in that unit* is left unchanged — never
    read in another unit, so an out-of-range date stays recognisable instead of becoming another
    date; Debezium's ±infinity sentinels (±2**63) become ``"infinity"``/``"-infinity"``.
    Sub-millisecond precision, when present, is kept (six fractional digits). Naive date-times
    are taken as UTC.
    """
    if isinstance(value, bool) or value is None:
        return value
    try:
        if isinstance(value, int) or (isinstance(value, float) and math.isfinite(value)):
            n: int | float = value
        elif isinstance(value, str) and len(value) <= _MAX_TEXT:
            text = value.strip()
            if text.lstrip("-").isascii() and text.lstrip("-").isdigit():
                n = int(text)
            else:
                dt = datetime.fromisoformat(text)
                dt = dt.replace(tzinfo=UTC) if dt.tzinfo is None else dt.astimezone(UTC)
                return _iso(dt)
        else:
            return value
    except (ValueError, OverflowError):
        return value
    if isinstance(n, int) and n in _SENTINELS:
        return _SENTINELS[n]
    micros = _epoch_micros(n, unit or epoch_unit(n))
    if micros is None:
        return value
    return _iso(_EPOCH + timedelta(microseconds=micros))


def _iso(dt: datetime) -> str:
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
            if len(value) > _MAX_DECIMAL_TEXT:  # over the digit limit anyway; never parse megabytes
                return value
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
            if kind == "iso_date" and step.unit is not None:
                fn = elementwise(functools.partial(to_iso_date, unit=step.unit))
            else:
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
