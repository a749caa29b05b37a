"""The pipelines file (``config/pipelines.yaml``) as strict pydantic models.

:func:`parse_pipelines` is pure: the caller reads the file and passes its text and name.
Every problem becomes one :class:`~streamproc.errors.ConfigError` whose message has one line
per problem, ``<file>: <path inside it>: <what is wrong>``, e.g.
``pipelines.yaml: sources[3].redact[1].mode: unknown redaction mode 'MASKED'; expected one of
REMOVE, HASH, PARTIAL_MASK, FULL_MASK, TOKENIZE``. Messages show key names and enumerated
choices only, never other values of the file.

Source matching (:meth:`PipelinesSpec.match`), most specific first:

1. a source whose ``namespace`` *and* ``topic`` both equal the event's;
2. a source with only a ``namespace``, equal to the event's;
3. a source with only a ``topic``, equal to the event's;
4. when the namespace is not known yet (``None``): the one source listing that topic.

A source giving both ``topic`` and ``namespace`` never matches an event whose (known)
namespace differs.
"""

from __future__ import annotations

import enum
import re
from collections.abc import Iterable
from typing import Annotated, Any

import yaml
from pydantic import (
    AfterValidator,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    PrivateAttr,
    ValidationError,
    model_validator,
)
from pydantic_core import PydanticCustomError

from streamproc.config.sinks import SinksSpec
from streamproc.errors import ConfigError
from streamproc.model import FORMATS, Op
from streamproc.pipeline.paths import WILDCARD, parse_path

__all__ = [
    "RedactMode",
    "FIELD_TYPES",
    "DEFAULT_OPERATIONS",
    "PAST_TENSE",
    "ValidationRule",
    "RenameSpec",
    "TransformStep",
    "RedactRule",
    "Defaults",
    "SourceSpec",
    "PipelinesSpec",
    "parse_pipelines",
]


class RedactMode(str, enum.Enum):
    REMOVE = "REMOVE"
    HASH = "HASH"
    PARTIAL_MASK = "PARTIAL_MASK"
    FULL_MASK = "FULL_MASK"
    TOKENIZE = "TOKENIZE"

    def __str__(self) -> str:
        return self.value


FIELD_TYPES: tuple[str, ...] = ("string", "number", "integer", "boolean", "object", "array", "date")
DEFAULT_OPERATIONS: tuple[Op, ...] = (
    Op.INSERT,
    Op.UPDATE,
    Op.REPLACE,
    Op.UPSERT,
    Op.DELETE,
    Op.SNAPSHOT,
)
PAST_TENSE: dict[Op, str] = {
    Op.INSERT: "created",
    Op.UPDATE: "updated",
    Op.REPLACE: "replaced",
    Op.UPSERT: "upserted",
    Op.DELETE: "deleted",
    Op.SNAPSHOT: "snapshot",
    Op.TRUNCATE: "truncated",
}
TRANSFORM_KINDS: tuple[str, ...] = ("rename", "drop", "iso_date", "decimal", "upper", "lower")

_NAME_RE = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]*")
_TOPIC_RE = re.compile(r"[A-Za-z0-9._-]{1,249}")
_NUMERIC_TYPES = (None, "number", "integer")
_LENGTH_TYPES = (None, "string", "array")


def _show(value: Any) -> str:
    if isinstance(value, str) and len(value) <= 64:
        return repr(value)
    return f"of type {type(value).__name__}"


def _choice(label: str, choices: Iterable[Any], convert: Any = None) -> BeforeValidator:
    allowed = tuple(choices)
    names = tuple(str(c.value if isinstance(c, enum.Enum) else c) for c in allowed)

    def check(value: Any) -> Any:
        if isinstance(value, str) and value in names:
            return convert(value) if convert is not None else value
        raise PydanticCustomError(
            "unknown_choice",
            "unknown {label} {value}; expected one of {expected}",
            {"label": label, "value": _show(value), "expected": ", ".join(names)},
        )

    return BeforeValidator(check)


def _number(value: Any) -> Any:
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise PydanticCustomError("number", "expected a number")
    return value


def _path(value: str) -> str:
    try:
        parse_path(value)
    except ValueError as exc:
        raise PydanticCustomError("path", "invalid path: {problem}", {"problem": str(exc)}) from None
    return value


