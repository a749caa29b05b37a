"""Windowed aggregations on the real broker: a worker of role ``aggregations`` reading a clean
topic of 2 partitions (the clean events are produced directly, as ingest writes them).

* idle close: after a burst on both partitions, partition 1 goes quiet while partition 0 goes on;
  the windows partition 1 holds back close by idle (``closed_by: "idle"``), the others by the
  watermark; every final equals the brute force (the in-memory :class:`Engine` on the same events);
* replay: a second worker (new app id: new group, new repartition topic, new state) reads the
  same clean topic from the earliest offset, with a lag (each batch held), and reproduces every
  result (keys, metrics, revisions; nothing corrected, so nothing closed early);
* a late change for a closed window (past grace, within retain) → revision 2 in Kafka and in the
  warehouse row (PostgreSQL); one beyond retain → on ``<prefix>.aggregates.late`` and counted;
* SIGKILL inside a batch (output durable, state not) three times → the finals equal the brute
  force, every result has revision 1 (a double count after a close would be a correction), equal
  revisions are equal copies, and the repartition topic proves the redelivery (a delta ``src``
  produced twice).

Rows mode: test_windows_rows.py; the helpers: windows.py.
"""

from __future__ import annotations

import time
import uuid
from collections import Counter
from collections.abc import Callable
from pathlib import Path
from typing import Any

import psycopg
import pytest

from streamproc.aggregate import Delta, decode_messages
from streamproc.aggregate.combine import FIRST_INDEX
from streamproc.jsonutil import dumps, loads
from streamproc.runtime.admin import ensure_topics
from streamproc.runtime.aggregations import HELD

from .windows import MINUTE, Clean, brute_force, config, event, latest, ms, results, worker
from .workers import log_lines, read_topic, wait_for

pytestmark = [pytest.mark.integration, pytest.mark.timeout(400)]

Setup = Callable[..., tuple[Path, str, "Clean"]]


@pytest.fixture
def setup(kafka_bootstrap: str, tmp_path: Path) -> Setup:
    def make(*, grace: str, retain: str, sinks: list[str]) -> tuple[Path, str, Clean]:
        cfg = config(tmp_path / "pipelines.yaml", grace=grace, retain=retain, sinks=sinks)
        prefix = f"it{uuid.uuid4().hex[:6]}"
        topic = f"{prefix}.events.charges"
        ensure_topics(kafka_bootstrap, [topic], 2, 1)
        return cfg, prefix, Clean(kafka_bootstrap, topic)

    return make


