"""Drives one :class:`Sink`: batch limits, retries with exponential backoff and jitter, a circuit
breaker, backpressure, and the DLQ hand-off of per-record failures. No Faust and no SDK here;
the backoff and the breaker are in ``retry.py``.

:meth:`SinkRunner.deliver` returns only when every record it was given is written or reported as
a permanent failure (and handed to ``dead_letter``); the caller acknowledges offsets after that.
It never gives up on a transient failure — an outage holds the batch (and, through ``pause``, the
partitions) until the target is back — and it re-raises :class:`FatalSinkError` and anything
unexpected, which stop the worker before the batch is acknowledged.
"""

from __future__ import annotations

import asyncio
import logging
import random
import time
from collections.abc import Awaitable, Callable, Iterable, Iterator
from typing import TYPE_CHECKING, Any

from streamproc.errors import FatalSinkError, RetriableSinkError, SinkBackpressure
from streamproc.sinks.base import Sink, SinkBatch, SinkFailure, SinkRecord
from streamproc.sinks.retry import BREAKER_STATES, Backoff, CircuitBreaker

if TYPE_CHECKING:
    from streamproc.config.settings import SinkRuntimeSettings
    from streamproc.runtime.metrics import SinkMetrics

__all__ = ["SinkRunner", "chunks"]

log = logging.getLogger("streamproc.sink")


def chunks(
    records: Iterable[Any], max_records: int, max_bytes: int, size: Callable[[Any], int] = lambda r: r.size
) -> Iterator[list[Any]]:
    """Consecutive slices of at most ``max_records`` items and ``max_bytes`` bytes, each item
    weighing ``size(item)`` (default: ``item.size``); an item larger than ``max_bytes`` forms a
    slice of its own. Order is kept."""
    out: list[Any] = []
    total = 0
    for r in records:
        n = size(r)
        if out and (len(out) >= max_records or total + n > max_bytes):
            yield out
            out, total = [], 0
        out.append(r)
        total += n
    if out:
        yield out


class SinkRunner:
    """Delivers records to one sink in bounded chunks (see the module docstring); ``conf`` gives
    the batch limits, backoff and breaker settings, ``max_records``/``max_bytes`` override the
    batch limits (a sink's own ``batch_limits``)."""

    def __init__(
        self,
        sink: Sink,
        conf: SinkRuntimeSettings,
        metrics: SinkMetrics,
        dead_letter: Callable[[SinkFailure, str], None],
        pause: Callable[[], None] = lambda: None,
        resume: Callable[[], None] = lambda: None,
        sleep: Callable[[float], Awaitable[Any]] = asyncio.sleep,
        rng: random.Random | None = None,
        max_records: int | None = None,
        max_bytes: int | None = None,
    ) -> None:
        self.sink = sink
        self.conf = conf
        self.metrics = metrics
        self.dead_letter = dead_letter
        self.pause = pause
        self.resume = resume
        self.sleep = sleep
        self.backoff = Backoff(conf.retry_initial, conf.retry_max, rng)
        self.breaker = CircuitBreaker(conf.breaker_failures, conf.breaker_reset)
        self.max_records = max_records or conf.batch_records
        self.max_bytes = max_bytes or conf.batch_bytes
        self._started = False
        self._start_lock = asyncio.Lock()
        self._paused = False

    async def ensure_started(self) -> None:
        async with self._start_lock:
            if not self._started:
                await self.sink.start()
                self._started = True

    async def stop(self) -> None:
        if self._started:
            self._started = False
            await self.sink.stop()

    def wanted(self, records: Iterable[SinkRecord]) -> list[SinkRecord]:
        return [r for r in records if self.sink.wants(r)]

    async def deliver(self, records: list[SinkRecord]) -> int:
        """Write ``records`` (those the sink wants); returns how many were written."""
        await self.ensure_started()
        written = 0
        for chunk in chunks(self.wanted(records), self.max_records, self.max_bytes):
            written += await self._write(chunk)
        return written

    def _set_paused(self, paused: bool) -> None:
        if paused != self._paused:
            self._paused = paused
            (self.pause if paused else self.resume)()

    def _observe_breaker(self) -> None:
        self.metrics.breaker.labels(self.sink.name).set(BREAKER_STATES[self.breaker.state])

    async def _write(self, records: list[SinkRecord]) -> int:
        name = self.sink.name
        m = self.metrics
        attempt = 0
        while True:
            wait = self.breaker.wait_time()
            if wait > 0:
                self._observe_breaker()
                await self.sleep(wait)
            batch = SinkBatch(list(records))
            started = time.perf_counter()
            try:
                await self.sink.write(batch)
            except FatalSinkError:
                raise
            except SinkBackpressure as exc:
                delay = max(exc.retry_after, self.backoff.delay(attempt))
                reason = "throttled"
                detail = str(exc)
            except RetriableSinkError as exc:
                self.breaker.failure()
                delay = self.backoff.delay(attempt)
                reason = "transient"
                detail = str(exc)
            else:
                self.breaker.success()
                self._set_paused(False)
                self._observe_breaker()
                return self._done(batch, time.perf_counter() - started)
            self._set_paused(True)
            self._observe_breaker()
            m.retries.labels(name, reason).inc()
            log.warning(
                "%s: batch of %d records failed (%s: %s); retry %d in %.1fs, breaker %s",
                name,
                len(records),
                reason,
                detail,
                attempt + 1,
                delay,
                self.breaker.state,
            )
            attempt += 1
            await self.sleep(delay)

    def _done(self, batch: SinkBatch, seconds: float) -> int:
        name = self.sink.name
        m = self.metrics
        failed = {id(f.record) for f in batch.failures}
        for f in batch.failures:
            self.dead_letter(f, name)
            m.dlq.labels(name, f.error_class).inc()
        written = 0
        per_entity: dict[str, list[int]] = {}
        for r in batch.records:
            if id(r) in failed:
                continue
            written += 1
            acc = per_entity.setdefault(r.entity, [0, 0])
            acc[0] += 1
            acc[1] += r.size
        for entity, (n, size) in per_entity.items():
            m.records.labels(name, entity).inc(n)
            m.bytes.labels(name, entity).inc(size)
        m.batch_seconds.labels(name).observe(seconds)
        return written