def _name(value: str) -> str:
    if not _NAME_RE.fullmatch(value):
        raise PydanticCustomError("entity", "entity names may use letters, digits, '.', '_' and '-' only")
    return value


def _topic(value: str) -> str:
    if not _TOPIC_RE.fullmatch(value):
        raise PydanticCustomError("topic", "a topic name has 1-249 characters: letters, digits, '.', '_', '-'")
    return value


def _namespace(value: str) -> str:
    head, dot, tail = value.partition(".")
    if not (head and dot and tail):
        raise PydanticCustomError("namespace", "expected '<database>.<collection>' or '<schema>.<table>'")
    return value


def _paths(value: Any) -> Any:
    return [value] if isinstance(value, str) else value


def _nonempty(value: str) -> str:
    if not value.strip():
        raise PydanticCustomError("empty", "must not be empty")
    return value


OpName = Annotated[Op, _choice("operation", Op, Op)]
ModeName = Annotated[RedactMode, _choice("redaction mode", RedactMode, RedactMode)]
FieldType = Annotated[str, _choice("type", FIELD_TYPES)]
FormatName = Annotated[str, _choice("format", FORMATS)]
Number = Annotated[int | float, BeforeValidator(_number)]
NonNegInt = Annotated[int, Field(ge=0)]
PathStr = Annotated[str, AfterValidator(_path)]
PathList = Annotated[list[PathStr], Field(min_length=1), BeforeValidator(_paths)]
NonEmptyStr = Annotated[str, AfterValidator(_nonempty)]

_STRICT = ConfigDict(extra="forbid", strict=True)


class ValidationRule(BaseModel):
    """One field's checks. ``null`` passes every check except ``required``."""

    model_config = _STRICT

    field: PathStr
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

    model_config = _STRICT

    rename: RenameSpec | None = None
    drop: PathList | None = None
    iso_date: PathList | None = None
    decimal: PathList | None = None
    upper: PathList | None = None
    lower: PathList | None = None

    @model_validator(mode="after")
    def _exactly_one(self) -> TransformStep:
        given = [k for k in TRANSFORM_KINDS if getattr(self, k) is not None]
        if len(given) != 1:
            raise ValueError("a transform step needs exactly one of " + ", ".join(TRANSFORM_KINDS))
        return self

    @property
    def kind(self) -> str:
        return next(k for k in TRANSFORM_KINDS if getattr(self, k) is not None)


class RedactRule(BaseModel):
    model_config = _STRICT

    path: PathStr
    mode: ModeName


class Defaults(BaseModel):
    """Values every source inherits unless it sets them itself."""

    model_config = _STRICT

    operations: Annotated[list[OpName], Field(min_length=1)] | None = None
    key: Annotated[list[NonEmptyStr], Field(min_length=1)] | None = None
    format: FormatName | None = None


class SourceSpec(BaseModel):
    """One captured collection/table and the steps applied to its events."""

    model_config = _STRICT

    entity: Annotated[str, AfterValidator(_name)]
    topic: Annotated[str, AfterValidator(_topic)] | None = None
    namespace: Annotated[str, AfterValidator(_namespace)] | None = None
    format: FormatName | None = None
    key: Annotated[list[NonEmptyStr], Field(min_length=1)] | None = None
    operations: Annotated[list[OpName], Field(min_length=1)] | None = None
    event_types: dict[OpName, NonEmptyStr] = Field(default_factory=dict)
    validation: list[ValidationRule] = Field(default_factory=list, alias="validate")
    transform: list[TransformStep] = Field(default_factory=list)
    redact: list[RedactRule] = Field(default_factory=list)

    @model_validator(mode="after")
    def _check(self) -> SourceSpec:
        if self.topic is None and self.namespace is None:
            raise ValueError("a source needs 'topic' or 'namespace' (or both)")
        renamed = [
            (parse_path(s.rename.from_).segments, n) for n, s in enumerate(self.transform) if s.rename is not None
        ]
        for n, rule in enumerate(self.redact):
            segs = parse_path(rule.path).segments
            step = next((i for src, i in renamed if segs[: len(src)] == src), None)
            if step is not None:
                raise PydanticCustomError(
                    "redact_renamed",
                    "redact[{n}].path names a field that transform[{step}] renames; redaction "
                    "runs after transforms, so name the new field",
                    {"n": n, "step": step},
                )
        return self

    @property
    def ops(self) -> frozenset[Op]:
        return frozenset(self.operations or DEFAULT_OPERATIONS)

    def source_topics(self, default_prefix: str = "cdc") -> list[str]:
        """The topic this source reads: ``topic``, else ``<default_prefix>.<namespace>``."""
        return [self.topic if self.topic is not None else f"{default_prefix}.{self.namespace}"]

    def accepts(self, op: Op | str) -> bool:
        """Whether events of ``op`` are kept (the others are dropped as "filtered")."""
        return Op(op) in self.ops

    def event_type(self, op: Op | str) -> str:
        """The configured event type, else ``<entity>.<past tense>`` (``users.created``)."""
        op = Op(op)
        return self.event_types.get(op) or f"{self.entity}.{PAST_TENSE[op]}"


