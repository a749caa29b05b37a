"""The ``aggregations:`` list of the pipelines file as strict pydantic models, and the compile
step to :class:`streamproc.aggregate.spec.AggregationSpec`.

Checked here: names, durations (``500ms``, ``30s``, ``10m``, ``1h``, ``1d``, ``7d``), window
shapes, IANA timezones, metric kinds, the mode rules (rows mode needs a ``time`` field path,
emits ``updates`` and has no session windows or ``where.op``; session windows emit ``final``).
Checked against the rest of the file by :func:`check_aggregations`: unique names, the entity of
a configured source, a configured sink section for each name in ``sinks``.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Annotated

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    ValidationInfo,
    field_validator,
    model_validator,
)

from streamproc.aggregate.spec import DAY_MS, AggregationSpec, MetricSpec, WhereSpec, WindowSpec
from streamproc.config.agg_fields import METRIC_RE, AggName, Duration, PositiveDuration, Scalar, Timezone, segments
from streamproc.config.fields import STRICT, EntityName, OpName, PathStr, choice, show_value

if TYPE_CHECKING:
    from streamproc.config.pipelines import PipelinesSpec
    from streamproc.config.sinks import SinksSpec

__all__ = [
    "WindowConfig",
    "TopKConfig",
    "MetricConfig",
    "WhereConfig",
    "AggregationConfig",
    "check_aggregations",
    "aggregation_specs",
]


class WindowConfig(BaseModel):
    """``{type: tumbling, size}`` | ``{type: hopping, size, step}`` | ``{type: session, gap}``."""

    model_config = STRICT

    type: Annotated[str, choice("window type", ("tumbling", "hopping", "session"))]
    size: PositiveDuration | None = None
    step: PositiveDuration | None = None
    gap: PositiveDuration | None = None

    @model_validator(mode="after")
    def _shape(self) -> WindowConfig:
        wanted = {"tumbling": ("size",), "hopping": ("size", "step"), "session": ("gap",)}[self.type]
        for name in ("size", "step", "gap"):
            given = getattr(self, name) is not None
            if given != (name in wanted):
                problem = "required for" if not given else "does not apply to"
                raise ValueError(f"'{name}' {problem} a {self.type} window")
        size, step = self.size or 0, self.step or self.size or 0
        if self.type == "hopping" and step > size:
            raise ValueError("'step' must not be longer than 'size' (events would fall between windows)")
        if size > DAY_MS and (size % DAY_MS or step % DAY_MS):
            raise ValueError("a window longer than a day needs 'size' (and 'step') in whole days, e.g. 7d")
        return self

    def compile(self) -> WindowSpec:
        return WindowSpec(self.type, self.size or 0, self.step or 0, self.gap or 0)


class TopKConfig(BaseModel):
    model_config = STRICT

    field: PathStr
    k: Annotated[int, Field(ge=1, le=1000)]
    weight: PathStr | None = None


class MetricConfig(BaseModel):
    """Exactly one kind: ``{count: "*"}`` (or a path: its values), ``{sum|avg|min|max|count_distinct:
    path}``, ``{top_k: {field, k, weight?}}``."""

    model_config = STRICT

    count: PathStr | None = None
    sum: PathStr | None = None
    avg: PathStr | None = None
    min: PathStr | None = None
    max: PathStr | None = None
    count_distinct: PathStr | None = None
    top_k: TopKConfig | None = None

    @model_validator(mode="after")
    def _one(self) -> MetricConfig:
        given = [k for k in type(self).model_fields if getattr(self, k) is not None]
        if len(given) != 1:
            raise ValueError("a metric needs exactly one of count, sum, avg, min, max, count_distinct, top_k")
        return self

    def compile(self, name: str) -> MetricSpec:
        kind = next(k for k in type(self).model_fields if getattr(self, k) is not None)
        if self.top_k is not None:
            weight = segments(self.top_k.weight) if self.top_k.weight is not None else None
            return MetricSpec(name, "top_k", segments(self.top_k.field), self.top_k.k, weight)
        path = getattr(self, kind)
        return MetricSpec(name, kind, None if path == "*" else segments(path))


class WhereConfig(BaseModel):
    """``op: [ops kept]`` and/or ``field`` with ``in`` or ``not_in`` (a list of scalars)."""

    model_config = ConfigDict(extra="forbid", strict=True, populate_by_name=False)

    op: Annotated[list[OpName], Field(min_length=1)] | None = None
    field: PathStr | None = None
    in_: Annotated[list[Scalar], Field(min_length=1)] | None = Field(default=None, alias="in")
    not_in: Annotated[list[Scalar], Field(min_length=1)] | None = None

    @model_validator(mode="after")
    def _shape(self) -> WhereConfig:
        lists = self.in_ is not None or self.not_in is not None
        if (self.field is None) == lists:
            raise ValueError("'field' goes with 'in' or 'not_in' (and they with 'field')")
        if self.op is None and self.field is None:
            raise ValueError("'where' needs 'op' and/or 'field' with 'in'/'not_in'")
        return self


class AggregationConfig(BaseModel):
    """One entry of ``aggregations:`` (see config/README.md)."""

    model_config = STRICT

    name: AggName
    entity: EntityName
    mode: Annotated[str, choice("mode", ("events", "rows"))] = "events"
    time: PathStr = Field(default="source", validate_default=True)
    window: WindowConfig
    timezone: Timezone = "UTC"
    group_by: list[PathStr] = Field(default_factory=list)
    where: WhereConfig | None = None
    metrics: Annotated[dict[str, MetricConfig], Field(min_length=1)]
    grace: Duration = 0
    idle_close: PositiveDuration = 60_000
    emit: Annotated[str, choice("emit", ("final", "updates"))] | None = None
    every: PositiveDuration = 1_000
    retain: PositiveDuration = 7 * DAY_MS
    sinks: list[Annotated[str, choice("aggregate sink", ("warehouse", "opensearch"))]] = Field(default_factory=list)

    @field_validator("time")
    @classmethod
    def _time(cls, value: str, info: ValidationInfo) -> str:
        if info.data.get("mode") == "rows" and value == "source":
            raise ValueError("rows mode needs 'time': a field path of the row to bucket by (e.g. startDate)")
        return value

    @field_validator("window")
    @classmethod
    def _window(cls, value: WindowConfig, info: ValidationInfo) -> WindowConfig:
        if info.data.get("mode") == "rows" and value.type == "session":
            raise ValueError(
                "session windows are for events mode only (rows mode would need to split sessions on retraction)"
            )
        return value

    @field_validator("where")
    @classmethod
    def _where(cls, value: WhereConfig | None, info: ValidationInfo) -> WhereConfig | None:
        if info.data.get("mode") == "rows" and value is not None and value.op is not None:
            raise ValueError("'op' applies to events mode; rows mode aggregates the current rows")
        return value

    @field_validator("metrics")
    @classmethod
    def _metrics(cls, value: dict[str, MetricConfig]) -> dict[str, MetricConfig]:
        for name, metric in value.items():
            if not METRIC_RE.fullmatch(name):
                raise ValueError(f"metric name {show_value(name)} must start with a-z or '_' and use a-z, 0-9, '_'")
            if "*" in (metric.sum, metric.avg, metric.min, metric.max, metric.count_distinct):
                raise ValueError(f"{name}: '*' (every input) applies to count only")
        return value

    @field_validator("group_by", "sinks")
    @classmethod
    def _unique(cls, value: list[str]) -> list[str]:
        if len(set(value)) != len(value):
            raise ValueError("names an entry twice")
        return value

    @field_validator("emit")
    @classmethod
    def _emit(cls, value: str | None, info: ValidationInfo) -> str | None:
        if info.data.get("mode") == "rows" and value == "final":
            raise ValueError(
                "rows mode emits 'updates' (a row-time bucket has no watermark); 'final' is for events mode"
            )
        window = info.data.get("window")
        if value == "updates" and window is not None and window.type == "session":
            raise ValueError("session windows emit 'final' (sessions merge, so updates would name vanishing windows)")
        return value

    def compile(self) -> AggregationSpec:
        where = self.where or WhereConfig.model_construct(op=None, field=None, in_=None, not_in=None)
        return AggregationSpec(
            name=self.name,
            entity=self.entity,
            mode=self.mode,
            time=None if self.time == "source" else segments(self.time),
            window=self.window.compile(),
            timezone=self.timezone,
            group_by=tuple(segments(p) for p in self.group_by),
            where=WhereSpec(
                ops=frozenset(o.value for o in where.op) if where.op is not None else None,
                field=segments(where.field) if where.field is not None else None,
                in_=tuple(where.in_) if where.in_ is not None else None,
                not_in=tuple(where.not_in) if where.not_in is not None else None,
            ),
            metrics=tuple(m.compile(name) for name, m in self.metrics.items()),
            grace_ms=self.grace,
            idle_close_ms=self.idle_close,
            emit=self.emit or ("updates" if self.mode == "rows" else "final"),
            every_ms=self.every,
            retain_ms=self.retain,
            sinks=tuple(self.sinks),
        )


def check_aggregations(aggregations: list[AggregationConfig], entities: set[str], sinks: SinksSpec) -> list[str]:
    """The problems only the whole file shows: duplicate names, unknown entities, unconfigured sinks."""
    problems = []
    seen: dict[str, int] = {}
    for n, agg in enumerate(aggregations):
        if agg.name in seen:
            problems.append(
                f"aggregations[{n}].name: duplicate name '{agg.name}' (already used by aggregations[{seen[agg.name]}])"
            )
        seen.setdefault(agg.name, n)
        if agg.entity not in entities:
            problems.append(f"aggregations[{n}].entity: unknown entity '{agg.entity}' (not the entity of any source)")
        for sink in agg.sinks:
            if getattr(sinks, sink) is None:
                problems.append(f"aggregations[{n}].sinks: '{sink}' is named but the file has no sinks.{sink} section")
    return problems


def aggregation_specs(pipelines: PipelinesSpec) -> list[AggregationSpec]:
    """The compiled aggregations of a validated pipelines file, in file order."""
    return [agg.compile() for agg in pipelines.aggregations]
