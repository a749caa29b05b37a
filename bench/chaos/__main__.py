"""``python -m bench.chaos`` (``make chaos``): the chaos campaign; see :mod:`bench.chaos`.

    .venv/bin/python -m bench.chaos --seed 7                 # 20 kills, 5 outages (the campaign)
    .venv/bin/python -m bench.chaos --kills 3 --outages 1 --window 45 --documents 60   # the CI size

Progress goes to stderr every few seconds; the JSON summary to stdout (and ``--json FILE``).
Exit status 0 when nothing was lost, duplicated or different and every fault was proven, else 1.
"""

from __future__ import annotations

import argparse
import json
import shutil
import sys
import tempfile
import time
from pathlib import Path

from bench.chaos.campaign import Campaign, Options, fifo_queues
from bench.chaos.plan import ROLES, TARGETS, make_plan
from streamproc.dev.broker import maybe_embedded
from tests.integration.sinks.stack import ENTITIES, Stack


def parse(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(prog="python -m bench.chaos", description=__doc__.split("\n")[0])
    p.add_argument("--seed", type=int, default=1, help="seeds the plan and the generated stream")
    p.add_argument("--kills", type=int, default=20, help="SIGKILLs of a random role (each restarted)")
    p.add_argument("--outages", type=int, default=5, help="stops of a random target (same port again after)")
    p.add_argument("--outage-min", type=float, default=10.0, help="shortest outage (s)")
    p.add_argument("--outage-max", type=float, default=30.0, help="longest outage (s)")
    p.add_argument("--window", type=float, default=240.0, help="seconds the stream is fed over; faults fall in it")
    p.add_argument("--documents", type=int, default=400, help="documents per collection of the generator")
    p.add_argument("--entities", default=",".join(ENTITIES), help="comma-separated entities of the stream")
    p.add_argument("--progress", type=float, default=5.0, help="seconds between progress lines")
    p.add_argument("--drain-timeout", type=float, default=600.0)
    p.add_argument("--bootstrap", default=None, help="a running Kafka (default: start the embedded broker)")
    p.add_argument("--workdir", type=Path, default=None, help="logs and worker state (default: a temp dir)")
    p.add_argument("--keep", action="store_true", help="keep the work directory even when the campaign passes")
    p.add_argument("--json", type=Path, default=None, help="also write the summary here")
    p.add_argument("--plan-only", action="store_true", help="print the seeded plan and exit")
    return p.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    args = parse(argv)
    plan = make_plan(
        args.seed,
        ROLES,
        kills=args.kills,
        outages=args.outages,
        window=args.window,
        targets=TARGETS,
        outage_range=(args.outage_min, args.outage_max),
    )
    if args.plan_only:
        print(json.dumps(plan.as_dict(), indent=2))
        return 0
    opts = Options(
        documents=args.documents,
        entities=tuple(e.strip() for e in args.entities.split(",") if e.strip()),
        window=args.window,
        progress=args.progress,
        drain_timeout=args.drain_timeout,
    )
    work = args.workdir or Path(tempfile.mkdtemp(prefix="streamproc-chaos-"))
    work.mkdir(parents=True, exist_ok=True)
    began = time.monotonic()
    print(f"chaos: seed {args.seed}, work directory {work}", file=sys.stderr, flush=True)
    broker_log = work / "broker.log"
    with maybe_embedded(args.bootstrap, broker_log) as bootstrap, Stack(bootstrap, work, opts.entities) as stack:
        fifo_queues(stack)
        result = Campaign(stack, plan, opts).run()
    result["duration_s"] = round(time.monotonic() - began, 1)
    result["command"] = " ".join(["python -m bench.chaos", *(argv if argv is not None else sys.argv[1:])])
    text = json.dumps(result, indent=2, default=str)
    print(text)
    if args.json is not None:
        args.json.write_text(text + "\n")
    if result["ok"] and not args.keep and args.workdir is None:
        shutil.rmtree(work, ignore_errors=True)
    verdict = "PASSED" if result["ok"] else "FAILED"
    print(
        f"chaos {verdict}: lost {result['lost']}, duplicates {result['duplicates']}, different "
        f"{result['mismatched']}, unreadable {result['errors']}, crashes {result['crashes']}, "
        f"{result['kills']['total']} kills, {result['outages']['total']} outages, {result['duration_s']}s",
        file=sys.stderr,
    )
    return 0 if result["ok"] else 1


if __name__ == "__main__":
    sys.exit(main())