def test_idle_close_replay_and_late_changes(
    kafka_bootstrap: str, tmp_path: Path, setup: Setup, postgres_database: Callable[[], str]
) -> None:
    cfg, prefix, clean = setup(grace="5s", retain="1h", sinks=["warehouse"])
    dsn = postgres_database()
    out = f"{prefix}.aggregates.charges_per_minute"
    t0 = (int(time.time() * 1000) - 30 * MINUTE) // MINUTE * MINUTE
    # a burst on both partitions over minutes 0-4, then partition 0 alone over minutes 5-9; sent
    # before the worker starts (a partition idle before its first event would make it all late)
    clean.send([(event(n, t0 + n * 2_000, p), p) for n in range(150) for p in (0, 1)])
    clean.send([(event(n, t0 + n * 2_000, 0), 0) for n in range(150, 300)])
    expected = brute_force(cfg, clean.sent)
    assert len(expected) == 30  # 10 minutes x 3 charge types
    first = worker(kafka_bootstrap, tmp_path, cfg, prefix, "first", STREAMPROC_WAREHOUSE__DSN=dsn).start()
    try:
        first.wait_ready()

        def all_final() -> bool:
            got = latest(results(kafka_bootstrap, out))
            return len(got) == len(expected) and all(v["final"] for v in got.values())

        wait_for(all_final, 120, interval=1.0, message="every window final")
        run1 = latest(results(kafka_bootstrap, out))
        assert {k: v["metrics"] for k, v in run1.items()} == expected
        assert {v["revision"] for v in run1.values()} == {1}
        closed = Counter((v["closed_by"], (ms(v["window_start"]) - t0) // MINUTE) for v in run1.values())
        # partition 1 stopped in minute 4: from there on its idle closes the windows, before by the watermark
        assert all(by == "idle" for (by, minute) in closed if minute >= 4), closed
        assert any(by == "watermark" for (by, _minute) in closed), closed
        assert first.total("streamproc_aggregation_idle_ticks_total") > 0
        first.stop()

        # replay from the earliest offset with a lag: every batch held 0.3 s
        ends = {m.partition(): m.offset() + 1 for m in read_topic(kafka_bootstrap, out)}
        replay = worker(
            kafka_bootstrap,
            tmp_path,
            cfg,
            prefix,
            "replay",
            STREAMPROC_WAREHOUSE__DSN=dsn,
            STREAMPROC_BATCH_SIZE="40",
            STREAMPROC_TEST_HOLD_AFTER_OUTPUT="0.3",
        ).start()
        try:
            replay.wait_ready()
            wait_for(
                lambda: (
                    len(latest(results(kafka_bootstrap, out, ends))) == len(expected)
                    and all(v["final"] for v in latest(results(kafka_bootstrap, out, ends)).values())
                ),
                180,
                interval=1.0,
                message="every window final again in the replay",
            )
            run2 = latest(results(kafka_bootstrap, out, ends))
            assert len(log_lines(replay.log(), HELD)) >= 5  # the replay really lagged
        finally:
            replay.stop()
        strip = {"closed_by"}  # when (and so by what) a window closes may differ; what it holds may not
        assert {k: {f: x for f, x in v.items() if f not in strip} for k, v in run2.items()} == {
            k: {f: x for f, x in v.items() if f not in strip} for k, v in run1.items()
        }

        # a late change for a closed window, and one beyond retain
        again = worker(kafka_bootstrap, tmp_path, cfg, prefix, "first", STREAMPROC_WAREHOUSE__DSN=dsn)
        again.app_id, again.port = first.app_id, first.port
        again.start().wait_ready()
        first = again
        late = event(300, t0 + 10_000, 0)  # minute 0, closed long ago, within retain (1h)
        lost = event(301, t0 - 3 * 3_600_000, 1)  # 3 h before: no longer in state
        clean.send([(late, 0), (lost, 1)])
        key = (dumps({"chargeType": late["after"]["chargeType"]}), run1_key_start(run1, t0))
        wait_for(
            lambda: latest(results(kafka_bootstrap, out)).get(key, {}).get("revision") == 2,
            90,
            interval=1.0,
            message="revision 2 of the late change's window",
        )
        corrected = latest(results(kafka_bootstrap, out))[key]
        assert corrected["late_changes"] == 1 and corrected["final"] is True
        assert corrected["metrics"] == brute_force(cfg, [s for s in clean.sent if s[0] is not lost])[key]
        late_records = [loads(m.value()) for m in read_topic(kafka_bootstrap, f"{prefix}.aggregates.late")]
        assert [r["key"] for r in late_records] == [lost["key"]]
        wait_for(lambda: first.total("streamproc_aggregation_late_total") >= 1, 30, message="the late record counted")

        def row() -> tuple | None:
            with psycopg.connect(dsn) as conn:
                found = conn.execute(
                    'SELECT revision, late_changes, "n" FROM public.agg_charges_per_minute '
                    'WHERE "chargeType" = %s AND window_start = %s',
                    [late["after"]["chargeType"], key[1]],
                ).fetchone()
                return None if found is None else tuple(found)

        wait_for(lambda: (row() or (0,))[0] == 2, 60, interval=1.0, message="revision 2 in the warehouse row")
        assert row() == (2, 1, corrected["metrics"]["n"])
    finally:
        first.stop()


def run1_key_start(run: dict[tuple, dict[str, Any]], t0: int) -> str:
    from streamproc.aggregate.result import iso_ms

    start = iso_ms(t0)
    assert any(w == start for (_g, w) in run)
    return start


def test_three_sigkills_mid_window_neither_lose_nor_double_count(
    kafka_bootstrap: str, tmp_path: Path, setup: Setup
) -> None:
    # grace 1 h: windows close only by idle, after all data is in (deterministic finals)
    cfg, prefix, clean = setup(grace="1h", retain="7d", sinks=[])
    t0 = (int(time.time() * 1000) - 3 * 3_600_000) // MINUTE * MINUTE
    clean.send([(event(n, t0 + n * 1_500, p), p) for n in range(400) for p in (0, 1)])
    expected = brute_force(cfg, clean.sent)
    hold = {"STREAMPROC_TEST_HOLD_AFTER_OUTPUT": "1.0", "STREAMPROC_BATCH_SIZE": "60"}
    w = worker(kafka_bootstrap, tmp_path, cfg, prefix, "kills", **hold)
    kills = []
    try:
        for i in range(3):
            w.start().wait_ready()
            # past the redelivered batch: each run records some batches before it is killed
            want = len(log_lines(w.log(), HELD)) + 2 + i
            wait_for(
                lambda want=want: len(log_lines(w.log(), HELD)) >= want, 120, interval=0.02, message="a held batch"
            )
            w.kill()
            kills.append(log_lines(w.log(), HELD)[-1][0])
        # the last run keeps the small batches: past its per-event start it combines them
        w.extra_env = {k: v for k, v in w.extra_env.items() if k != "STREAMPROC_TEST_HOLD_AFTER_OUTPUT"}
        w.start().wait_ready()
        out = f"{prefix}.aggregates.charges_per_minute"

        def all_final() -> bool:
            got = latest(results(kafka_bootstrap, out))
            return len(got) == len(expected) and all(v["final"] for v in got.values())

        wait_for(all_final, 180, interval=1.0, message="every window final after the kills")
    finally:
        w.stop()
    assert len(kills) == 3
    values = results(kafka_bootstrap, out)
    final = latest(values)
    assert {k: v["metrics"] for k, v in final.items()} == expected
    assert {v["revision"] for v in values} == {1}  # no correction: nothing counted twice after a close
    assert all(v["closed_by"] == "idle" for v in final.values())
    sent = [
        d
        for m in read_topic(kafka_bootstrap, f"{w.app_id}-agg-charges_per_minute-repartition")
        for d in decode_messages(m.value())
        if isinstance(d, Delta)
    ]
    # more changes sent than there are: batches were sent again after the kills (and dropped by
    # the dedupe, as the exact finals show), some of them combined per group and window
    assert sum(d.events for d in sent) > len(clean.sent)
    assert any(d.src[2] >= FIRST_INDEX for d in sent), "no batch was combined"
    assert sum(v["metrics"]["n"] for v in final.values()) == len(clean.sent)
