"""Copies of clean events told apart by their origin (``streamproc.origin``, written by ingest),
on the real broker: no row state is kept per entity key, and every event counts exactly once."""

from __future__ import annotations

import time
import uuid
from pathlib import Path

import pytest

from streamproc.runtime.admin import ensure_topics

from .windows import MINUTE, Clean, brute_force, config, event, latest, results, worker
from .workers import read_topic, wait_for

pytestmark = [pytest.mark.integration, pytest.mark.timeout(300)]


def test_copies_by_origin_count_once_and_keep_no_row_state(kafka_bootstrap: str, tmp_path: Path) -> None:
    cfg = config(tmp_path / "pipelines.yaml", grace="1h", retain="7d", sinks=[])
    prefix = f"it{uuid.uuid4().hex[:6]}"
    clean = Clean(kafka_bootstrap, f"{prefix}.events.charges")
    ensure_topics(kafka_bootstrap, [clean.topic], 2, 1)
    t0 = (int(time.time() * 1000) - 3 * 3_600_000) // MINUTE * MINUTE
    # one consumed record per event: origin offset n (stream raw:0), its clean partition n % 2
    events = [(event(n, t0 + n * 1_500, n % 2), n % 2) for n in range(300)]
    clean.send(events[:200], origins=list(range(200)))
    # what a crash of ingest writes again: its unrecorded batch (150..199) re-sent, then the rest
    clean.send(events[150:300], origins=list(range(150, 300)))
    # a lagging second owner still producing a copy of an older batch
    clean.send(events[100:120], origins=list(range(100, 120)))
    first: dict[str, tuple] = {}
    for sent in sorted(clean.sent, key=lambda s: s[2]):  # per event, its first write
        first.setdefault(str(sent[0]["key"]), sent)
    originals = list(first.values())
    assert len(clean.sent) == 370 and len(originals) == 300
    expected = brute_force(cfg, originals)
    w = worker(kafka_bootstrap, tmp_path, cfg, prefix, "origin")
    out = f"{prefix}.aggregates.charges_per_minute"
    try:
        w.start().wait_ready()

        def all_final() -> bool:
            got = latest(results(kafka_bootstrap, out))
            return len(got) == len(expected) and all(v["final"] for v in got.values())

        wait_for(all_final, 180, interval=1.0, message="every window final")
        duplicates = w.total(
            "streamproc_aggregation_skipped_total", aggregation="charges_per_minute", reason="duplicate"
        )
    finally:
        w.stop()
    final = latest(results(kafka_bootstrap, out))
    assert {k: v["metrics"] for k, v in final.items()} == expected
    assert sum(v["metrics"]["n"] for v in final.values()) == 300
    assert duplicates == 70  # the 50 + 20 copies, each refused by its origin
    upstream = [
        m.key()
        for m in read_topic(
            kafka_bootstrap, f"{w.app_id.removesuffix('-ingest')}-aggregations-agg-up-charges-changelog"
        )
    ]
    assert any(k.startswith(b"o\x00raw:0") for k in upstream), "the highest origin offsets are recorded"
    assert not any(k.startswith(b"r\x00") for k in upstream), "a row state was kept per entity key"
