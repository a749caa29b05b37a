"""The pipelines file (``config/pipelines.yaml``) as strict pydantic models.

The models check everything that can be checked without data: types, enumerated choices,
consistent validation rules, transform steps with exactly one kind (the step models are in
:mod:`streamproc.config.steps`), no redaction of a field a transform renames, unique entities
and unambiguous sources, known sink entities. Sources inherit ``defaults`` during validation.
Reading, YAML parsing and the error format live in :mod:`streamproc.config.loader`; which
source an event belongs to is decided by :class:`streamproc.pipeline.routing.SourceRouter`.
"""

from __future__ import annotations

from typing import Annotated, Any

from pydantic import BaseModel, Field, model_validator
from pydantic_core import PydanticCustomError

from streamproc.aggregate.spec import AggregationSpec
from streamproc.config.aggregations import AggregationConfig, check_aggregations
from streamproc.config.fields import (
    STRICT,
    EntityName,
    FormatName,
    Namespace,
    NonEmptyStr,
    OnInvalid,
    OpName,
    TopicName,
    Version,
    key_field_reached,
)
from streamproc.config.sinks import SinksSpec
from streamproc.config.steps import RedactRule, RenameSpec, TransformStep, ValidationRule
from streamproc.model import Op
from streamproc.pipeline.path_syntax import parse_path
from streamproc.pipeline.vocabulary import DEFAULT_OPERATIONS, NON_INJECTIVE, PAST_TENSE

__all__ = ["ValidationRule", "RenameSpec", "TransformStep", "RedactRule", "Defaults", "SourceSpec", "PipelinesSpec"]


class Defaults(BaseModel):
    """Values every source inherits unless it sets them itself."""

    model_config = STRICT

    operations: Annotated[list[OpName], Field(min_length=1)] | None = None
    key: Annotated[list[NonEmptyStr], Field(min_length=1)] | None = None
    format: FormatName | None = None
    on_invalid: OnInvalid | None = None


class SourceSpec(BaseModel):
    """One captured collection/table and the steps applied to its events."""

    model_config = STRICT

    entity: EntityName
    topic: TopicName | None = None
    namespace: Namespace | None = None
    format: FormatName | None = None
    key: Annotated[list[NonEmptyStr], Field(min_length=1)] | None = None
    operations: Annotated[list[OpName], Field(min_length=1)] | None = None
    on_invalid: OnInvalid | None = None
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

    def severity(self, rule: ValidationRule) -> str:
        """A rule's effective severity: its own, else ``warn`` when ``on_invalid`` is ``emit``, else ``error``."""
        if rule.severity is not None:
            return rule.severity
        return "warn" if self.on_invalid == "emit" else "error"

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


class PipelinesSpec(BaseModel):
    """The whole file. Sources inherit ``defaults``; top-level ``x-…`` keys are ignored."""

    model_config = STRICT

    version: Version
    defaults: Defaults = Field(default_factory=Defaults)
    sources: Annotated[list[SourceSpec], Field(min_length=1)]
    sinks: SinksSpec = Field(default_factory=SinksSpec)
    aggregations: list[AggregationConfig] = Field(default_factory=list)

    @model_validator(mode="before")
    @classmethod
    def _extension_keys(cls, data: Any) -> Any:
        """Top-level ``x-…`` keys are ignored: a place for YAML anchors (``<<: *anchor``)."""
        if not isinstance(data, dict):
            return data
        return {k: v for k, v in data.items() if not (isinstance(k, str) and k.startswith("x-"))}

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
            if src.on_invalid is None:
                src.on_invalid = d.on_invalid or "dlq"
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
                if rule.mode in NON_INJECTIVE and (hit := key_field_reached(rule.path, src.key or [])):
                    problems.append(
                        f"sources[{n}].redact[{r}]: cannot {rule.mode.value} key field '{hit}' (distinct keys "
                        "would share one dedupe state and one target record); use HASH or TOKENIZE"
                    )
        problems += self._unknown_sink_entities(set(seen_entity))
        problems += check_aggregations(self.aggregations, set(seen_entity), self.sinks)
        if problems:
            raise ValueError("\n".join(problems))
        return self

    def _unknown_sink_entities(self, entities: set[str]) -> list[str]:
        """A sink section naming an entity no source has is a typo that would silently write nothing."""
        named: list[tuple[str, Any]] = []
        for section in ("s3_trigger", "s3_archive", "opensearch", "warehouse", "eventbridge"):
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

    def source(self, entity: str) -> SourceSpec | None:
        """The source of ``entity`` (entities are unique), or ``None``."""
        return next((src for src in self.sources if src.entity == entity), None)

    def aggregation_specs(self) -> list[AggregationSpec]:
        """The compiled ``aggregations:`` entries, in file order."""
        return [agg.compile() for agg in self.aggregations]

    def topics(self, default_prefix: str = "cdc") -> list[str]:
        """Topics to subscribe: explicit ones, and ``<prefix>.<namespace>`` for the others."""
        out: dict[str, None] = {}
        for src in self.sources:
            out.update(dict.fromkeys(src.source_topics(default_prefix)))
        return list(out)
