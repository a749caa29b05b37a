"""Business-rule validation of documents and partial updates.

Rules run on the decoded document, before any transform, so they name the source's own
field names. A failing ``error`` rule raises :class:`RuleFailed` (a
:class:`~streamproc.errors.ValidationFailed`) whose message is ``<field>: <problem>`` — it names
the rule and field and never the value; a failing ``warn`` rule only adds its name to the
returned warnings. ``null`` passes every check except ``required``.
"""

from __future__ import annotations

import math
import re
from collections.abc import Sequence
from datetime import datetime
from decimal import Decimal, InvalidOperation
from typing import TYPE_CHECKING, Any

from streamproc.errors import ValidationFailed
from streamproc.model import Update
from streamproc.pipeline.doc_edits import collect
from streamproc.pipeline.path_syntax import WILDCARD, parse_path
from streamproc.pipeline.update_keys import DEEPER, PREFIX, collect_from_update_set, match_update_key

if TYPE_CHECKING:
    from streamproc.config.steps import ValidationRule

__all__ = ["FieldRule", "RuleFailed", "Validator", "is_date"]

_MISSING = object()


def is_date(value: Any) -> bool:
    """An ISO-8601 date/date-time string or an epoch number (not a boolean)."""
    if isinstance(value, str):
        try:
            datetime.fromisoformat(value)
        except ValueError:
            return False
        return True
    if isinstance(value, bool):
        return False
    if isinstance(value, int):
        return True
    return isinstance(value, float) and math.isfinite(value)


def _as_number(v: Any) -> int | float | Decimal | None:
    """A number, or a decimal string (how Decimal128 and Connect decimals arrive), else None."""
    if isinstance(v, bool):
        return None
    if isinstance(v, (int, float)):
        return v
    if isinstance(v, str) and v and (v[0].isdigit() or v[0] in "+-."):
        try:
            d = Decimal(v)
        except InvalidOperation:
            return None
        return d if d.is_finite() else None
    return None


def _is_number(v: Any) -> bool:
    return _as_number(v) is not None


def _is_integer(v: Any) -> bool:
    if isinstance(v, bool):
        return False
    return isinstance(v, int) or (isinstance(v, float) and v.is_integer())


_TYPE_CHECKS = {
    "string": lambda v: isinstance(v, str),
    "number": _is_number,
    "integer": _is_integer,
    "boolean": lambda v: isinstance(v, bool),
    "object": lambda v: isinstance(v, dict),
    "array": lambda v: isinstance(v, list),
    "date": is_date,
}


def _enum_key(v: Any) -> tuple[str, Any] | None:
    if v is None:
        return ("null", None)
    if isinstance(v, bool):
        return ("bool", v)
    if isinstance(v, (int, float)):
        return ("num", v)
    if isinstance(v, str):
        return ("str", v)
    return None


class FieldRule:
    """One compiled :class:`ValidationRule`."""

    __slots__ = (
        "name",
        "segments",
        "each",
        "required",
        "top",
        "type",
        "type_check",
        "min",
        "max",
        "min_length",
        "max_length",
        "enum",
        "pattern",
        "rule",
        "warn",
    )

    def __init__(self, rule: ValidationRule, warn: bool = False) -> None:
        path = parse_path(rule.field)
        self.name = rule.field
        self.rule = rule.name or rule.field
        self.warn = warn
        self.segments = path.segments
        self.each = path.each
        self.required = rule.required
        top = len(path.segments) == 1 and path.segments[0] is not WILDCARD and not path.each
        self.top: str | None = path.segments[0] if top else None
        self.type = rule.type
        self.type_check = _TYPE_CHECKS[rule.type] if rule.type else None
        self.min = rule.min
        self.max = rule.max
        self.min_length = rule.min_length
        self.max_length = rule.max_length
        self.enum = frozenset(k for k in map(_enum_key, rule.enum) if k is not None) if rule.enum else None
        self.pattern = re.compile(rule.pattern) if rule.pattern is not None else None

    def problem(self, v: Any) -> str | None:
        """What is wrong with one present value, or ``None``."""
        if v is None:
            return None
        if self.type_check is not None and not self.type_check(v):
            return f"expected type {self.type}"
        if self.min is not None or self.max is not None:
            n = _as_number(v)
            if n is None:
                return "must be a number"
            if isinstance(n, Decimal) and isinstance(self.min if self.min is not None else self.max, float):
                n = float(n)
            if self.min is not None and not n >= self.min:
                return f"must be >= {self.min}"
            if self.max is not None and not n <= self.max:
                return f"must be <= {self.max}"
        if self.min_length is not None or self.max_length is not None:
            if not isinstance(v, (str, list)):
                return "must be a string or an array"
            if self.min_length is not None and len(v) < self.min_length:
                return f"length must be >= {self.min_length}"
            if self.max_length is not None and len(v) > self.max_length:
                return f"length must be <= {self.max_length}"
        if self.enum is not None:
            key = _enum_key(v)
            if key is None or key not in self.enum:
                return "not one of the allowed values"
        if self.pattern is not None:
            if not isinstance(v, str):
                return "must be a string"
            if self.pattern.search(v) is None:
                return "does not match the pattern"
        return None

    def fail(self, problem: str) -> RuleFailed:
        named = f" (rule {self.rule})" if self.rule != self.name else ""
        return RuleFailed(self.rule, f"{self.name}: {problem}{named}")

    def report(self, problem: str, warned: list[str]) -> None:
        """A ``warn`` rule adds its name to ``warned`` (once); an ``error`` rule raises."""
        if not self.warn:
            raise self.fail(problem)
        if self.rule not in warned:
            warned.append(self.rule)


