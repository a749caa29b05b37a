"""The EventBridge sink's handling of PutEvents answers, with a scripted events client."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Callable
from typing import Any

import pytest

from streamproc.config.settings import AwsSettings
from streamproc.config.sink_eventbridge import EventBridgeSpec
from streamproc.errors import FatalSinkError, RetriableSinkError, SinkBackpressure
from streamproc.sinks.base import SinkBatch
from streamproc.sinks.eventbridge.sink import EventBridgeSink
from tests.unit.sinks.eventbridge.test_plan import rec
from tests.unit.sinks.s3.aws_errors import client_error

Answer = Callable[[dict[str, Any]], str | None]  # entry → error code or None


class FakeEvents:
    """put_events answers per entry with ``answer`` (called with the entry), or raises ``raises``."""

    def __init__(self, answer: Answer = lambda e: None) -> None:
        self.answer = answer
        self.raises: Exception | None = None
        self.calls: list[list[str]] = []  # entity ids sent, per call

    def put_events(self, Entries: list[dict[str, Any]]) -> dict[str, Any]:
        self.calls.append([json.loads(e["Detail"])["entityId"] for e in Entries])
        if self.raises is not None:
            raise self.raises
        out = []
        for e in Entries:
            code = self.answer(e)
            out.append({"ErrorCode": code, "ErrorMessage": "quotes the entry"} if code else {"EventId": "x"})
        return {"FailedEntryCount": sum(1 for o in out if "ErrorCode" in o), "Entries": out}


def sink(events: FakeEvents) -> EventBridgeSink:
    spec = EventBridgeSpec(entities=["users"]).resolved()
    return EventBridgeSink(spec, AwsSettings(), clients={"events": events}, entry_retry_initial=0.001)


def records(n: int) -> list[Any]:
    return [rec(i, key={"_id": f"u{i}"}) for i in range(n)]


def write(s: EventBridgeSink, recs: list[Any]) -> SinkBatch:
    batch = SinkBatch(list(recs))
    asyncio.run(s.write(batch))
    return batch


def test_throttled_and_internal_entries_are_retried_alone() -> None:
    seen: dict[str, int] = {}

    def answer(e: dict[str, Any]) -> str | None:
        eid = json.loads(e["Detail"])["entityId"]
        seen[eid] = seen.get(eid, 0) + 1
        if eid == "u1" and seen[eid] < 3:
            return "ThrottlingException"
        if eid == "u4" and seen[eid] < 2:
            return "InternalException"
        return None

    fake = FakeEvents(answer)
    batch = write(sink(fake), records(12))
    assert batch.failures == []
    # the two requests go out together; then only the failed entries, round by round
    assert sorted(fake.calls[:2], key=len) == [["u10", "u11"], [f"u{i}" for i in range(10)]]
    assert sorted(fake.calls[2:], key=len) == [["u1"], ["u1", "u4"]]
    assert seen == {f"u{i}": {1: 3, 4: 2}.get(i, 1) for i in range(12)}


def test_permanent_entry_errors_go_to_the_dlq_by_code_only() -> None:
    fake = FakeEvents(lambda e: "MalformedDetail" if json.loads(e["Detail"])["entityId"] == "u2" else None)
    batch = write(sink(fake), records(4))
    assert [(f.record.offset, f.error_class) for f in batch.failures] == [(2, "permanent")]
    assert batch.failures[0].reason == "EventBridge rejected the entry (MalformedDetail)"
    assert len(fake.calls) == 1


def test_entries_that_keep_failing_fail_the_batch_and_a_retry_sends_only_the_rest() -> None:
    down = {"on": True}

    def answer(e: dict[str, Any]) -> str | None:
        eid = json.loads(e["Detail"])["entityId"]
        if eid == "u0":
            return "ValidationException"
        return "ThrottlingException" if eid == "u3" and down["on"] else None

    fake = FakeEvents(answer)
    s = sink(fake)
    recs = records(5)
    with pytest.raises(SinkBackpressure, match="1 entries kept failing"):
        write(s, recs)
    assert len(fake.calls) == 1 + s.entry_retry_rounds
    down["on"] = False
    fake.calls.clear()
    batch = write(s, recs)  # the runner's retry: a fresh batch of the same records
    assert fake.calls == [["u3"]]
    assert [f.record.offset for f in batch.failures] == [0]  # reported again: the first report was dropped
    fake.calls.clear()
    write(s, recs)  # a completed write forgot the outcomes: a redelivery sends everything again
    assert sorted(fake.calls[0]) == [f"u{i}" for i in range(5)]


def test_internal_errors_that_persist_are_retriable() -> None:
    fake = FakeEvents(lambda e: "InternalException")
    with pytest.raises(RetriableSinkError, match="InternalException"):
        write(sink(fake), records(1))


@pytest.mark.parametrize(
    ("exc", "expected"),
    [
        (client_error("ThrottlingException", 400, "PutEvents"), SinkBackpressure),
        (client_error("InternalFailure", 500, "PutEvents"), RetriableSinkError),
        (client_error("AccessDeniedException", 400, "PutEvents"), FatalSinkError),
        (client_error("ResourceNotFoundException", 400, "PutEvents"), FatalSinkError),
    ],
)
def test_whole_request_errors(exc: Exception, expected: type[Exception]) -> None:
    fake = FakeEvents()
    fake.raises = exc
    with pytest.raises(expected) as info:
        write(sink(fake), records(2))
    assert "u0" not in str(info.value) and info.value.__cause__ is None


def test_a_request_refused_as_invalid_sends_its_records_to_the_dlq() -> None:
    fake = FakeEvents()
    fake.raises = client_error("ValidationException", 400, "PutEvents")
    batch = write(sink(fake), records(2))
    assert [f.record.offset for f in batch.failures] == [0, 1]
    assert all("ValidationException" in f.reason for f in batch.failures)


def test_other_entities_are_not_sent() -> None:
    fake = FakeEvents()
    s = sink(fake)
    batch = write(s, [rec(0, entity="owners"), rec(1)])
    assert fake.calls == [["u1"]] and batch.failures == []
    assert s.plan([rec(0, entity="owners")]) == []
