"""SinkRunner: retries, backoff, circuit breaker, backpressure, byte/count limits, DLQ hand-off.
The sink here is a scripted fake (the real sinks are tested against real services)."""

from __future__ import annotations

import asyncio
import random

import pytest
from prometheus_client import generate_latest

from streamproc.config.settings import SinkRuntimeSettings
from streamproc.errors import FatalSinkError, RetriableSinkError, SinkBackpressure
from streamproc.jsonutil import dumps
from streamproc.runtime.metrics import SinkMetrics
from streamproc.sinks.base import Sink, SinkBatch, record_from_message
from streamproc.sinks.runner import OTHER_ENTITY, SinkRunner, chunks


def rec(i: int, entity: str = "users", size: int = 0, op: str = "insert"):
    value = dumps(
        {
            "entity": entity,
            "op": op,
            "key": {"_id": str(i)},
            "position": [i],
            "ts_ms": 1000 + i,
            "after": {"_id": str(i), "pad": "x" * size},
        }
    )
    return record_from_message(f"p.events.{entity}", 0, i, dumps({"_id": str(i)}), value)


class FakeScriptedSink(Sink):
    """Raises the scripted exceptions from successive ``write()`` calls, then writes (failing ``fail_ids``)."""

    name = "scripted"

    def __init__(self, script=(), fail_ids=()):
        self.script = list(script)  # exceptions raised by successive write() calls, None = succeed
        self.fail_ids = set(fail_ids)
        self.calls: list[list[int]] = []
        self.written: list[int] = []
        self.started = 0

    async def start(self):
        self.started += 1

    async def write(self, batch: SinkBatch):
        self.calls.append([r.offset for r in batch.records])
        step = self.script.pop(0) if self.script else None
        if step is not None:
            raise step
        for r in batch.records:
            if r.offset in self.fail_ids:
                batch.fail(r, "field 'x' has the wrong type")
            else:
                self.written.append(r.offset)

    def wants(self, record):
        return record.entity != "ignored"


def runner(sink, **conf):
    sleeps: list[float] = []

    async def sleep(s: float):
        sleeps.append(s)

    dead: list = []
    paused: list[str] = []
    settings = SinkRuntimeSettings(
        **{"retry_initial": 0.1, "retry_max": 2.0, "breaker_failures": 3, "breaker_reset": 5.0, **conf}
    )
    r = SinkRunner(
        sink,
        settings,
        SinkMetrics(),
        lambda f, name: dead.append((f, name)),
        pause=lambda: paused.append("pause"),
        resume=lambda: paused.append("resume"),
        sleep=sleep,
        rng=random.Random(1),
    )
    return r, sleeps, dead, paused


def test_transient_failures_are_retried_until_written_and_partitions_paused_meanwhile():
    sink = FakeScriptedSink([RetriableSinkError("down"), RetriableSinkError("down"), None])
    r, sleeps, dead, paused = runner(sink)
    written = asyncio.run(r.deliver([rec(i) for i in range(5)]))
    assert written == 5
    assert sink.written == [0, 1, 2, 3, 4]
    assert len(sink.calls) == 3 and all(c == [0, 1, 2, 3, 4] for c in sink.calls)
    assert len(sleeps) == 2 and 0.05 <= sleeps[0] <= 0.1 and 0.1 <= sleeps[1] <= 0.2  # doubling, jittered
    assert paused == ["pause", "resume"]
    assert sink.started == 1
    assert dead == []


def test_breaker_opens_after_threshold_and_waits_before_probing():
    sink = FakeScriptedSink([RetriableSinkError("down")] * 4 + [None])
    r, sleeps, _, _ = runner(sink, breaker_failures=3, breaker_reset=5.0)
    asyncio.run(r.deliver([rec(1)]))
    # After the third consecutive failure the breaker is open: the runner waits ~reset before the probe.
    assert any(s >= 4.0 for s in sleeps)
    assert r.breaker.state == "closed"
    samples = r.metrics.registry.get_sample_value
    assert samples("streamproc_sink_retries_total", {"sink": "scripted", "reason": "transient"}) == 4
    assert samples("streamproc_sink_breaker_state", {"sink": "scripted"}) == 0


def test_backpressure_waits_at_least_retry_after_without_opening_the_breaker():
    sink = FakeScriptedSink([SinkBackpressure("429", retry_after=1.5), None])
    r, sleeps, _, _ = runner(sink)
    asyncio.run(r.deliver([rec(1)]))
    assert sleeps and sleeps[0] >= 1.5
    assert r.breaker.failures == 0


