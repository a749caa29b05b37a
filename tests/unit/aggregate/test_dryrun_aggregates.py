"""``streamproc dry-run`` with the shipped aggregations: each result a line
``{"kind": "aggregate", "aggregation", "key", "value"}`` after the lines of the event that caused
it (finals a watermark closes, every update of ``emit: updates``), and at the end of the input
every open window final with ``closed_by: end-of-input``."""

from __future__ import annotations

import io
import json
import os
from pathlib import Path
from typing import Any

import pytest

from streamproc.cli.dryrun import run_dry_run
from streamproc.config.loader import load_pipelines
from streamproc.config.settings import load_settings

SHIPPED = Path(__file__).resolve().parents[3] / "config" / "pipelines.yaml"
HOUR = 3_600_000
T0 = 1_767_225_600_000  # 2026-01-01T00:00:00Z


@pytest.fixture(autouse=True)
def clean_env(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in list(os.environ):
        if name.startswith("STREAMPROC_"):
            monkeypatch.delenv(name)


def mongo(coll: str, oid: str, op: str, ord_: int, ts: int, after: dict[str, Any]) -> str:
    value = {
        "op": op,
        "before": None,
        "after": json.dumps({"_id": {"$oid": oid}, **after}),
        "source": {"connector": "mongodb", "ts_ms": ts, "db": "Facilitron_Prod", "collection": coll, "ord": ord_},
    }
    return json.dumps(
        {"topic": f"cdc.Facilitron_Prod.{coll}", "key": {"id": json.dumps({"$oid": oid})}, "value": value}
    )


def charge(n: int, ts: int, kind: str, amount: str) -> str:
    oid = f"{n:024x}"
    after = {"reservationId": f"res-{n % 2}", "amount": {"$numberDecimal": amount}, "chargeType": kind}
    return mongo("reservation_charges", oid, "c", 1, ts, after)


def reservation(n: int, ord_: int, facility: str, status: str, start: int, amount: float) -> str:
    after = {
        "status": status,
        "facilityId": facility,
        "userId": f"usr-{n}",
        "startDate": {"$date": start},
        "totalAmount": amount,
    }
    return mongo("reservations", f"{n:024x}", "c" if ord_ == 1 else "u", ord_, T0 + ord_, after)


def run(lines: list[str]) -> list[dict[str, Any]]:
    settings = load_settings(pipelines=SHIPPED, dev=True)
    out = io.StringIO()
    assert run_dry_run(lines, out, settings, load_pipelines(SHIPPED)) == 0
    return [json.loads(line) for line in out.getvalue().splitlines()]


def test_charges_per_hour_final_results_by_watermark_and_at_end_of_input() -> None:
    lines = [
        charge(1, T0 + 60_000, "rental", "10.50"),
        charge(2, T0 + 120_000, "rental", "4.50"),
        charge(3, T0 + 180_000, "staffing", "1"),
        charge(4, T0 + 2 * HOUR, "rental", "7"),  # passes the first hour's end + 10m grace
    ]
    everything = run(lines)
    aggregates = [o for o in everything if o["kind"] == "aggregate"]
    assert {tuple(o) for o in aggregates} == {("kind", "aggregation", "key", "value")}
    # the first two results follow the fourth event's lines, the last comes after the input
    kinds = [o["kind"] for o in everything if "sink" not in o]
    assert kinds == ["event", "event", "event", "event", "aggregate", "aggregate", "aggregate"]
    by_key = {(o["value"]["group"]["chargeType"], o["value"]["window_start"]): o for o in aggregates}
    rental = by_key[("rental", "2026-01-01T00:00:00.000Z")]
    assert rental["aggregation"] == "charges_per_hour"
    assert rental["key"] == {
        "aggregation": "charges_per_hour",
        "group": {"chargeType": "rental"},
        "window_start": "2026-01-01T00:00:00.000Z",
    }
    assert rental["value"]["metrics"] == {
        "charges": 2,
        "amount": 15,
        "avg_amount": 7.5,
        "max_amount": 10.5,
        "reservations": 2,
        "top_types": [{"value": "rental", "weight": 2}],
    }
    assert (rental["value"]["closed_by"], rental["value"]["revision"], rental["value"]["final"]) == (
        "watermark",
        1,
        True,
    )
    assert by_key[("staffing", "2026-01-01T00:00:00.000Z")]["value"]["closed_by"] == "watermark"
    last = by_key[("rental", "2026-01-01T02:00:00.000Z")]["value"]
    assert (last["closed_by"], last["window_end"], last["metrics"]["charges"]) == (
        "end-of-input",
        "2026-01-01T03:00:00.000Z",
        1,
    )


def test_reservations_per_day_prints_each_update_and_retracts_a_cancellation() -> None:
    day = T0 + 20 * HOUR  # 2026-01-01 12:00 in Los Angeles
    lines = [
        reservation(1, 1, "fac-1", "approved", day, 100.25),
        reservation(2, 1, "fac-1", "pending", day + HOUR, 50),
        reservation(1, 2, "fac-1", "cancelled", day, 100.25),  # leaves the aggregate
    ]
    updates = [
        o["value"] for o in run(lines) if o["kind"] == "aggregate" and o["aggregation"] == "reservations_per_day"
    ]
    assert [(u["revision"], u["final"], u["metrics"]["reservations"], u["metrics"]["revenue"]) for u in updates] == [
        (1, False, 1, 100.25),
        (2, False, 2, 150.25),
        (3, False, 1, 50),
        (3, True, 1, 50),  # end of input
    ]
    assert updates[0]["window_start"] == "2026-01-01T08:00:00.000Z"  # local midnight in Los Angeles
    assert updates[-1]["closed_by"] == "end-of-input" and updates[-1]["metrics"]["users"] == 1
