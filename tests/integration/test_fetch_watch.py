"""A source partition whose seek was missed is sought back by the fetch watch, and nothing is lost
(runtime/fetch_watch.py).

The worker runs with ``STREAMPROC_TEST_FORGET_SEEK=<topic>:0``, a test-only hook that leaves that
partition, after the first assignment, as if Faust's seek to the committed offsets had been
missed: the batch-drain loop then drops every record fetched for it (as it must for a partition
not sought yet), and without the watch the partition would take nothing until a rebalance. The
records were produced before the worker started, so its first fetches hold them: the watch's log
line proves that the fetch position had passed all of them (the drop happened) and the clean
topics prove they were all processed after the seek back, each change once, as the dry-run."""

from __future__ import annotations

import re

import pytest

from .workers import (
    WorkerProcess,
    assert_final_state_matches,
    assert_key_positions_match,
    end_offsets,
    generated_stream,
    produce,
    read_clean_when_committed,
    run_offline,
)

pytestmark = [pytest.mark.integration, pytest.mark.timeout(300)]

ENTITIES = ("reservations", "users")


def test_a_partition_whose_seek_was_missed_is_sought_back_and_loses_nothing(kafka_bootstrap, tmp_path) -> None:
    cfg = tmp_path / "pipelines.yaml"
    topics, records = generated_stream(cfg, ENTITIES, 120, seed=21)
    produce(kafka_bootstrap, records)
    ends = end_offsets(kafka_bootstrap, topics.values())
    forgotten = min(tp for tp, end in ends.items() if tp[1] == 0 and end > 0)
    worker = WorkerProcess(
        kafka_bootstrap, tmp_path / "data", cfg, extra_env={"STREAMPROC_TEST_FORGET_SEEK": f"{forgotten[0]}:0"}
    )
    offline = run_offline(records, cfg, worker.topic_prefix)
    worker.start()
    try:
        worker.wait_ready()
        clean = read_clean_when_committed(kafka_bootstrap, worker, ends, ENTITIES, "every source offset committed")
        log = worker.log()
        assert f"test hook: {forgotten[0]}[0] left as never sought" in log
        sought = re.findall(
            r"(\S+)\[(\d+)\]: fetched records were dropped and no seek followed \(fetch position (\d+)\)", log
        )
        # one seek back, of that partition, whose records had all been fetched and dropped
        assert sought == [(forgotten[0], "0", str(ends[forgotten]))]
        assert worker.total("streamproc_fetch_reseeks_total", topic=forgotten[0]) == 1
        assert_final_state_matches(clean, offline)
        assert_key_positions_match(clean, offline)
    finally:
        worker.stop()
