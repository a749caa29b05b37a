"""Isolation inside role ``s3``: the trigger-compatible sink and the archive consume in their own
consumer groups (``<app>-sink-s3``, ``<app>-sink-s3-archive``), so an outage of the archive's
bucket holds only the archive.

The workers reach moto through :class:`BucketOutageProxy`, which answers every request for the
archive's bucket with HTTP 503 while the outage lasts; the trigger's bucket and SQS answer as
usual. While the archive retries with its breaker open, the trigger sink must deliver the whole
stream and commit every clean-topic offset, the archive group none past the outage; after the
bucket is back the archive catches up, and both hold every change exactly once.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.integration.sinks.checks import check_archive, check_s3_and_sqs, expected_records, produce_slowly
from tests.integration.sinks.faults import BucketOutageProxy
from tests.integration.sinks.stack import Stack
from tests.integration.workers import committed_lag, end_offsets, wait_for

pytestmark = [pytest.mark.integration, pytest.mark.timeout(600)]

DEADLINE = 90.0


def test_an_archive_outage_holds_only_the_archive_which_then_catches_up_exactly_once(
    kafka_bootstrap: str, tmp_path: Path
) -> None:
    with Stack(kafka_bootstrap, tmp_path) as stack:
        proxy = BucketOutageProxy(stack.moto.endpoint_url)
        try:
            stack.aws_endpoint = proxy.url
            ingest, s3 = stack.worker("ingest"), stack.worker("s3")
            for w in (ingest, s3):
                w.wait_ready()

            def alive() -> None:
                assert s3.proc.poll() is None, f"the s3 worker exited:\n{s3.log()[-4000:]}"

            def written(sink: str) -> float:
                alive()
                return s3.total("streamproc_sink_records_total", sink=sink)

            records = stack.records()
            producer = produce_slowly(stack, records, seconds=30)
            wait_for(lambda: written("s3") > 0 and written("s3-archive") > 0, DEADLINE, message="both sinks writing")

            def archive_breaker_open() -> bool:  # the gauge: 0 closed, 1 half-open, 2 open
                alive()
                return s3.total("streamproc_sink_breaker_state", sink="s3-archive") >= 2

            proxy.fail(stack.lake)
            wait_for(archive_breaker_open, DEADLINE, message="the archive's breaker to open")
            held_at = written("s3-archive")
            trigger_at = written("s3")

            producer.join_ok()
            sources = end_offsets(stack.bootstrap, stack.topics.values())
            wait_for(lambda: committed_lag(stack.bootstrap, stack.app_id, sources) == 0, DEADLINE, message="ingest")
            clean = end_offsets(stack.bootstrap, stack.clean_topics())
            trigger_group, archive_group = f"{stack.app_id}-sink-s3", f"{stack.app_id}-sink-s3-archive"
            wait_for(
                lambda: alive() is None and committed_lag(stack.bootstrap, trigger_group, clean) == 0,
                DEADLINE,
                message="the trigger sink to deliver the whole stream while the archive is down",
            )
            assert written("s3") > trigger_at  # it wrote on during the outage
            assert written("s3-archive") == held_at  # the archive wrote nothing meanwhile
            assert committed_lag(stack.bootstrap, archive_group, clean) > 0  # and acknowledged nothing more
            assert s3.total("streamproc_sink_retries_total", sink="s3-archive") > 0
            assert s3.total("streamproc_sink_retries_total", sink="s3") == 0
            refused = proxy.refused
            assert refused > 0

            proxy.heal()
            stack.wait_drained(roles=("s3",))
            alive()
            assert proxy.refused == refused  # the outage really ended when healed
            assert "Traceback" not in s3.log()
            for w in stack.workers.values():
                w.kill()
            check_s3_and_sqs(stack, expected_records(stack, records))
            check_archive(stack)
        finally:
            proxy.close()