def _version(value: Any) -> Any:
    if isinstance(value, int) and not isinstance(value, bool):
        if value == 1:
            return value
        raise PydanticCustomError("version", "unsupported version {v}; expected 1", {"v": value})
    raise PydanticCustomError("version", "expected version 1")


class PipelinesSpec(BaseModel):
    """The whole file. Sources inherit ``defaults`` during validation."""

    model_config = _STRICT

    version: Annotated[int, BeforeValidator(_version)]
    defaults: Defaults = Field(default_factory=Defaults)
    sources: Annotated[list[SourceSpec], Field(min_length=1)]
    sinks: SinksSpec = Field(default_factory=SinksSpec)

    _by_pair: dict[tuple[str, str], SourceSpec] = PrivateAttr(default_factory=dict)
    _by_namespace: dict[str, SourceSpec] = PrivateAttr(default_factory=dict)
    _by_topic: dict[str, SourceSpec] = PrivateAttr(default_factory=dict)
    _by_any_topic: dict[str, list[SourceSpec]] = PrivateAttr(default_factory=dict)
    _by_entity: dict[str, SourceSpec] = PrivateAttr(default_factory=dict)

    @model_validator(mode="after")
    def _resolve(self) -> PipelinesSpec:
        problems: list[str] = []
        seen_entity: dict[str, int] = {}
        seen_match: dict[tuple[str | None, str | None], int] = {}
        d = self.defaults
        for n, src in enumerate(self.sources):
            if src.operations is None:
                src.operations = list(d.operations or DEFAULT_OPERATIONS)
            if src.key is None and d.key is not None:
                src.key = list(d.key)
            if src.key is None:
                problems.append(f"sources[{n}]: 'key' is not set here nor in 'defaults'")
            if src.format is None and d.format is not None:
                src.format = d.format
            if src.entity in seen_entity:
                problems.append(
                    f"sources[{n}].entity: duplicate entity '{src.entity}' "
                    f"(already used by sources[{seen_entity[src.entity]}])"
                )
            seen_entity.setdefault(src.entity, n)
            pair = (src.topic, src.namespace)
            if pair in seen_match:
                problems.append(
                    f"sources[{n}]: same topic/namespace as sources[{seen_match[pair]}]; events could not be told apart"
                )
            seen_match.setdefault(pair, n)
            for r, rule in enumerate(src.redact):
                if rule.mode is RedactMode.REMOVE and src.key and rule.path in src.key:
                    problems.append(
                        f"sources[{n}].redact[{r}]: cannot REMOVE key field '{rule.path}'; use HASH or TOKENIZE"
                    )
        problems += self._unknown_sink_entities(set(seen_entity))
        if problems:
            raise ValueError("\n".join(problems))
        for src in self.sources:
            self._by_entity[src.entity] = src
            if src.topic is not None and src.namespace is not None:
                self._by_pair[(src.topic, src.namespace)] = src
            elif src.namespace is not None:
                self._by_namespace[src.namespace] = src
            else:
                assert src.topic is not None
                self._by_topic[src.topic] = src
            if src.topic is not None:
                self._by_any_topic.setdefault(src.topic, []).append(src)
        return self

    def _unknown_sink_entities(self, entities: set[str]) -> list[str]:
        """A sink section naming an entity no source has is a typo that would silently write nothing."""
        named: list[tuple[str, Any]] = []
        for section in ("s3_trigger", "s3_archive", "opensearch", "warehouse"):
            spec = getattr(self.sinks, section)
            if spec is None:
                continue
            listed = getattr(spec, "entities", "all")
            if listed != "all":
                named += [(f"sinks.{section}.entities", e) for e in listed]
            ism = getattr(getattr(spec, "ism", None), "entities", None) or []
            named += [(f"sinks.{section}.ism.entities", e) for e in ism]
        return [
            f"{where}: unknown entity '{e}' (not the entity of any source)" for where, e in named if e not in entities
        ]

    def match(self, topic: str, namespace: str | None) -> SourceSpec | None:
        """The source for an event (precedence in the module docstring), or ``None``."""
        if namespace is not None:
            found = self._by_pair.get((topic, namespace)) or self._by_namespace.get(namespace)
            if found is not None:
                return found
            return self._by_topic.get(topic)
        found = self._by_topic.get(topic)
        if found is not None:
            return found
        candidates = self._by_any_topic.get(topic, ())
        return candidates[0] if len(candidates) == 1 else None

    def source(self, entity: str) -> SourceSpec | None:
        return self._by_entity.get(entity)

    def topics(self, default_prefix: str = "cdc") -> list[str]:
        """Topics to subscribe: explicit ones, and ``<prefix>.<namespace>`` for the others."""
        out: dict[str, None] = {}
        for src in self.sources:
            out.update(dict.fromkeys(src.source_topics(default_prefix)))
        return list(out)


