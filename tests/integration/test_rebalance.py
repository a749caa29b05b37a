"""Ingest workers of one group hand partitions over three times while changes keep arriving: two
workers share the 4 partitions of each source topic, one is killed (SIGKILL: the other takes its
partitions, recovering their tables from the changelog), a new one joins (partitions move to
it), then a third. Each hand-over is observed, not assumed: every worker logs its source
partitions after each rebalance (``ingest partitions assigned: …``) and Faust logs ``Worker
ready`` when its recovery is done; the test waits for the expected assignments and reports how
long each hand-over took.

The stream is released in parts just before each hand-over, so records of moved partitions
arrive while and after they move and must be processed against the recovered state. At the
end the clean topics hold every change of the offline dry-run (the same final document per
key, the same (key, position) pairs, extra events only as byte-equal copies at the same
position, which the consumers' dedupe drops), the tables as their changelogs hold them equal
the dry-run's state, and the broker's reported end of every changelog partition is its real end.

On the embedded broker this exactness comes from the worker sending each changelog partition's
last record alone (its ListOffsets answer is the last batch's base offset + 1; see
runtime/ingest.py). It runs against real Kafka too: testcontainers where Docker exists, or
``STREAMPROC_KAFKA_BOOTSTRAP``."""

from __future__ import annotations

import contextlib
import re
import time
from collections.abc import Sequence

import pytest

from streamproc.runtime.producer import WatermarkReader

from .handover import GatedProducer, changelog_tables, exact_copies, local_table, merged
from .workers import (
    WorkerProcess,
    assert_final_state_matches,
    assert_key_positions_match,
    end_offsets,
    generated_stream,
    read_clean_when_committed,
    read_topic,
    run_offline,
    wait_for,
)

pytestmark = [pytest.mark.integration, pytest.mark.timeout(420)]

ENTITIES = ("reservations", "users")
DOCUMENTS = 300
PARTITIONS = 4


def shared_by(
    workers: Sequence[WorkerProcess], every: set[tuple[str, int]], since: float, idle: WorkerProcess | None
) -> bool:
    """Whether ``workers``' latest assignments (each logged after ``since``) split ``every``
    source partition between them, each but ``idle`` holding some."""
    owned = []
    for w in workers:
        found = w.assignments()
        if not found or found[-1][0] < since:
            return False
        owned.append(w.assigned())
    busy = all(o for w, o in zip(workers, owned, strict=True) if w is not idle)
    return busy and sum(len(o) for o in owned) == len(every) and set().union(*owned) == every


def hand_over(
    workers: Sequence[WorkerProcess],
    every: set[tuple[str, int]],
    since: float,
    what: str,
    idle: WorkerProcess | None = None,
) -> dict[str, float]:
    """Wait until ``workers`` share ``every`` partition (assignments logged after ``since``; only
    ``idle`` may get none) and each has finished its recovery after that; the seconds from
    ``since`` to both."""
    wait_for(lambda: shared_by(workers, every, since, idle), 180, interval=0.2, message=what)
    assigned = max(w.assignments()[-1][0] for w in workers)

    def recovered() -> bool:
        return all(any(t >= w.assignments()[-1][0] for t in w.ready_times()) for w in workers)

    wait_for(recovered, 180, interval=0.2, message=f"{what}: recovery to finish")
    ready = max(min(t for t in w.ready_times() if t >= w.assignments()[-1][0]) for w in workers)
    return {"assigned": assigned - since, "ready": ready - since}