class RuleFailed(ValidationFailed):
    """An ``error`` rule failed; ``rule`` is its name (``parity`` reports it for ``dlq-by-rule``)."""

    def __init__(self, rule: str, message: str) -> None:
        super().__init__(message)
        self.rule = rule


class Validator:
    """All rules of one source, in the order configured. The first failing ``error`` rule raises
    :class:`RuleFailed`; the names of the failing ``warn`` rules are returned, in rule order."""

    __slots__ = ("rules", "_required")

    def __init__(self, rules: list[ValidationRule], severities: Sequence[str] | None = None) -> None:
        sev = list(severities) if severities is not None else ["error"] * len(rules)
        if len(sev) != len(rules):
            raise ValueError("one severity per rule")
        self.rules = tuple(FieldRule(r, s == "warn") for r, s in zip(rules, sev, strict=True))
        self._required = tuple(r for r in self.rules if r.required)

    def validate(self, doc: dict[str, Any], *, partial: bool) -> tuple[str, ...]:
        """Check a full document, or (``partial``) only the fields a partial update sets; the
        names of the ``warn`` rules that failed.

        With ``partial`` the document may use MongoDB dotted keys (an update's ``set``);
        ``required`` is not checked.
        """
        if not self.rules:
            return ()
        warned: list[str] = []
        dotted = partial and any("." in k for k in doc)
        cache: dict[str, list[str]] = {}
        for rule in self.rules:
            problem = _doc_problem(rule, doc, partial, dotted, cache)
            if problem is not None:
                rule.report(problem, warned)
        return tuple(warned)

    def validate_update(self, update: Update) -> tuple[str, ...]:
        """Check a partial update: the values it sets (as ``partial``), and that it neither
        unsets a required field (or an ancestor of one) nor sets one to ``null``, nor sets an
        ancestor to a value lacking it (an object without it, a scalar, scalar array elements).
        Returns the names of the ``warn`` rules that failed."""
        warned = list(self.validate(update.set, partial=True))
        for rule in self._required:
            problem = _update_problem(rule, update)
            if problem is not None:
                rule.report(problem, warned)
        return tuple(warned)


def _doc_problem(
    rule: FieldRule, doc: dict[str, Any], partial: bool, dotted: bool, cache: dict[str, list[str]]
) -> str | None:
    if rule.top is not None and not dotted:
        value = doc.get(rule.top, _MISSING)
        if value is _MISSING:
            return "required field missing" if rule.required and not partial else None
        if value is None and rule.required and not partial:
            return "required field is null"
        return rule.problem(value)
    if dotted:
        values = collect_from_update_set(doc, rule.segments, rule.each, cache)
    else:
        values, missing = collect(doc, rule.segments, rule.each)
        if rule.required and not partial:
            if missing:
                return "required field missing"
            if any(v is None for v in values):
                return "required field is null"
    for v in values:
        problem = rule.problem(v)
        if problem is not None:
            return problem
    return None


def _update_problem(rule: FieldRule, update: Update) -> str | None:
    for path in update.unset:
        m = match_update_key(rule.segments, path.split("."))
        if m is not None and m.kind != DEEPER:
            return "required field removed"
    for key, value in update.set.items():
        m = match_update_key(rule.segments, key.split("."))
        if m is not None and m.kind == PREFIX and all(collect(value, tail)[1] for tail in m.tails):
            return "required field missing"
    if update.set and any(v is None for v in collect_from_update_set(update.set, rule.segments, rule.each)):
        return "required field is null"
    return None