def test_fatal_error_propagates_without_retry():
    sink = FakeScriptedSink([FatalSinkError("bucket 'b' does not exist")])
    r, sleeps, _, _ = runner(sink)
    with pytest.raises(FatalSinkError, match="bucket 'b'"):
        asyncio.run(r.deliver([rec(1)]))
    assert sleeps == [] and len(sink.calls) == 1


def test_unexpected_error_propagates():
    sink = FakeScriptedSink([KeyError("bug")])
    r, _, _, _ = runner(sink)
    with pytest.raises(KeyError):
        asyncio.run(r.deliver([rec(1)]))


def test_permanent_record_failures_go_to_dead_letter_and_the_rest_is_written():
    sink = FakeScriptedSink(fail_ids={2})
    r, _, dead, _ = runner(sink)
    assert asyncio.run(r.deliver([rec(i) for i in range(4)])) == 3
    assert [(f.record.offset, f.reason, name) for f, name in dead] == [(2, "field 'x' has the wrong type", "scripted")]
    assert (
        r.metrics.registry.get_sample_value(
            "streamproc_sink_dlq_total", {"sink": "scripted", "error_class": "permanent"}
        )
        == 1
    )
    assert (
        r.metrics.registry.get_sample_value("streamproc_sink_records_total", {"sink": "scripted", "entity": "users"})
        == 3
    )


def test_failures_of_a_failed_attempt_are_not_kept_for_the_retry():
    class FakeFailThenRaise(FakeScriptedSink):
        async def write(self, batch):
            self.calls.append([r.offset for r in batch.records])
            if len(self.calls) == 1:
                batch.fail(batch.records[0], "x")
                raise RetriableSinkError("down")
            self.written.extend(r.offset for r in batch.records)

    sink = FakeFailThenRaise()
    r, _, dead, _ = runner(sink)
    asyncio.run(r.deliver([rec(1), rec(2)]))
    assert dead == [] and sink.written == [1, 2]


def test_records_the_sink_does_not_want_are_not_written():
    sink = FakeScriptedSink()
    r, _, _, _ = runner(sink)
    assert asyncio.run(r.deliver([rec(1), rec(2, entity="ignored"), rec(3)])) == 2
    assert sink.calls == [[1, 3]]


def test_batches_are_split_by_count_and_bytes():
    records = [rec(i, size=1000) for i in range(10)]
    by_count = [[r.offset for r in c] for c in chunks(records, 4, 10**9)]
    assert by_count == [[0, 1, 2, 3], [4, 5, 6, 7], [8, 9]]
    size = records[0].size
    by_bytes = [[r.offset for r in c] for c in chunks(records, 100, size * 3)]
    assert by_bytes == [[0, 1, 2], [3, 4, 5], [6, 7, 8], [9]]
    big = [rec(0, size=5000), rec(1)]
    assert [[r.offset for r in c] for c in chunks(big, 100, 100)] == [[0], [1]]  # oversize alone


def test_chunks_weighs_items_with_the_given_size():
    items = [("a", 10), ("b", 10), ("c", 25), ("d", 5), ("e", 5)]
    got = [[name for name, _ in c] for c in chunks(items, 100, 20, size=lambda item: item[1])]
    assert got == [["a", "b"], ["c"], ["d", "e"]]  # "c" is over the limit: alone
    assert [len(c) for c in chunks(iter(items), 2, 10**9, size=lambda item: item[1])] == [2, 2, 1]
    assert list(chunks([], 3, 10, size=len)) == []


def test_runner_sends_byte_limited_chunks_to_the_sink():
    sink = FakeScriptedSink()
    records = [rec(i, size=1000) for i in range(6)]
    r, _, _, _ = runner(sink, batch_bytes=records[0].size * 2)
    asyncio.run(r.deliver(records))
    assert sink.calls == [[0, 1], [2, 3], [4, 5]]


def test_clean_event_parsing_rejects_poison_without_values():
    from streamproc.errors import DecodeError

    for bad, why in [
        (b"not json", "not JSON"),
        (b"[1]", "not a JSON object"),
        (None, "tombstone"),
        (dumps({"entity": "u", "op": "insert"}), "lacks"),
        (dumps({"entity": "u", "op": "insert", "key": {}, "position": ["secret-value"]}), "position"),
    ]:
        with pytest.raises(DecodeError, match=why) as info:
            record_from_message("t", 0, 0, None, bad)
        assert "secret-value" not in str(info.value)
    r = rec(7)
    assert (r.entity, r.op, r.key, r.position, r.ts_ms, r.doc["_id"]) == (
        "users",
        "insert",
        {"_id": "7"},
        (7,),
        1007,
        "7",
    )


# ----------------------------------------------------------------- start-up