@pytest.fixture(scope="module")
def rebalance_run(kafka_bootstrap: str, tmp_path_factory: pytest.TempPathFactory):
    work = tmp_path_factory.mktemp("rebalance")
    topics, records = generated_stream(work / "pipelines.yaml", ENTITIES, DOCUMENTS, seed=9)
    n = len(records)
    env = {"STREAMPROC_PARTITIONS": str(PARTITIONS)}
    a = WorkerProcess(kafka_bootstrap, work / "a", work / "pipelines.yaml", log_path=work / "a.log", extra_env=env)

    def another(name: str) -> WorkerProcess:
        return WorkerProcess(
            kafka_bootstrap,
            work / name,
            work / "pipelines.yaml",
            app_id=a.app_id,
            topic_prefix=a.topic_prefix,
            log_path=work / f"{name}.log",
            extra_env=env,
        )

    b, c, d = another("b"), another("c"), another("d")
    every = {(t, p) for t in topics.values() for p in range(PARTITIONS)}
    offline = run_offline(records, work / "pipelines.yaml", a.topic_prefix)
    producer = GatedProducer(kafka_bootstrap, records, 10, 0.1)
    timings: dict[str, dict[str, float]] = {}
    try:
        started = time.time()
        a.start()
        a.wait_ready()
        b.start()
        b.wait_ready()
        timings["a and b share"] = hand_over([a, b], every, started, "two workers sharing the source partitions")
        a_had, b_had = a.assigned(), b.assigned()
        moved: dict[str, set[tuple[str, int]]] = {}

        producer.allow(0.4)
        producer.start()
        wait_for(
            lambda: a.total("streamproc_events_in_total") > 0.1 * n and b.total("streamproc_events_in_total") > 0,
            120,
            interval=0.1,
            message="both workers consuming",
        )
        a_in = int(a.total("streamproc_events_in_total"))
        producer.allow(0.6)
        killed = time.time()
        a.kill()
        sent_at_kill = producer.sent
        timings["a killed, b takes all"] = hand_over([b], every, killed, "the survivor to take every partition")
        moved["a killed, b takes all"] = b.assigned() - b_had

        producer.allow(0.8)
        joined = time.time()
        c.start()
        timings["c joins"] = hand_over([b, c], every, joined, "a new worker to take partitions over")
        moved["c joins"] = c.assigned()

        producer.allow(1.0)
        joined = time.time()
        d.start()
        # Faust's co-partitioned assignor caps a worker at ceil(4 / 3) = 2 partitions per topic and
        # keeps assignments that fit (sticky): with b and c at 2 each, the third gets none.
        timings["d joins"] = hand_over([b, c, d], every, joined, "the group to rebalance with a third worker", idle=d)
        moved["d joins"] = d.assigned()
        producer.join_ok()

        ends = end_offsets(kafka_bootstrap, topics.values())
        assert sum(ends.values()) == n
        clean = read_clean_when_committed(kafka_bootstrap, b, ends, ENTITIES, "the group to commit every offset")
        reader = WatermarkReader(kafka_bootstrap)
        changelog_ends = {}
        for t in topics.values():
            name = f"{a.app_id}-state-{t}-changelog"
            real: dict[int, int] = {}
            for m in read_topic(kafka_bootstrap, name):
                real[m.partition()] = m.offset() + 1
            changelog_ends[t] = (reader.ends(name, range(PARTITIONS)), real)
        reader.close()
        tables = changelog_tables(kafka_bootstrap, a.app_id, topics.values())
        owners = [(w, w.assigned()) for w in (b, c, d)]  # the final owners
        consumed = {str(w.log_path.stem): int(w.total("streamproc_events_in_total")) for w in (b, c, d)}
        for w in (b, c, d):
            w.stop()  # a clean close: their RocksDB partitions are read below
        hand_overs = {str(w.log_path.stem): hand_over_lines(w) for w in (a, b, c, d)}
        local = {tp: local_table(w.datadir, *tp) for w, tps in owners for tp in tps}
        yield {
            "n": n,
            "offline": offline,
            "clean": clean,
            "tables": tables,
            "local": local,
            "changelog_ends": changelog_ends,
            "timings": timings,
            "a_had": a_had,
            "a_in": a_in,
            "sent_at_kill": sent_at_kill,
            "consumed": consumed,
            "moved": moved,
            "hand_overs": hand_overs,
        }
    finally:
        producer.allow(1.0)
        a.kill()
        for w in (b, c, d):
            w.stop()


