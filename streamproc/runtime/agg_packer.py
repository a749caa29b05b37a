"""How the upstream agent sends one batch's deltas to a repartition topic: packed, one message
per repartition partition (:func:`~streamproc.aggregate.pack`), each delta to the partition of
its group (:func:`~streamproc.aggregate.partition_of`).

Per upstream partition a batch goes either combined (:func:`~streamproc.aggregate.combine.combine`;
its deltas for one repartition partition in ONE message, never split, so they are durable all
together or not at all) or one delta per event (split at :data:`PACK_BYTES`: a producer makes a
prefix of a partition's messages durable, so a crash leaves a prefix of that partition's deltas,
and per-event deltas are deduplicated one by one). A combined batch too large for one message
(:data:`WHOLE_BYTES`) goes per event.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from streamproc.aggregate import Delta, pack, partition_of

if TYPE_CHECKING:
    from streamproc.runtime.aggregations import AggregationRuntime

__all__ = ["PACK_BYTES", "WHOLE_BYTES", "Packer"]

#: a pack of per-event deltas is sent once it reaches this size
PACK_BYTES = 256 * 1024
#: the largest message of combined deltas (below the broker's default limit of 1 MiB)
WHOLE_BYTES = 768 * 1024


class Packer:
    """The deltas of one batch, per (aggregation, repartition partition)."""

    def __init__(self, role: AggregationRuntime) -> None:
        self.role = role
        self.pending: dict[tuple[str, int], tuple[list[bytes], int]] = {}

    def _partition(self, aggregation: str, delta: Delta) -> int:
        return partition_of(delta.group_key, self.role.repartitions[aggregation])

    def add(self, aggregation: str, deltas: list[Delta]) -> None:
        """Per-event deltas, in order."""
        for d in deltas:
            where = (aggregation, self._partition(aggregation, d))
            value = d.to_json()
            queued, size = self.pending.get(where, ([], 0))
            queued.append(value)
            size += len(value) + 1
            if size >= PACK_BYTES:
                self._send(where, queued)
                queued, size = [], 0
            self.pending[where] = (queued, size)

    def add_whole(self, aggregation: str, combined: list[Delta]) -> bool:
        """Combined deltas, one message per repartition partition; ``False`` (nothing sent) when
        one would exceed :data:`WHOLE_BYTES`."""
        parts: dict[int, list[bytes]] = {}
        for d in combined:
            parts.setdefault(self._partition(aggregation, d), []).append(d.to_json())
        messages = {p: pack(aggregation, values) for p, values in parts.items()}
        if any(len(m) > WHOLE_BYTES for m in messages.values()):
            return False
        topic = self.role.repartition_topic(aggregation)
        for p, message in messages.items():
            self.role.producer.produce(topic, b"deltas", message, partition=p)
        return True

    def _send(self, where: tuple[str, int], values: list[bytes]) -> None:
        aggregation, partition = where
        topic = self.role.repartition_topic(aggregation)
        self.role.producer.produce(topic, b"deltas", pack(aggregation, values), partition=partition)

    def send(self) -> None:
        """Every per-event delta still queued; before the batch's ticks, which follow its deltas."""
        for where, (values, _) in self.pending.items():
            if values:
                self._send(where, values)
        self.pending.clear()
