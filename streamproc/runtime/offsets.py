"""Consumer-group offsets with confluent-kafka's AdminClient, for ``streamproc replay``: describe a
group (state, members and their hosts), read each partition's watermarks and the group's committed
offset, find the first offset at or after a time, move the group's offsets, delete topics.

The embedded broker (tansu) answers ListOffsets(latest) with the last record batch's base offset
+ 1 and by timestamp at batch granularity; where it is the broker, ends are read from a fetch
response's high watermark and a time's offset by reading forward from the broker's answer, so the
plan is exact there too. On Kafka both answers are exact and used as they are."""

from __future__ import annotations

import time
import uuid
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass

from confluent_kafka import Consumer, ConsumerGroupTopicPartitions, KafkaException, TopicPartition
from confluent_kafka.admin import AdminClient

from streamproc.errors import ServiceUnavailable
from streamproc.operations.offsets import PartitionState, PlanRow
from streamproc.runtime.admin import is_embedded

__all__ = ["GroupInfo", "GroupAdmin", "ACTIVE_STATES"]

#: group states in which a consumer is a member (kafka-consumer-groups refuses a reset in these)
ACTIVE_STATES = frozenset({"STABLE", "PREPARING_REBALANCE", "COMPLETING_REBALANCE", "ASSIGNING", "RECONCILING"})

Progress = Callable[[str], None]


@dataclass(frozen=True, slots=True)
class GroupInfo:
    group: str
    state: str
    #: (member id, client id, host) of every member the broker lists
    members: tuple[tuple[str, str, str], ...]

    @property
    def active(self) -> bool:
        return bool(self.members) or self.state in ACTIVE_STATES


