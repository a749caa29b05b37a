"""The archive sink (``streamproc.sinks.s3.archive``) plans without a network, with the same code as
``write()``."""

from __future__ import annotations

from streamproc.sinks.s3.archive import S3ArchiveSink
from streamproc.sinks.s3.archive_format import plan_archive
from tests.unit.sinks.s3.records import MICROS, UNREACHABLE, archive_spec, rec


def test_archive_sink_plan_needs_no_connection() -> None:
    sink = S3ArchiveSink(archive_spec(entities=["reservations"]), UNREACHABLE)
    actions = sink.plan([rec(0), rec(1), rec(2, entity="users")])
    assert len(actions) == 1
    a = actions[0]
    assert a["kind"] == "s3" and a["bucket"] == "lake" and a["records"] == 2 and len(a["sha256"]) == 64
    assert sink.plan([rec(0), rec(1)]) == actions


def test_event_time_beyond_year_9999_is_rejected_not_raised() -> None:
    """plan() (dry-run) and write() share plan_archive: such a record goes to the DLQ, the rest is archived."""
    objects, rejected = plan_archive(archive_spec(), [rec(0), rec(1, ts_ms=MICROS), rec(2)])
    assert [o.offsets for o in objects] == [(0, 2)]
    assert [(r.record.offset, r.reason, r.error_class) for r in rejected] == [
        (1, "ts_ms outside the datetime range", "invalid")
    ]
    assert str(MICROS) not in rejected[0].reason
    actions = S3ArchiveSink(archive_spec(), UNREACHABLE).plan([rec(0), rec(1, ts_ms=MICROS)])
    assert [a["kind"] for a in actions] == ["s3", "dlq"] and actions[1]["offset"] == 1
