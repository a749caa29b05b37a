"""Moving a stopped Faust group's offsets on the embedded broker (tansu).

Tansu never forgets a group's members on its own: it ignores aiokafka's LeaveGroup, expires no
session, keeps the group ``STABLE`` and refuses an admin offset commit ("unknown member") until
the next JoinGroup rebalances it. So, once the operator confirmed the workers are stopped
(``replay --workers-stopped``), the commit is made as a member: an aiokafka consumer joins under
Faust's assignor name (tansu drops the members that do not rejoin within their rebalance
timeout), checks it was given every partition (else a live member is there: nothing is
committed), commits the targets and stops. Only ever used on the embedded broker."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Iterable, Mapping

from aiokafka import AIOKafkaConsumer
from aiokafka.cluster import ClusterMetadata
from aiokafka.coordinator.assignors.roundrobin import RoundRobinPartitionAssignor
from aiokafka.coordinator.protocol import ConsumerProtocolMemberAssignment, ConsumerProtocolMemberMetadata
from aiokafka.structs import OffsetAndMetadata, TopicPartition

from streamproc.errors import ServiceUnavailable

__all__ = ["commit_as_member"]


class _FaustNamed(RoundRobinPartitionAssignor):
    """Round-robin under the protocol name of Faust's assignor, so tansu lets it join the group."""

    name = "faust"
    version = 4

    @classmethod
    def assign(
        cls, cluster: ClusterMetadata, members: Mapping[str, ConsumerProtocolMemberMetadata]
    ) -> dict[str, ConsumerProtocolMemberAssignment]:
        return super().assign(cluster, members)

    @classmethod
    def metadata(cls, topics: Iterable[str]) -> ConsumerProtocolMemberMetadata:
        return ConsumerProtocolMemberMetadata(cls.version, list(topics), b"")


async def _commit(bootstrap: str, group: str, offsets: dict[tuple[str, int], int], timeout: float) -> None:
    topics = sorted({t for t, _ in offsets})
    consumer = AIOKafkaConsumer(
        *topics,
        bootstrap_servers=bootstrap,
        group_id=group,
        enable_auto_commit=False,
        partition_assignment_strategy=(_FaustNamed,),
        session_timeout_ms=10_000,
        heartbeat_interval_ms=1_000,
        max_poll_interval_ms=300_000,
    )
    await consumer.start()
    try:
        deadline = time.monotonic() + timeout
        wanted = {TopicPartition(t, p) for t, p in offsets}
        while time.monotonic() < deadline and not consumer.assignment():
            await consumer.getmany(timeout_ms=500, max_records=1)
        got = consumer.assignment()
        if not got:
            raise ServiceUnavailable(f"could not join group {group} to move its offsets within {timeout:.0f}s")
        if not wanted <= got:
            raise ServiceUnavailable(
                f"group {group} has another live member (it was given {len(got)} of {len(wanted)} partitions): "
                "nothing was moved; stop every worker of the group first"
            )
        await consumer.commit({TopicPartition(t, p): OffsetAndMetadata(o, "") for (t, p), o in offsets.items()})
    finally:
        await consumer.stop()


def commit_as_member(bootstrap: str, group: str, offsets: dict[tuple[str, int], int], timeout: float = 90.0) -> None:
    """Commit ``offsets`` for ``group`` as its only member (see the module docstring)."""
    asyncio.run(_commit(bootstrap, group, offsets, timeout))
