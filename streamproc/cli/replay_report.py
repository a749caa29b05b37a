"""What ``streamproc replay`` prints: the plan table per group, the refusal naming a group's
members, progress lines on stderr and the report (text or ``--json``)."""

from __future__ import annotations

import argparse
import sys
from typing import Any

from streamproc.jsonutil import dumps_str
from streamproc.operations.offsets import PlanRow

__all__ = ["progress", "plan_table", "refusal", "print_report"]


def progress(text: str) -> None:
    print(f"replay: {text}", file=sys.stderr, flush=True)


def plan_table(rows: list[PlanRow]) -> list[str]:
    width = max([len("topic")] + [len(r.topic) for r in rows])
    out = [f"  {'topic':<{width}}  partition  committed     target    re-read    skipped"]
    for r in rows:
        committed = "-" if r.committed is None else str(r.committed)
        out.append(
            f"  {r.topic:<{width}}  {r.partition:>9}  {committed:>9}  {r.target:>9}  {r.reread:>9}  {r.skipped:>9}"
        )
    out.append(f"  total: {sum(r.reread for r in rows)} records read again, {sum(r.skipped for r in rows)} skipped")
    return out


def refusal(info: Any) -> str:
    if info.members:
        members = ", ".join(f"{m} (client {c}) at {h}" for m, c, h in info.members)
        return (
            f"streamproc replay: refused: consumer group {info.group} has active members: {members}. "
            "Stop every worker of the group first."
        )
    return (
        f"streamproc replay: refused: consumer group {info.group} is active (state {info.state}); members: the "
        "broker lists none by name. Stop every worker of the group first; where the broker keeps a stopped "
        "group's state (the embedded broker does), confirm with --workers-stopped."
    )


def print_report(
    report: dict[str, Any], plans: list[tuple[str, str, list[PlanRow], Any]], args: argparse.Namespace
) -> None:
    if args.json:
        print(dumps_str(report))
        return
    mode = "APPLIED" if args.execute else "PREVIEW (nothing changed; add --execute to apply)"
    for group, name, rows, removal in plans:
        print(f"replay {group} ({name}) {report['target']}: {mode}")
        print("\n".join(plan_table(rows)))
        if removal is not None:
            print("  --reset-state removed:" if args.execute else "  --reset-state would remove:")
            for line in removal.lines() or ["nothing (no state found)"]:
                print(f"    {line}")
    for note in report["notes"]:
        print(f"note: {note}")
    if "audit" in report:
        print(f"audit record {report['audit']['id']} written to {report['audit']['topic']}")
