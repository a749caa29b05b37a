"""The per-source steps of the pipelines file as strict pydantic models: validation rules,
renames, transform steps and redaction rules (:mod:`streamproc.config.pipelines` holds the
sources and the file that use them)."""

from __future__ import annotations

import re
from typing import Annotated, Any

from pydantic import BaseModel, ConfigDict, Field, model_validator

from streamproc.config.fields import (
    STRICT,
    EpochUnit,
    FieldType,
    ModeName,
    NonEmptyStr,
    NonNegInt,
    Number,
    PathList,
    PathStr,
    Severity,
)
from streamproc.pipeline.path_syntax import WILDCARD, parse_path
from streamproc.pipeline.vocabulary import TRANSFORM_KINDS

__all__ = ["ValidationRule", "RenameSpec", "TransformStep", "RedactRule"]

_NUMERIC_TYPES = (None, "number", "integer")
_LENGTH_TYPES = (None, "string", "array")


class ValidationRule(BaseModel):
    """One field's checks. ``null`` passes every check except ``required``. ``severity``: ``error``
    (the event goes to the DLQ) or ``warn`` (it is emitted, the rule's name in
    ``validation_warnings``); unset, the source's ``on_invalid`` decides. ``name`` (default: the
    field path) names the rule in warnings, DLQ reasons and the ``rule`` label of the metric."""

    model_config = STRICT

    field: PathStr
    name: NonEmptyStr | None = None
    severity: Severity | None = None
    required: bool = False
    type: FieldType | None = None
    min: Number | None = None
    max: Number | None = None
    min_length: NonNegInt | None = None
    max_length: NonNegInt | None = None
    enum: Annotated[list[Any], Field(min_length=1)] | None = None
    pattern: str | None = None

    @model_validator(mode="after")
    def _consistent(self) -> ValidationRule:
        checks = (self.type, self.min, self.max, self.min_length, self.max_length, self.enum)
        if not self.required and self.pattern is None and all(c is None for c in checks):
            raise ValueError(
                "a rule needs at least one of required, type, min, max, min_length, max_length, enum, pattern"
            )
        if (self.min is not None or self.max is not None) and self.type not in _NUMERIC_TYPES:
            raise ValueError(f"min/max apply to numbers, not to type '{self.type}'")
        if self.min is not None and self.max is not None and self.min > self.max:
            raise ValueError("min is greater than max")
        if (self.min_length is not None or self.max_length is not None) and self.type not in _LENGTH_TYPES:
            raise ValueError(f"min_length/max_length apply to strings and arrays, not to type '{self.type}'")
        if self.min_length is not None and self.max_length is not None and self.min_length > self.max_length:
            raise ValueError("min_length is greater than max_length")
        if self.enum is not None:
            for item in self.enum:
                if item is not None and not isinstance(item, (str, int, float, bool)):
                    raise ValueError("enum values must be strings, numbers, booleans or null")
        if self.pattern is not None:
            if self.type not in (None, "string"):
                raise ValueError(f"pattern applies to strings, not to type '{self.type}'")
            try:
                re.compile(self.pattern)
            except re.error as exc:
                raise ValueError(f"invalid regular expression: {exc.msg}") from None
        return self


class RenameSpec(BaseModel):
    """Rename the last segment of ``from`` to ``to``'s; both share one parent path."""

    model_config = ConfigDict(extra="forbid", strict=True, populate_by_name=False)

    from_: PathStr = Field(alias="from")
    to: PathStr

    @model_validator(mode="after")
    def _same_parent(self) -> RenameSpec:
        src, dst = parse_path(self.from_), parse_path(self.to)
        if src.each or dst.each:
            raise ValueError("rename paths must not end with an array marker")
        if src.segments[-1] is WILDCARD or dst.segments[-1] is WILDCARD:
            raise ValueError("rename paths must not end with '*'")
        if src.segments[:-1] != dst.segments[:-1]:
            raise ValueError("'to' must keep the parent path of 'from' (e.g. from: address.zip, to: address.postcode)")
        if src.segments == dst.segments:
            raise ValueError("'from' and 'to' are the same path")
        return self


class TransformStep(BaseModel):
    """Exactly one of the keys below; steps run in the order written."""

    model_config = STRICT

    rename: RenameSpec | None = None
    drop: PathList | None = None
    iso_date: PathList | None = None
    decimal: PathList | None = None
    upper: PathList | None = None
    lower: PathList | None = None
    unit: EpochUnit | None = None

    @model_validator(mode="after")
    def _exactly_one(self) -> TransformStep:
        given = [k for k in TRANSFORM_KINDS if getattr(self, k) is not None]
        if len(given) != 1:
            raise ValueError("a transform step needs exactly one of " + ", ".join(TRANSFORM_KINDS))
        if self.unit is not None and self.iso_date is None:
            raise ValueError("'unit' applies to an iso_date step only")
        return self

    @property
    def kind(self) -> str:
        return next(k for k in TRANSFORM_KINDS if getattr(self, k) is not None)


class RedactRule(BaseModel):
    model_config = STRICT

    path: PathStr
    mode: ModeName
