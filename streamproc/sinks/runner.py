"""Drives one :class:`Sink`: start-up, batch limits, retries with exponential backoff and jitter,
a circuit breaker, backpressure, and the DLQ hand-off of per-record failures. No Faust and no SDK
here; the backoff and the breaker are in ``retry.py``.

:meth:`SinkRunner.ensure_started` returns once the sink's ``start()`` succeeded. A transient
failure at start (the target unreachable, a 5xx, throttling, a database not accepting connections)
is retried like a failed write — same backoff, same breaker, partitions paused — for as long as
the outage lasts, while ``streamproc_sink_ready{sink}`` says 0; a :class:`FatalSinkError` (missing
bucket, refused credentials) propagates and stops the worker.

:meth:`SinkRunner.deliver` returns only when every record it was given is written or reported as
a permanent failure (and handed to ``dead_letter``); the caller acknowledges offsets after that.
It never gives up on a transient failure — an outage holds the batch (and, through ``pause``, the
partitions) until the target is back — and it re-raises :class:`FatalSinkError` and anything
unexpected, which stop the worker before the batch is acknowledged.

Metric labels carry the sink's name and, for record counts, the record's entity only when it is
one of the configured ``entities`` (else :data:`OTHER_ENTITY`): a clean event's ``entity`` field
is payload, and a foreign record must not create label values.
"""

from __future__ import annotations

import asyncio
import logging
import random
import time
from collections.abc import Awaitable, Callable, Collection, Iterable, Iterator
from typing import TYPE_CHECKING, Any

from streamproc.errors import RetriableSinkError, SinkBackpressure
from streamproc.sinks.base import Sink, SinkBatch, SinkFailure, SinkRecord
from streamproc.sinks.retry import BREAKER_STATES, Backoff, CircuitBreaker

if TYPE_CHECKING:
    from streamproc.config.settings import SinkRuntimeSettings
    from streamproc.runtime.metrics import SinkMetrics

__all__ = ["SinkRunner", "chunks", "OTHER_ENTITY"]

log = logging.getLogger("streamproc.sink")

#: The ``entity`` metric label of a record whose entity is not a configured one.
OTHER_ENTITY = "other"


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
    """Starts and delivers records to one sink in bounded chunks (see the module docstring);
    ``conf`` gives the batch limits, backoff and breaker settings, ``max_records``/``max_bytes``
    override the batch limits (a sink's own ``batch_limits``), ``entities`` are the configured
    entity names (metric labels; ``None``: any entity is used as its label)."""

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
        entities: Collection[str] | None = None,
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
        self.entities = frozenset(entities) if entities is not None else None
        self._started = False
        self._start_lock = asyncio.Lock()
        self._paused = False
        self._set_ready(False)

    @property
    def started(self) -> bool:
        """Whether the sink's ``start()`` succeeded (and ``stop()`` was not called since)."""
        return self._started

    def _set_ready(self, ready: bool) -> None:
        self._started = ready
        self.metrics.ready.labels(self.sink.name).set(1 if ready else 0)

    async def ensure_started(self) -> None:
        """Start the sink unless started, retrying transient failures (see the module docstring)."""
        async with self._start_lock:
            attempt = 0
            while not self._started:
                await self._breaker_wait()
                try:
                    await self.sink.start()
                except (SinkBackpressure, RetriableSinkError) as exc:
                    await self._failed(exc, attempt, "start")
                    attempt += 1
                    continue
                self._succeeded()
                self._set_ready(True)
                log.info("sink %s started", self.sink.name)

    async def stop(self) -> None:
        if self._started:
            self._set_ready(False)
            await self.sink.stop()

    def wanted(self, records: Iterable[SinkRecord]) -> list[SinkRecord]:
        return [r for r in records if self.sink.wants(r)]

    async def deliver(self, records: list[SinkRecord]) -> int:
        """Write ``records`` (those the sink wants); returns how many were written. Starts the
        sink first if needed (waiting out a start-up outage)."""
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

    async def _breaker_wait(self) -> None:
        wait = self.breaker.wait_time()
        if wait > 0:
            self._observe_breaker()
            await self.sleep(wait)

    def _succeeded(self) -> None:
        self.breaker.success()
        self._set_paused(False)
        self._observe_breaker()

    async def _failed(self, exc: SinkBackpressure | RetriableSinkError, attempt: int, what: str) -> None:
        """Account for a transient failure of ``what`` (a start or a batch) and sleep the backoff."""
        if isinstance(exc, SinkBackpressure):
            delay = max(exc.retry_after, self.backoff.delay(attempt))
            reason = "throttled"
        else:
            self.breaker.failure()
            delay = self.backoff.delay(attempt)
            reason = "transient"
        self._set_paused(True)
        self._observe_breaker()
        self.metrics.retries.labels(self.sink.name, reason).inc()
        log.warning(
            "%s: %s failed (%s: %s); retry %d in %.1fs, breaker %s",
            self.sink.name,
            what,
            reason,
            exc,  # sink errors name targets, fields and codes, never values
            attempt + 1,
            delay,
            self.breaker.state,
        )
        await self.sleep(delay)

    async def _write(self, records: list[SinkRecord]) -> int:
        attempt = 0
        while True:
            await self._breaker_wait()
            batch = SinkBatch(list(records))
            started = time.perf_counter()
            try:
                await self.sink.write(batch)
            except (SinkBackpressure, RetriableSinkError) as exc:
                await self._failed(exc, attempt, f"batch of {len(records)} records")
                attempt += 1
                continue
            self._succeeded()
            return self._done(batch, time.perf_counter() - started)

    def label(self, entity: str) -> str:
        """The ``entity`` metric label of a record: its entity if configured, else ``other``."""
        return entity if self.entities is None or entity in self.entities else OTHER_ENTITY

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
            acc = per_entity.setdefault(self.label(r.entity), [0, 0])
            acc[0] += 1
            acc[1] += r.size
        for entity, (n, size) in per_entity.items():
            m.records.labels(name, entity).inc(n)
            m.bytes.labels(name, entity).inc(size)
        m.batch_seconds.labels(name).observe(seconds)
        return written