# --------------------------------------------------------------------------- parsing


class _Loader(getattr(yaml, "CSafeLoader", yaml.SafeLoader)):  # type: ignore[misc]
    """Safe loader that rejects duplicate keys instead of keeping the last one."""

    def construct_mapping(self, node: Any, deep: bool = False) -> Any:
        seen: set[Any] = set()
        for key_node, _ in node.value:
            key = self.construct_object(key_node, deep=True)
            try:
                duplicate = key in seen
            except TypeError:
                continue
            if duplicate:
                raise yaml.constructor.ConstructorError(
                    "while constructing a mapping",
                    node.start_mark,
                    f"duplicate key {_show(key)}",
                    key_node.start_mark,
                )
            seen.add(key)
        return super().construct_mapping(node, deep=deep)


def _where(loc: tuple[Any, ...]) -> str:
    out = ""
    for part in loc:
        if part == "[key]":
            continue
        if isinstance(part, int):
            out += f"[{part}]"
        else:
            out += f".{part}" if out else str(part)
    return out


def _problem(err: Any) -> tuple[str, str]:
    loc = tuple(err["loc"])
    kind = err["type"]
    if kind == "extra_forbidden":
        return _where(loc[:-1]), f"unknown key {_show(loc[-1])}"
    if kind == "missing":
        return _where(loc), "required key missing"
    msg = err["msg"]
    if msg.startswith("Value error, "):
        msg = msg[len("Value error, ") :]
    return _where(loc), msg


def parse_pipelines(text: str, source_name: str) -> PipelinesSpec:
    """Parse and validate the pipelines file; raise :class:`ConfigError` on any problem."""
    try:
        data = yaml.load(text, Loader=_Loader)
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        where = f"line {mark.line + 1}, column {mark.column + 1}" if mark else "unknown position"
        raise ConfigError(f"{source_name}: invalid YAML at {where}: {exc.problem or exc.context}") from None
    except yaml.YAMLError as exc:
        raise ConfigError(f"{source_name}: invalid YAML: {type(exc).__name__}") from None
    if data is None:
        raise ConfigError(f"{source_name}: the file is empty; expected 'version' and 'sources'")
    if not isinstance(data, dict):
        raise ConfigError(f"{source_name}: the top level must be a mapping with 'version' and 'sources'")
    try:
        return PipelinesSpec.model_validate(data)
    except ValidationError as exc:
        lines = []
        for err in exc.errors(include_url=False, include_input=False):
            where, problem = _problem(err)
            prefix = f"{source_name}: {where}: " if where else f"{source_name}: "
            lines.extend(prefix + line for line in problem.splitlines())
        raise ConfigError("\n".join(lines)) from None
