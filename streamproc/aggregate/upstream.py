"""The first step of an aggregation, keyed by the clean event's ENTITY KEY (co-partitioned with
the clean topic ``<prefix>.events.<entity>``): one clean event in, signed :class:`Delta`\\ s out.

events mode: ``row_state`` is ``{"p": last position, "h": [hashes applied at it]}`` — a
redelivered event is a duplicate and yields no delta. rows mode: ``row_state`` is what the row
contributes now (time, group, inputs, skipped, position); an update retracts it and adds the new
contribution (possibly to another window or group), a delete retracts it.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from streamproc.aggregate.delta import Delta
    from streamproc.aggregate.spec import AggregationSpec

__all__ = ["Upstream", "upstream_step"]


@dataclass(frozen=True)
class Upstream:
    """What one event did.

    ``row_state``: the new per-entity-key state to store (``None``: delete the entry);
    ``deltas``: to produce to the repartition topic keyed by ``Delta.group_key``, in order;
    ``time_ms``: the event time (``None`` when it has none), ``watermark_ms``: the partition's
    watermark after this event (the one given, advanced to ``time_ms`` in events mode);
    ``incomplete``/``filtered``/``duplicate``/``untimed``: counters for the metrics.
    """

    row_state: dict[str, Any] | None
    deltas: list[Delta] = field(default_factory=list)
    time_ms: int | None = None
    watermark_ms: int | None = None
    incomplete: int = 0
    filtered: bool = False
    duplicate: bool = False
    untimed: bool = False


def upstream_step(
    spec: AggregationSpec,
    row_state: dict[str, Any] | None,
    event: dict[str, Any],
    src: tuple[int, int],
    watermark_ms: int | None = None,
) -> Upstream:
    """Apply one clean event (the parsed clean-event JSON value) of ``spec.entity``.

    ``src`` is (clean-topic partition, offset); each delta's ``src`` adds its index within the
    offset. ``watermark_ms`` is the partition's watermark before this event (the runtime keeps it
    per partition and stores ``Upstream.watermark_ms`` back); every delta carries the new one.
    """
    from streamproc.aggregate.upstream_impl import step

    return step(spec, row_state, event, src, watermark_ms)
