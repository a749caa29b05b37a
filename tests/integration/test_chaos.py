"""The chaos campaign in CI size: ``python -m bench.chaos`` (what ``make chaos`` runs) with 3
SIGKILLs of random roles and 1 outage of a random target, one worker process per role, against
the session's broker, moto, the OpenSearch stand-in and a throw-away PostgreSQL.

The test proves its faults happened rather than trusting the script's verdict: each kill's exit
status is -9 (the campaign waited for the process and saw it end by SIGKILL), the outage's target
refused TCP connections while it was down (and never accepted one), and every target's count
is non-vacuous (something expected and found) with nothing lost, duplicated or different.
The seeded plan itself is checked without services below."""

from __future__ import annotations

import itertools
import json
import subprocess
import sys
from pathlib import Path

import pytest

from bench.chaos.plan import TARGETS, make_plan

REPO = Path(__file__).resolve().parents[2]
TARGET_COUNTS = (
    "clean_events",
    "dlq_records",
    "s3_objects",
    "sqs_messages",
    "archive_records",
    "opensearch_documents",
    "warehouse_rows",
)


def test_the_plan_is_seeded_and_keeps_its_bounds() -> None:
    roles = ["ingest", "s3", "opensearch", "warehouse"]
    plan = make_plan(5, roles, kills=20, outages=5, window=240, outage_range=(10, 30))
    assert plan == make_plan(5, roles, kills=20, outages=5, window=240, outage_range=(10, 30))
    assert plan != make_plan(6, roles, kills=20, outages=5, window=240, outage_range=(10, 30))
    moments = [k.at for k in plan.kills]
    assert len(moments) == 20 and moments == sorted(moments)
    assert all(3 <= m <= 240 for m in moments) and all(b - a >= 0.99 for a, b in itertools.pairwise(moments))
    assert {k.role for k in plan.kills} <= set(roles)
    assert len(plan.outages) == 5 and {o.target for o in plan.outages} <= set(TARGETS)
    assert all(10 <= o.seconds <= 30 for o in plan.outages)
    for a, b in itertools.pairwise(plan.outages):
        assert b.at >= a.at + a.seconds  # never two targets down at once
    with pytest.raises(ValueError):
        make_plan(1, roles, kills=50, outages=0, window=20)


@pytest.mark.integration
@pytest.mark.timeout(420)
def test_three_kills_and_one_outage_lose_and_duplicate_nothing(kafka_bootstrap: str, tmp_path: Path) -> None:
    out = tmp_path / "summary.json"
    cmd = [
        sys.executable,
        "-m",
        "bench.chaos",
        "--seed=5",
        "--kills=3",
        "--outages=1",
        "--outage-min=10",
        "--outage-max=15",
        "--window=45",
        "--documents=60",
        "--drain-timeout=240",
        f"--bootstrap={kafka_bootstrap}",
        f"--workdir={tmp_path / 'work'}",
        f"--json={out}",
    ]
    with open(tmp_path / "chaos.log", "wb") as log:
        proc = subprocess.run(cmd, cwd=REPO, stdout=subprocess.DEVNULL, stderr=log, timeout=400)
    progress = (tmp_path / "chaos.log").read_text(errors="replace")
    assert out.exists(), progress[-4000:]
    summary = json.loads(out.read_text())
    assert proc.returncode == (0 if summary["ok"] else 1)

    kills = summary["kills"]["events"]
    assert len(kills) == 3
    for k in kills:  # each worker was waited for and ended by SIGKILL
        assert k["exit"] == -9 and k["by_sigkill"], k
    assert "SIGKILL" in progress

    (outage,) = summary["outages"]["events"]
    assert outage["error"] is None, outage
    assert outage["probes_refused"] > 0 and outage["probes_accepted"] == 0, outage
    assert outage["down_seconds"] >= 10

    assert summary["drained"], progress[-4000:]
    assert summary["crashes"] == 0, summary["unplanned_exits"]
    counts = summary["counts"]
    for name in TARGET_COUNTS:
        c = counts[name]
        assert c["expected"] > 0 and c["found"] > 0, (name, c)
        assert c["missing"] == c["duplicates"] == c["unexpected"] == c["mismatched"] == 0, (name, c)
    assert summary["lost"] == summary["duplicates"] == summary["mismatched"] == summary["errors"] == 0
    assert summary["ok"] and proc.returncode == 0
