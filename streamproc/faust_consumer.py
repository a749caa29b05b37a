"""A Faust consumer whose fetch loop hands messages to the conductor without a task per message.

Faust's stock ``Consumer._drain_messages`` awaits ``wait_first(callback(message),
suspend_flow.wait())`` for every message, which creates and schedules two asyncio tasks per
message. On this project's 2-core reference machine that caps a bare ``take_events`` agent at
about 4,500 messages/s; calling the callback directly when flow is not suspended measured
about 11,500 messages/s (bench/ingest_bench.py, docs/PERFORMANCE.md).

Semantics kept: the read-offset bookkeeping and gap tracking used for acknowledgements, the
``broker_commit_every`` commits, and the abort-on-suspend behaviour while a rebalance has
suspended the flow (then the stock ``wait_first`` path is taken). Topic channels enqueue with
``put_nowait`` and apply back-pressure by pausing partitions, so the direct call does not block.
Written against faust-streaming 0.15 (pinned to 0.15.x in pyproject.toml).
"""

from __future__ import annotations

import asyncio
from typing import Any

from faust.transport.drivers import aiokafka as _aiokafka

__all__ = ["BatchDrainConsumer", "ShortFetchWaitThread", "install", "FETCH_MAX_WAIT_MS"]

#: Faust hard-codes fetch_max_wait_ms=1500 for its worker consumer. A broker that does not
#: answer a long-poll fetch as soon as data arrives then adds up to that much latency per fetch
#: (measured on the embedded broker: p50 end-to-end 1.7 s at 2,000 events/s offered).
FETCH_MAX_WAIT_MS = 100


class ShortFetchWaitThread(_aiokafka.AIOKafkaConsumerThread):
    def _create_worker_consumer(self, transport: Any) -> Any:
        consumer = super()._create_worker_consumer(transport)
        consumer._fetch_max_wait_ms = FETCH_MAX_WAIT_MS  # read by AIOKafkaConsumer.start()
        return consumer

class BatchDrainConsumer(_aiokafka.Consumer):
    def _new_consumer_thread(self) -> Any:
        return ShortFetchWaitThread(self, loop=self.loop, beacon=self.beacon)

    async def _drain_messages(self, fetcher: Any) -> None:  # noqa: C901 - one tight loop
        callback = self.callback
        getmany = self.getmany
        consumer_stopped = self._stopped.is_set
        fetcher_stopped = fetcher._stopped.is_set
        read_offset = self._read_offset
        suspended = self.suspend_flow.is_set
        acks_enabled_for = self.app.topics.acks_enabled_for
        commit_every = self._commit_every
        since_yield = 0
        try:
            while not (consumer_stopped() or fetcher_stopped()):
                await asyncio.sleep(0)
                if self.should_stop:
                    return
                async for tp, message in getmany(timeout=1.0):
                    offset = message.offset
                    last = read_offset.get(tp)
                    if last is not None and offset < last:
                        continue  # already delivered (seek back after a rebalance)
                    if last and offset - last > 1 and acks_enabled_for(message.topic):
                        await self._add_gap(tp, last + 1, offset)  # compacted/transactional gaps
                    if commit_every is not None and self._n_acked >= commit_every:
                        self._n_acked = 0
                        await self.commit()
                    if suspended():
                        await self.wait_first(callback(message), self.suspend_flow.wait())
                    else:
                        await callback(message)
                    read_offset[tp] = offset
                    since_yield += 1
                    if since_yield >= 500:
                        since_yield = 0
                        await asyncio.sleep(0)
        except self.consumer_stopped_errors:
            if self.transport.app.should_stop:
                return
            raise
        except asyncio.CancelledError:
            if self.transport.app.should_stop:
                return
            raise


def install(app: Any) -> None:
    """Use :class:`BatchDrainConsumer` for ``app``; call before the app's consumer is created."""
    app.transport.Consumer = BatchDrainConsumer