def test_each_hand_over_was_observed(rebalance_run, capsys: pytest.CaptureFixture[str]) -> None:
    run = rebalance_run
    assert run["a_had"] and run["a_in"] > 0, "the killed worker owned and processed nothing"
    assert 0 < run["sent_at_kill"] < run["n"], "the kill did not happen mid-stream"
    assert run["consumed"]["b"] > 0 and run["consumed"]["c"] > 0, run["consumed"]
    assert list(run["timings"]) == ["a and b share", "a killed, b takes all", "c joins", "d joins"]
    assert run["moved"]["a killed, b takes all"] == run["a_had"], "the killed worker's partitions did not move"
    assert run["moved"]["c joins"], "no partition moved to the added worker"
    with capsys.disabled():
        print(f"\n[rebalance] {run['n']} records; killed worker consumed {run['a_in']}; after: {run['consumed']}")
        for what, t in run["timings"].items():
            print(
                f"[rebalance] {what}: {len(run['moved'].get(what, ()))} source partitions moved; "
                f"assigned after {t['assigned']:.1f}s, recovered after {t['ready']:.1f}s"
            )


HAND_OVER_LOG = re.compile(r"partitions assigned|sought again|Worker ready|[Rr]ebalanc|[Cc]ommit|Heartbeat|wait_empty")


def hand_over_lines(w: WorkerProcess) -> list[str]:
    """The worker's log lines about assignments, seeks, commits and recovery (no payload is
    logged), to explain a failure in CI, where the logs are not kept."""
    return [line for line in w.log().splitlines() if HAND_OVER_LOG.search(line)][-60:]


@contextlib.contextmanager
def explained(run: dict):
    """Re-raise an assertion failure with whether the tables (the changelogs) equal the dry-run's
    state (a change missing from both was never processed; from the clean topic only, its output
    was lost or dropped) and the workers' hand-over log lines."""
    try:
        yield
    except AssertionError as exc:
        state = "equal" if merged(run["tables"]) == run["offline"].state else "differ"
        lines = [f"--- {name}\n" + "\n".join(found) for name, found in run["hand_overs"].items()]
        raise AssertionError(
            f"{exc}\nthe tables and the dry-run's state {state}; the workers' hand-over log lines:\n" + "\n".join(lines)
        ) from None


def test_no_change_is_lost_and_the_state_equals_dry_run(rebalance_run) -> None:
    with explained(rebalance_run):
        assert_final_state_matches(rebalance_run["clean"], rebalance_run["offline"])
    tables, local = rebalance_run["tables"], rebalance_run["local"]
    assert merged(tables) == rebalance_run["offline"].state
    assert len(local) == len(ENTITIES) * PARTITIONS, "the final owners' partitions"
    for tp, (data, offset) in local.items():
        assert data == tables[tp], f"{tp}: the owner's local table differs from the changelog"
        real_end = rebalance_run["changelog_ends"][tp[0]][1][tp[1]]
        assert offset == real_end - 1, f"{tp}: persisted changelog offset {offset}, changelog end {real_end}"
    for topic, (reported, real) in rebalance_run["changelog_ends"].items():
        assert {p: e for p, e in reported.items() if e} == real, f"{topic}: reported changelog ends differ"


def test_key_positions_equal_dry_run_and_only_exact_copies_are_added(
    rebalance_run, capsys: pytest.CaptureFixture[str]
) -> None:
    with explained(rebalance_run):
        assert_key_positions_match(rebalance_run["clean"], rebalance_run["offline"])
    copies = exact_copies(rebalance_run["clean"], rebalance_run["offline"])
    with capsys.disabled():
        print(f"\n[rebalance] redelivered clean events (byte-equal copies at the same position): {copies}")
