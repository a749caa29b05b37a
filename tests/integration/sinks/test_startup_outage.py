"""Start-up outages are waited out: every target — moto (S3 and SQS), the OpenSearch stand-in and
PostgreSQL — is down when one worker process running every role starts, and stays down until
/readyz has answered "not ready" for 20 s (the apps of a process start one after another, the one
serving the web endpoints last: about 30 s after launch on the embedded broker).

During the outage the process must stay up, /readyz must answer 503 and
``streamproc_sink_ready`` must be 0 for each of the four sinks, each sink must have retried its
start (``streamproc_sink_retries_total``), and the ingest role of the same process must go on
producing clean events. After the targets are back the process becomes ready without a restart,
and every change arrives exactly once at every target (S3 objects and SQS messages, archive
records, OpenSearch documents and warehouse rows, against the offline pipeline's expectation).
"""

from __future__ import annotations

import time
from pathlib import Path

import httpx
import pytest

from tests.integration.sinks.checks import check_everything
from tests.integration.sinks.stack import BASE_ROLES, SINKS_OF_ROLE, Stack
from tests.integration.workers import metric_total, produce

pytestmark = [pytest.mark.integration, pytest.mark.timeout(600)]

OUTAGE = 20.0  # seconds of /readyz answers while every target is down
ALL_ROLES = "ingest,s3,opensearch,warehouse"
SINKS = [sink for role in BASE_ROLES for sink in SINKS_OF_ROLE[role]]


def test_every_target_down_at_start_is_waited_out_and_everything_lands_once(
    kafka_bootstrap: str, tmp_path: Path
) -> None:
    with Stack(kafka_bootstrap, tmp_path) as stack:
        records = stack.records()
        stack.moto.stop()
        stack.opensearch.stop()
        stack.postgres.stop()
        w = stack.worker(ALL_ROLES)
        produce(stack.bootstrap, records)
        answers: list[int] = []
        samples: dict = {}
        answering: float | None = None  # when /readyz first answered
        deadline = time.monotonic() + 120  # the apps of a process start one after another
        while answering is None or time.monotonic() - answering < OUTAGE:
            assert w.proc.poll() is None, f"the worker exited during the outage:\n{w.log()[-4000:]}"
            assert time.monotonic() < deadline, f"/readyz never answered:\n{w.log()[-4000:]}"
            try:
                answers.append(w.get("/readyz").status_code)
                samples = w.samples()
                answering = answering or time.monotonic()
            except httpx.HTTPError:
                pass  # the web server (served by the app started last) is not up yet
            time.sleep(0.5)
        assert w.proc.poll() is None, f"the worker exited during the outage:\n{w.log()[-4000:]}"
        # /readyz said not ready all along (OUTAGE seconds of answers)
        assert len(answers) >= 10 and set(answers) == {503}, answers
        for sink in SINKS:  # in the last scrape of the outage: not started, start retried
            assert metric_total(samples, "streamproc_sink_ready", sink=sink) == 0, sink
            assert metric_total(samples, "streamproc_sink_retries_total", sink=sink) > 0, sink
        assert metric_total(samples, "streamproc_events_out_total") > 0  # ingest ran on meanwhile

        stack.moto.start()
        stack.opensearch.start()
        stack.postgres.start()
        w.wait_ready(timeout=90)
        samples = w.samples()
        assert all(metric_total(samples, "streamproc_sink_ready", sink=s) == 1 for s in SINKS)
        stack.wait_drained()
        assert w.proc.poll() is None, "the worker restarted or exited"
        log = w.log()
        assert "Traceback" not in log and "stopping the worker" not in log
        check_everything(stack, records)
