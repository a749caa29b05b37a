"""The campaign itself: one worker process per role against a :class:`Stack` (embedded broker,
moto in server mode, the OpenSearch stand-in, a throw-away PostgreSQL), a generated stream fed
at a steady pace, the seeded :class:`~bench.chaos.plan.Plan` carried out meanwhile (SIGKILL and
immediate restart of a role; target outages), then a drain and the count of every target.

A worker that exits without being killed by the campaign is restarted too (as a supervisor
would) and reported under ``unplanned_exits``; more than ``max_unplanned`` of them stops the
campaign as failed. A fail-stop exit (70) is by design; any other unplanned exit fails the verdict."""

from __future__ import annotations

import signal
import sys
import time
from collections import Counter
from dataclasses import dataclass, field
from typing import Any

import httpx

from bench.chaos.outages import OutageRun, targets_of
from bench.chaos.plan import ROLES, Kill, Plan
from bench.chaos.report import summary
from bench.chaos.verify import verify
from streamproc.dev.demo.generator import generate
from tests.integration.sinks.stack import SINKS_OF_ROLE, Stack
from tests.integration.workers import (
    BackgroundProducer,
    WorkerProcess,
    committed_lag,
    end_offsets,
    metric_total,
    parse_metrics,
    produce,
)

__all__ = ["Options", "Campaign", "fifo_queues"]


def fifo_queues(stack: Stack) -> None:
    """Make every trigger queue of ``stack`` a FIFO queue (its standard queue has no deduplication
    id to count by): create ``<name>.fifo`` queues and point the pipelines file at them."""
    import yaml

    cfg = yaml.safe_load(stack.config.read_text())
    sqs = stack.moto.client("sqs")
    for entity, queue in list(stack.queues.items()):
        if not queue.endswith(".fifo"):
            queue = f"{queue}.fifo"
            sqs.create_queue(QueueName=queue, Attributes={"FifoQueue": "true"})
            stack.queues[entity] = queue
        cfg["sinks"]["s3_trigger"]["entities"][entity]["queue"] = queue
    stack.config.write_text(yaml.safe_dump(cfg, sort_keys=False))


@dataclass
class Options:
    documents: int = 400  # per collection of the generator
    entities: tuple[str, ...] = ("reservations", "users")
    window: float = 240.0  # seconds over which the stream is produced and the plan carried out
    progress: float = 5.0
    drain_timeout: float = 600.0
    ready_timeout: float = 240.0
    max_unplanned: int = 10
    loglevel: str = "info"


class _Feeder(BackgroundProducer):
    """The stream in chunks, chunk n due ``n * pause`` seconds after the start (so the stream
    spans the window however long producing takes); ``sent`` counts what Kafka acknowledged."""

    sent = 0

    def run(self) -> None:
        began = time.monotonic()
        try:
            for n, i in enumerate(range(0, len(self.records), self.chunk)):
                time.sleep(max(0.0, began + n * self.pause - time.monotonic()))
                self.sent += produce(self.bootstrap, self.records[i : i + self.chunk])
        except BaseException as exc:  # noqa: BLE001 - re-raised by join_ok
            self.errors.append(exc)