class GroupAdmin:
    """One admin client and one reader (no group membership) on ``bootstrap``."""

    def __init__(self, bootstrap: str, client: Mapping[str, str] | None = None, timeout: float = 15.0) -> None:
        conf = {**(client or {}), "bootstrap.servers": bootstrap}
        self.timeout = timeout
        self.bootstrap = bootstrap
        self.admin = AdminClient(dict(conf))
        self.reader = Consumer(
            {**conf, "group.id": f"streamproc-replay-reader-{uuid.uuid4().hex[:8]}", "enable.auto.commit": False}
        )
        self.embedded = is_embedded(bootstrap, client)

    def close(self) -> None:
        self.reader.close()

    def _wait(self, future: object, what: str) -> object:
        try:
            return future.result()  # type: ignore[attr-defined]
        except KafkaException as exc:
            raise ServiceUnavailable(f"{what}: {exc.args[0].str() if exc.args else exc}") from None

    def describe(self, group: str) -> GroupInfo:
        """The group's state and members (the embedded broker lists no members, only the state)."""
        d = self._wait(self.admin.describe_consumer_groups([group], request_timeout=self.timeout)[group], group)
        members = tuple(
            (m.member_id, m.client_id, m.host)
            for m in d.members  # type: ignore[attr-defined]
        )
        state = getattr(d.state, "name", str(d.state))  # type: ignore[attr-defined]
        return GroupInfo(group, state, members)

    def partition_counts(self, topics: Iterable[str] | None = None) -> dict[str, int]:
        """Partition count of each existing topic (of ``topics``, or every topic)."""
        try:
            md = self.admin.list_topics(timeout=self.timeout)
        except KafkaException as exc:
            raise ServiceUnavailable(f"Kafka unreachable: {exc}") from None
        wanted = None if topics is None else set(topics)
        return {n: len(t.partitions) for n, t in md.topics.items() if not t.error and (wanted is None or n in wanted)}

    def committed(self, group: str, tps: list[tuple[str, int]] | None = None) -> dict[tuple[str, int], int]:
        """The group's committed offsets (of ``tps``, or of every partition it committed)."""
        request = [TopicPartition(t, p) for t, p in tps] if tps is not None else None
        fut = self.admin.list_consumer_group_offsets(
            [ConsumerGroupTopicPartitions(group, request)], request_timeout=self.timeout
        )[group]
        result = self._wait(fut, f"committed offsets of {group}")
        return {
            (tp.topic, tp.partition): tp.offset
            for tp in result.topic_partitions  # type: ignore[attr-defined]
            if tp.offset >= 0 and tp.error is None
        }

    def states(self, group: str, tps: list[tuple[str, int]]) -> list[PartitionState]:
        committed = self.committed(group, tps)
        out = []
        for topic, partition in tps:
            low, high = self.watermarks(topic, partition)
            out.append(PartitionState(topic, partition, low, high, committed.get((topic, partition))))
        return out

    def watermarks(self, topic: str, partition: int) -> tuple[int, int]:
        tp = TopicPartition(topic, partition)
        try:
            low, high = self.reader.get_watermark_offsets(tp, timeout=self.timeout)
        except KafkaException as exc:
            raise ServiceUnavailable(f"cannot read the offsets of {topic}[{partition}]: {exc}") from None
        if self.embedded and high > low:
            high = self._fetched_high(topic, partition, high)
        return int(low), int(high)

    def _fetched_high(self, topic: str, partition: int, reported: int) -> int:
        """The high watermark of a fetch at the reported end - 1 (exact on the embedded broker)."""
        tp = TopicPartition(topic, partition, reported - 1)
        self.reader.assign([tp])
        deadline = time.monotonic() + self.timeout
        high = -1
        while time.monotonic() < deadline:
            msg = self.reader.poll(0.2)
            _, high = self.reader.get_watermark_offsets(tp, cached=True)
            if msg is not None or high >= reported:
                break
        self.reader.unassign()
        return max(reported, high)

    def offsets_at(
        self, rows: list[PartitionState], ts_ms: int, progress: Progress | None = None
    ) -> dict[tuple[str, int], int]:
        """Per partition the first offset whose record time is at or after ``ts_ms`` (absent: none)."""
        asked = [TopicPartition(s.topic, s.partition, ts_ms) for s in rows]
        try:
            found = self.reader.offsets_for_times(asked, timeout=self.timeout) if asked else []
        except KafkaException as exc:
            raise ServiceUnavailable(f"cannot look up offsets by time: {exc}") from None
        out: dict[tuple[str, int], int] = {}
        ends = {(s.topic, s.partition): (s.low, s.high) for s in rows}
        for tp in found:
            low, high = ends[(tp.topic, tp.partition)]
            hint = tp.offset if tp.offset >= 0 else high
            if self.embedded:
                hint = self._scan_for_time(tp.topic, tp.partition, max(low, min(hint, high)), high, ts_ms, progress)
            if hint < high:
                out[(tp.topic, tp.partition)] = hint
        return out

    def _scan_for_time(
        self, topic: str, partition: int, start: int, high: int, ts_ms: int, progress: Progress | None
    ) -> int:
        """Read forward from ``start`` to the first record at or after ``ts_ms`` (``high``: none)."""
        if start >= high:
            return high
        self.reader.assign([TopicPartition(topic, partition, start)])
        read, last_report = 0, time.monotonic()
        deadline = time.monotonic() + max(self.timeout, 300.0)
        try:
            while time.monotonic() < deadline:
                for msg in self.reader.consume(500, 0.5):
                    if msg.error() is not None:
                        continue
                    read += 1
                    offset = msg.offset() or 0
                    if msg.timestamp()[1] >= ts_ms:
                        return offset
                    if offset >= high - 1:
                        return high
                if progress is not None and time.monotonic() - last_report > 2:
                    progress(f"{topic}[{partition}]: {read} records read looking for the time")
                    last_report = time.monotonic()
            raise ServiceUnavailable(f"{topic}[{partition}]: reading for the time did not reach the end in time")
        finally:
            self.reader.unassign()

    def move(self, group: str, rows: list[PlanRow]) -> None:
        """Commit each row's target as the group's offset (the group must have no members). On
        the embedded broker a stopped group it refuses this for is moved by a member's commit
        (:mod:`streamproc.runtime.embedded_group`)."""
        if not rows:
            return
        if self.embedded and self.describe(group).state in ACTIVE_STATES:
            from streamproc.runtime.embedded_group import commit_as_member

            commit_as_member(self.bootstrap, group, {(r.topic, r.partition): r.target for r in rows})
            return
        request = [TopicPartition(r.topic, r.partition, r.target) for r in rows]
        fut = self.admin.alter_consumer_group_offsets(
            [ConsumerGroupTopicPartitions(group, request)], request_timeout=self.timeout
        )[group]
        result = self._wait(fut, f"moving the offsets of {group}")
        failed = [tp for tp in result.topic_partitions if tp.error is not None]  # type: ignore[attr-defined]
        if failed:
            first = failed[0]
            raise ServiceUnavailable(
                f"moving the offsets of {group}: {len(failed)} partitions refused "
                f"(first {first.topic}[{first.partition}]: {first.error.str()})"
            )

    def delete_topics(self, names: list[str], progress: Progress | None = None) -> None:
        if not names:
            return
        futures = self.admin.delete_topics(names, operation_timeout=self.timeout)
        for name, fut in futures.items():
            try:
                fut.result()
            except KafkaException as exc:
                if "UNKNOWN_TOPIC" not in str(exc):
                    raise ServiceUnavailable(f"cannot delete topic {name}: {exc}") from None
            if progress is not None:
                progress(f"deleted topic {name}")
