"""DLQ records read back and re-injected: header parsing, the retry headers and their round trip
through a second failure, selectors, the summary and the replay decisions."""

from __future__ import annotations

import pytest

from streamproc.pipeline.dlq import dlq_headers
from streamproc.pipeline.dlq_retry import (
    ATTEMPT_HEADER,
    SOURCE_HEADER,
    parse_entry,
    parse_retry,
    plan_replay,
    retry_headers,
    select,
    summary,
)
from streamproc.pipeline.processor import DeadLetter, RawMessage

ORIGINAL = [("traceparent", b"00-abc-01")]


def dlq_record(
    offset: int, *, error_class: str = "invalid", attempt_headers=(), ts: int = 1000, topic: str = "cdc.a.b"
):
    raw = RawMessage(topic, b"k", b"v", ORIGINAL + list(attempt_headers), 2, 40)
    headers = dlq_headers(
        raw, DeadLetter(error_class, f"field status: {error_class}", "validate", "ValidationError"), "app"
    )
    return parse_entry(0, offset, ts, b"k", b"v", headers)


def test_parse_entry_reads_the_connect_headers_and_keeps_the_original_ones() -> None:
    e = dlq_record(7)
    assert (e.topic, e.partition, e.offset) == ("cdc.a.b", 2, 40)
    assert (e.error_class, e.stage, e.reason, e.attempt) == ("invalid", "VALIDATE", "field status: invalid", 0)
    assert e.original_headers == tuple(ORIGINAL)
    assert e.position == "0/7"
    assert "key" not in e.describe() and "value" not in e.describe()


def test_headers_missing_read_as_empty() -> None:
    e = parse_entry(1, 2, 3, None, None, None)
    assert (e.topic, e.partition, e.offset, e.error_class, e.attempt) == ("", None, None, "", 0)


def test_retry_headers_round_trip_through_a_second_failure() -> None:
    first = dlq_record(7)
    headers = retry_headers(first, 1)
    assert dict(headers)[SOURCE_HEADER] == b"0/7" and dict(headers)[ATTEMPT_HEADER] == b"1"
    origin = parse_retry(headers)
    assert (origin.topic, origin.partition, origin.offset, origin.source, origin.attempt) == (
        "cdc.a.b",
        2,
        40,
        "0/7",
        1,
    )
    # the ingest role fails it again: the DLQ record carries the retry headers, so the attempt travels
    again = RawMessage(origin.topic, b"k", b"v", origin.headers, origin.partition, origin.offset)
    second = parse_entry(0, 9, 2000, b"k", b"v", dlq_headers(again, DeadLetter("invalid", "r", "validate", "E"), "app"))
    assert second.attempt == 1 and second.origin == first.origin
    assert second.original_headers == tuple(ORIGINAL)  # neither error nor retry headers pile up
    assert [n for n, _ in retry_headers(second, 2)].count(ATTEMPT_HEADER) == 1


def test_parse_retry_refuses_a_record_without_its_origin() -> None:
    with pytest.raises(ValueError, match="streamproc.dlq.topic"):
        parse_retry([("x", b"y")])


def test_select_and_summary() -> None:
    es = [dlq_record(1, ts=100), dlq_record(2, error_class="poison", ts=200), dlq_record(3, ts=300, topic="cdc.x.y")]
    assert [e.dlq_offset for e in select(es, since_ms=150)] == [2, 3]
    assert [e.dlq_offset for e in select(es, error_class="invalid")] == [1, 3]
    assert [e.dlq_offset for e in select(es, topic="cdc.x.y")] == [3]
    assert [e.dlq_offset for e in select(es, limit=2)] == [1, 2]
    assert summary(es) == [("invalid", "field status: invalid", 2), ("poison", "field status: poison", 1)]


def test_replay_decisions() -> None:
    fresh = dlq_record(1)
    at_limit = parse_entry(
        0,
        5,
        500,
        b"k",
        b"v",
        dlq_headers(
            RawMessage("cdc.a.b", b"k", b"v", [(ATTEMPT_HEADER, b"3")], 3, 41),
            DeadLetter("invalid", "r", "validate", "E"),
            "app",
        ),
    )
    sink = dlq_record(6, topic="it.events.users")
    other = dlq_record(7, topic="cdc.x.y")
    everything = [fresh, at_limit, sink, other]
    sources = {"cdc.a.b": 4, "cdc.x.y": 2}
    got = plan_replay(everything, everything, max_attempts=3, sources=sources, retry_partitions=4)
    assert (got[0].attempt, got[0].refused) == (1, None)
    assert "maximum of 3 attempts" in (got[1].refused or "")
    assert "not from an ingest source topic" in (got[2].refused or "")
    assert "has 2 partitions, the retry topic 4" in (got[3].refused or "")
    # a record that failed again supersedes its earlier DLQ record
    retried = parse_entry(
        0,
        9,
        2000,
        b"k",
        b"v",
        dlq_headers(
            RawMessage("cdc.a.b", b"k", b"v", [(ATTEMPT_HEADER, b"1")], 2, 40),
            DeadLetter("invalid", "r", "validate", "E"),
            "app",
        ),
    )
    got = plan_replay([fresh, retried], [fresh, retried], max_attempts=3, sources=sources, retry_partitions=4)
    assert "superseded by DLQ record 0/9" in (got[0].refused or "")
    assert (got[1].attempt, got[1].refused) == (2, None)
