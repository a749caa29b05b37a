"""The campaign's JSON summary and verdict.

``ok`` holds when the sinks drained, every kill was seen to end the process by SIGKILL, every
outage's target refused connections while down (and accepted none), no worker exited on its own
except by fail-stop (exit 70, by design: the worker stops rather than go on, and is restarted),
and every target's count is clean (nothing lost, duplicated, unexpected, different or unreadable).
"""

from __future__ import annotations

from collections import Counter
from pathlib import Path
from typing import TYPE_CHECKING, Any

from bench.chaos.verify import Count, totals
from streamproc.errors import ExitCode

if TYPE_CHECKING:
    from bench.chaos.campaign import Campaign

__all__ = ["summary"]


def summary(c: Campaign, drained: bool, counts: dict[str, Count]) -> dict[str, Any]:
    """Kills per role, outages per target with their lengths, counts per target, totals, the
    phases' durations and the verdict (see the module docstring)."""
    outages = [o.result() for o in c.outages]
    per_target: dict[str, dict[str, Any]] = {}
    for o in outages:
        t = per_target.setdefault(o["target"], {"count": 0, "down_seconds": []})
        t["count"] += 1
        t["down_seconds"].append(o["down_seconds"])
    sums = totals(counts)
    proven = all(k["by_sigkill"] for k in c.kills) and all(
        o["probes_refused"] > 0 and o["probes_accepted"] == 0 and o["error"] is None for o in outages
    )
    crashes = [u for u in c.unplanned if u["exit"] != ExitCode.SOFTWARE]
    return {
        "seed": c.plan.seed,
        "roles": c.roles,
        "stream": {
            "records": len(c.records),
            "documents_per_collection": c.opts.documents,
            "entities": list(c.stack.entities),
        },
        "plan": c.plan.as_dict(),
        "kills": {"total": len(c.kills), "per_role": dict(Counter(k["role"] for k in c.kills)), "events": c.kills},
        "outages": {"total": len(outages), "per_target": per_target, "events": outages},
        "unplanned_exits": c.unplanned,
        "phases": c.phases,
        "drained": drained,
        "counts": {name: count.as_dict() for name, count in counts.items()},
        "written_by_all_processes": c.written_totals(),
        **sums,
        "faults_proven": proven,
        "crashes": len(crashes),
        "aborted": c.aborted,
        "ok": drained and proven and not crashes and not any(sums.values()) and c.aborted is None,
        "logs": str(Path(c.stack.work)),
    }