@dataclass
class Campaign:
    stack: Stack
    plan: Plan
    opts: Options
    out: Any = field(default=sys.stderr)
    roles: list[str] = field(default_factory=lambda: list(ROLES))  # the roles the campaign counts (plan.ROLES)
    t0: float = 0.0
    kills: list[dict[str, Any]] = field(default_factory=list)
    unplanned: list[dict[str, Any]] = field(default_factory=list)
    outages: list[OutageRun] = field(default_factory=list)
    started: dict[str, float] = field(default_factory=dict)
    phases: dict[str, float] = field(default_factory=dict)
    records: list[tuple] = field(default_factory=list)
    seen: dict[int, dict[str, float]] = field(default_factory=dict)  # pid → last scrape
    aborted: str | None = None
    _last_progress: float = 0.0

    # ------------------------------------------------------------------ helpers
    def now(self) -> float:
        return time.monotonic() - self.t0

    def say(self, text: str) -> None:
        print(f"chaos +{self.now():6.1f}s {text}", file=self.out, flush=True)

    def groups(self) -> list[str]:
        sinks = [s for role in self.roles if role != "ingest" for s in SINKS_OF_ROLE.get(role, (role,))]
        return [self.stack.app_id, *(f"{self.stack.app_id}-sink-{s}" for s in sinks)]

    def start(self, role: str) -> WorkerProcess:
        self.started[role] = time.monotonic()
        return self.stack.worker(role, self.opts.loglevel)

    def supervise(self) -> None:
        """Restart a worker that exited on its own (recorded as an unplanned exit)."""
        for role, w in list(self.stack.workers.items()):
            code = w.proc.poll() if w.proc is not None else None
            if code is None:
                continue
            self.unplanned.append({"role": role, "at": round(self.now(), 2), "exit": code, "log": str(w.log_path)})
            self.say(f"UNPLANNED exit of {role} (code {code}); restarting it")
            if len(self.unplanned) > self.opts.max_unplanned:
                raise RuntimeError(f"more than {self.opts.max_unplanned} unplanned worker exits")
            self.start(role)

    def kill(self, role: str) -> None:
        w = self.stack.workers[role]
        assert w.proc is not None
        if w.proc.poll() is not None:
            self.supervise()
            w = self.stack.workers[role]
            assert w.proc is not None
        try:
            ready = httpx.get(f"http://127.0.0.1:{w.port}/readyz", timeout=1).status_code == 200
        except httpx.HTTPError:
            ready = False
        self.scrape(role, w)  # what it wrote, as close to the kill as we can
        uptime = time.monotonic() - self.started[role]
        proc = w.proc
        assert proc is not None
        pid = proc.pid
        proc.send_signal(signal.SIGKILL)
        code = proc.wait(30)
        self.kills.append(
            {
                "role": role,
                "at": round(self.now(), 2),
                "pid": pid,
                "exit": code,  # -9: ended by SIGKILL
                "by_sigkill": code == -signal.SIGKILL,
                "ready_at_kill": ready,
                "uptime_s": round(uptime, 2),
            }
        )
        self.say(f"SIGKILL {role} (pid {pid}, up {uptime:.1f}s, ready={ready}) → exit {code}; restarting")
        self.start(role)

    def scrape(self, role: str, w: WorkerProcess) -> dict[str, float] | None:
        """Records written by ``w`` since it started, per stage (``ingest`` or a sink name), or
        None when it does not answer; kept per process for :meth:`written_totals`."""
        try:  # a short timeout: a busy worker must not hold up the plan
            samples = parse_metrics(httpx.get(f"http://127.0.0.1:{w.port}/metrics", timeout=1).text)
        except httpx.HTTPError:
            return None
        if role == "ingest":
            out = {"ingest": metric_total(samples, "streamproc_events_out_total")}
        else:
            sinks = SINKS_OF_ROLE.get(role, (role,))
            out = {s: metric_total(samples, "streamproc_sink_records_total", sink=s) for s in sinks}
        if w.proc is not None:
            self.seen[w.proc.pid] = out
        return out

    def written_totals(self) -> dict[str, int]:
        """Per stage, records written summed over every process of the run (each at its last
        scrape, so a lower bound): beyond the clean events, what was written again after a kill."""
        totals: Counter = Counter()
        for per_stage in self.seen.values():
            totals.update(per_stage)
        return {k: int(v) for k, v in sorted(totals.items())}

    def progress(self, force: bool = False, feeder: _Feeder | None = None) -> None:
        if not force and time.monotonic() - self._last_progress < self.opts.progress:
            return
        self._last_progress = time.monotonic()
        parts = []
        for role, w in self.stack.workers.items():
            written = self.scrape(role, w)
            if written is None:
                parts.append(f"{role}=down")
            else:
                parts.extend(f"{k}={v:.0f}" for k, v in written.items())
        down = [f"{o.target.name} down {time.monotonic() - (o.stopped_at or 0):.0f}s" for o in self.outages if o.down]
        sent = f"produced {feeder.sent}/{len(self.records)} " if feeder is not None else ""
        self.say(
            f"{sent}kills {len(self.kills)}/{len(self.plan.kills)} "
            f"outages {len(self.outages)}/{len(self.plan.outages)} "
            f"{'[' + ', '.join(down) + '] ' if down else ''}| written since start: {' '.join(parts)}"
        )

    # ------------------------------------------------------------------ phases
    def start_all(self) -> None:
        began = time.monotonic()
        self.t0 = began
        for role in self.roles:
            self.start(role)
        for role in self.roles:
            self.stack.workers[role].wait_ready(self.opts.ready_timeout)
        self.phases["startup_s"] = round(time.monotonic() - began, 1)
        self.say(f"{len(self.roles)} workers ready ({', '.join(self.roles)})")

    def run_stream(self) -> None:
        """Feed the stream over the window and carry out the plan meanwhile."""
        stream = generate(documents=self.opts.documents, updates=3, seed=self.plan.seed)
        topics = self.stack.topics
        self.records = [(topics[r.topic], r.key, r.value) for r in stream.records if r.topic in topics]
        chunks = 60  # the last one is due at the end of the window
        feeder = _Feeder(
            self.stack.bootstrap, self.records, max(1, -(-len(self.records) // chunks)), self.plan.window / (chunks - 1)
        )
        targets = targets_of(self.stack)
        events = sorted(
            [(k.at, "kill", k) for k in self.plan.kills] + [(o.at, "outage", o) for o in self.plan.outages],
            key=lambda e: e[0],
        )
        self.t0 = time.monotonic()
        self.say(f"stream of {len(self.records)} records over {self.plan.window:.0f}s; plan: {len(events)} faults")
        feeder.start()
        while events or feeder.is_alive() or any(o.is_alive() for o in self.outages):
            while events and events[0][0] <= self.now():
                _, _, what = events.pop(0)
                if isinstance(what, Kill):
                    self.kill(what.role)
                else:
                    run = OutageRun(targets[what.target], what, self.t0)
                    self.outages.append(run)
                    self.say(f"OUTAGE {what.target} for {what.seconds:.1f}s")
                    run.start()
            self.supervise()
            self.progress(feeder=feeder)
            time.sleep(0.2)
        feeder.join_ok(30)
        for o in self.outages:
            self.say(f"outage of {o.target.name} over: {o.result()}")
        self.phases["stream_s"] = round(self.now(), 1)

    def drain(self) -> bool:
        """Wait until the ingest group, then every sink group, has committed everything."""
        began = time.monotonic()
        deadline = began + self.opts.drain_timeout
        ends = end_offsets(self.stack.bootstrap, self.stack.topics.values())
        groups = self.groups()
        ingest_done = False
        while time.monotonic() < deadline:
            self.supervise()
            self.progress()
            if not ingest_done and committed_lag(self.stack.bootstrap, groups[0], ends) == 0:
                ingest_done = True
                ends = end_offsets(self.stack.bootstrap, self.stack.clean_topics())
                self.say("ingest drained")
            if ingest_done and all(committed_lag(self.stack.bootstrap, g, ends) == 0 for g in groups[1:]):
                self.phases["drain_s"] = round(time.monotonic() - began, 1)
                self.say("every sink drained")
                return True
            time.sleep(2.0)
        self.phases["drain_s"] = round(time.monotonic() - began, 1)
        self.say(f"NOT drained after {self.opts.drain_timeout:.0f}s")
        return False

    def run(self) -> dict[str, Any]:
        """Every phase; returns the summary (:func:`bench.chaos.report.summary`). A phase that
        fails (a worker never ready, too many unplanned exits, the feeder failing) ends the
        campaign as aborted; the targets are still counted."""
        drained = False
        try:
            self.start_all()
            self.run_stream()
            drained = self.drain()
        except (AssertionError, RuntimeError, OSError) as exc:
            self.aborted = f"{type(exc).__name__}: {str(exc)[:1000]}"
            self.say(f"ABORTED: {self.aborted}")
        for o in self.outages:  # every target is up again before it is read
            o.join(60)
        self.progress(force=True)  # the last figures of the surviving processes
        for w in self.stack.workers.values():  # nothing is left to write: free the CPU for the reads
            w.kill()
        began = time.monotonic()
        counts = verify(self.stack, self.records)
        self.phases["verify_s"] = round(time.monotonic() - began, 1)
        return summary(self, drained, counts)
