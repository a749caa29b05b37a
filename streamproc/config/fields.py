"""Annotated field types and validators of the pipelines-file models.

Every validator raises a :class:`~pydantic_core.PydanticCustomError` whose message names the
key or the allowed choices, never the offending value (except a short string choice, shown by
:func:`show_value`): the loader turns these into ``<file>: <path>: <problem>`` lines.
"""

from __future__ import annotations

import enum
import re
from collections.abc import Callable, Iterable
from typing import Annotated, Any

from pydantic import AfterValidator, BeforeValidator, ConfigDict, Field
from pydantic_core import PydanticCustomError

from streamproc.model import FORMATS, Op
from streamproc.pipeline.path_syntax import WILDCARD, parse_path
from streamproc.pipeline.vocabulary import EPOCH_UNITS, FIELD_TYPES, ON_INVALID, SEVERITIES, RedactMode

__all__ = [
    "STRICT",
    "show_value",
    "choice",
    "check_number",
    "check_path",
    "check_name",
    "check_topic",
    "check_namespace",
    "as_list",
    "check_nonempty",
    "check_version",
    "key_field_reached",
    "OpName",
    "ModeName",
    "FieldType",
    "EpochUnit",
    "Severity",
    "OnInvalid",
    "FormatName",
    "Number",
    "NonNegInt",
    "PathStr",
    "PathList",
    "NonEmptyStr",
    "EntityName",
    "TopicName",
    "Namespace",
    "Version",
]

STRICT = ConfigDict(extra="forbid", strict=True)
"""Model configuration of every pipelines-file model: unknown keys and coercions are errors."""

_NAME_RE = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]*")
_TOPIC_RE = re.compile(r"[A-Za-z0-9._-]{1,249}")


def show_value(value: Any) -> str:
    """A value as an error message may show it: a short string quoted, else only its type."""
    if isinstance(value, str) and len(value) <= 64:
        return repr(value)
    return f"of type {type(value).__name__}"


def choice(label: str, choices: Iterable[Any], convert: Callable[[str], Any] | None = None) -> BeforeValidator:
    """Accept one of ``choices`` (enum members by value) given as a string, converted by ``convert``."""
    allowed = tuple(choices)
    names = tuple(str(c.value if isinstance(c, enum.Enum) else c) for c in allowed)

    def check(value: Any) -> Any:
        if isinstance(value, str) and value in names:
            return convert(value) if convert is not None else value
        raise PydanticCustomError(
            "unknown_choice",
            "unknown {label} {value}; expected one of {expected}",
            {"label": label, "value": show_value(value), "expected": ", ".join(names)},
        )

    return BeforeValidator(check)


def check_number(value: Any) -> Any:
    """An int or a float, not a boolean."""
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise PydanticCustomError("number", "expected a number")
    return value


def check_path(value: str) -> str:
    """A field path in the syntax of :mod:`streamproc.pipeline.path_syntax`."""
    try:
        parse_path(value)
    except ValueError as exc:
        raise PydanticCustomError("path", "invalid path: {problem}", {"problem": str(exc)}) from None
    return value


def check_name(value: str) -> str:
    if not _NAME_RE.fullmatch(value):
        raise PydanticCustomError("entity", "entity names may use letters, digits, '.', '_' and '-' only")
    return value


def check_topic(value: str) -> str:
    if not _TOPIC_RE.fullmatch(value):
        raise PydanticCustomError("topic", "a topic name has 1-249 characters: letters, digits, '.', '_', '-'")
    return value


def check_namespace(value: str) -> str:
    head, dot, tail = value.partition(".")
    if not (head and dot and tail):
        raise PydanticCustomError("namespace", "expected '<database>.<collection>' or '<schema>.<table>'")
    return value


def as_list(value: Any) -> Any:
    """A single string stands for a list of one."""
    return [value] if isinstance(value, str) else value


def check_nonempty(value: str) -> str:
    if not value.strip():
        raise PydanticCustomError("empty", "must not be empty")
    return value


def check_version(value: Any) -> Any:
    """The file format version; only ``1`` exists."""
    if isinstance(value, int) and not isinstance(value, bool):
        if value == 1:
            return value
        raise PydanticCustomError("version", "unsupported version {v}; expected 1", {"v": value})
    raise PydanticCustomError("version", "expected version 1")


def key_field_reached(path: str, key: list[str]) -> str | None:
    """The key field a redaction path can reach (it names the field, lies inside it, or is an
    ancestor of it, ``*`` matching any segment), else ``None``."""
    segments = parse_path(path).segments
    for name in key:
        parts = name.split(".")
        if all(s is WILDCARD or s == p for s, p in zip(segments, parts, strict=False)):
            return name
    return None


OpName = Annotated[Op, choice("operation", Op, Op)]
ModeName = Annotated[RedactMode, choice("redaction mode", RedactMode, RedactMode)]
FieldType = Annotated[str, choice("type", FIELD_TYPES)]
EpochUnit = Annotated[str, choice("unit", EPOCH_UNITS)]
Severity = Annotated[str, choice("severity", SEVERITIES)]
OnInvalid = Annotated[str, choice("on_invalid", ON_INVALID)]
FormatName = Annotated[str, choice("format", FORMATS)]
Number = Annotated[int | float, BeforeValidator(check_number)]
NonNegInt = Annotated[int, Field(ge=0)]
PathStr = Annotated[str, AfterValidator(check_path)]
PathList = Annotated[list[PathStr], Field(min_length=1), BeforeValidator(as_list)]
NonEmptyStr = Annotated[str, AfterValidator(check_nonempty)]
EntityName = Annotated[str, AfterValidator(check_name)]
TopicName = Annotated[str, AfterValidator(check_topic)]
Namespace = Annotated[str, AfterValidator(check_namespace)]
Version = Annotated[int, BeforeValidator(check_version)]