class FakeStartingSink(FakeScriptedSink):
    """``start()`` raises the scripted exceptions of ``starts`` one call after another, then succeeds."""

    def __init__(self, starts=(), **kw):
        super().__init__(**kw)
        self.starts = list(starts)
        self.start_calls = 0

    async def start(self):
        self.start_calls += 1
        step = self.starts.pop(0) if self.starts else None
        if step is not None:
            raise step
        self.started += 1


def ready(r: SinkRunner) -> float | None:
    return r.metrics.registry.get_sample_value("streamproc_sink_ready", {"sink": r.sink.name})


def test_an_outage_at_start_is_retried_with_backoff_and_breaker_and_the_batch_then_written():
    down = [RetriableSinkError("cannot reach AWS (EndpointConnectionError)")] * 4
    sink = FakeStartingSink(down)
    r, sleeps, dead, paused = runner(sink, breaker_failures=3, breaker_reset=5.0)
    assert ready(r) == 0 and not r.started
    assert asyncio.run(r.deliver([rec(1), rec(2)])) == 2
    assert sink.start_calls == 5 and sink.started == 1 and sink.written == [1, 2]
    assert 0.05 <= sleeps[0] <= 0.1 and 0.1 <= sleeps[1] <= 0.2  # the write backoff, doubling
    assert any(s >= 4.0 for s in sleeps)  # the breaker opened after 3 failures: waited before probing
    assert paused == ["pause", "resume"]  # partitions held during the outage, resumed once started
    assert ready(r) == 1 and r.started and r.breaker.state == "closed"
    samples = r.metrics.registry.get_sample_value
    assert samples("streamproc_sink_retries_total", {"sink": "scripted", "reason": "transient"}) == 4
    assert dead == []


def test_throttling_at_start_waits_at_least_retry_after_without_opening_the_breaker():
    sink = FakeStartingSink([SinkBackpressure("429", retry_after=2.5)] * 5)
    r, sleeps, _, _ = runner(sink, breaker_failures=1)
    asyncio.run(r.ensure_started())
    assert len(sleeps) == 5 and min(sleeps) >= 2.5 and r.breaker.failures == 0 and ready(r) == 1


def test_a_configuration_error_at_start_propagates_at_once():
    sink = FakeStartingSink([FatalSinkError("S3 bucket 'b' does not exist")])
    r, sleeps, _, paused = runner(sink)
    with pytest.raises(FatalSinkError, match="bucket 'b'"):
        asyncio.run(r.deliver([rec(1)]))
    assert sleeps == [] and paused == [] and sink.calls == [] and ready(r) == 0


def test_a_bug_at_start_propagates_at_once():
    sink = FakeStartingSink([KeyError("bug")])
    r, sleeps, _, _ = runner(sink)
    with pytest.raises(KeyError):
        asyncio.run(r.ensure_started())
    assert sleeps == []


def test_a_batch_arriving_during_the_start_outage_waits_for_the_one_start():
    sink = FakeStartingSink([RetriableSinkError("down")] * 3)
    gate = asyncio.Event()

    async def scenario() -> int:
        r, _, _, _ = runner(sink)

        async def slow_sleep(s: float) -> None:
            await gate.wait()

        r.sleep = slow_sleep
        starting = asyncio.ensure_future(r.ensure_started())  # the app's start task
        delivering = asyncio.ensure_future(r.deliver([rec(1)]))  # a batch arrives meanwhile
        await asyncio.sleep(0)
        assert not delivering.done() and sink.calls == []
        gate.set()
        await starting
        return await delivering

    assert asyncio.run(scenario()) == 1
    assert sink.start_calls == 4 and sink.started == 1 and sink.written == [1]


def test_stop_makes_the_sink_not_ready():
    sink = FakeStartingSink()
    r, _, _, _ = runner(sink)
    asyncio.run(r.ensure_started())
    assert ready(r) == 1
    asyncio.run(r.stop())
    assert ready(r) == 0 and not r.started


# ----------------------------------------------------------------- metric labels


def test_the_entity_label_is_a_configured_entity_or_other():
    sink = FakeScriptedSink()
    settings = SinkRuntimeSettings()
    r = SinkRunner(sink, settings, SinkMetrics(), lambda f, name: None, entities=["users"])
    foreign = [rec(i, entity=f"ada{i}@example.org") for i in range(5)]
    assert asyncio.run(r.deliver([rec(1), *foreign])) == 6
    samples = r.metrics.registry.get_sample_value
    assert samples("streamproc_sink_records_total", {"sink": "scripted", "entity": "users"}) == 1
    assert samples("streamproc_sink_records_total", {"sink": "scripted", "entity": OTHER_ENTITY}) == 5
    text = generate_latest(r.metrics.registry).decode()
    assert "example.org" not in text
