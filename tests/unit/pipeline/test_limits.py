"""Bounded work per record (issue 10 §1): every limit is a setting with a safe default, every
violation a ``poison`` DLQ record naming the limit and never a key or value of the payload, and
the hostile inputs of the issue end in the DLQ fast and small."""

from __future__ import annotations

import json
import math
import subprocess
import sys
import textwrap
from pathlib import Path
from typing import Any

import pytest

from streamproc.cli.dryrun import DictState
from streamproc.config.loader import parse_pipelines
from streamproc.config.settings import load_settings
from streamproc.model import ChangeEvent, Op, Update
from streamproc.pipeline.limits import DEFAULT_LIMITS, Limits, measure
from streamproc.pipeline.merge import apply_update
from streamproc.pipeline.processor import ROUTE_CACHE_SIZE, DeadLetter, Dropped, Emit, Processor, RawMessage
from streamproc.runtime.processor import build_processor
from streamproc.sources import Decoder

REPO = Path(__file__).resolve().parents[3]
KEY = b"limits-test-redaction-key-0123456789abcdef"
CANARY = "canary-7f3a9e"  # appears in payload keys and values; never in a reason
CONFIG = """
version: 1
defaults: {key: [_id]}
sources:
  - entity: users
    topic: cdc.app.users
    namespace: app.users
    redact:
      - {path: email, mode: PARTIAL_MASK}
"""


class StubDecoder:
    """Returns the event it is given: documents no JSON parser would build (5000 levels deep)."""

    def __init__(self, event: ChangeEvent) -> None:
        self.event = event

    def decode(self, topic: str, key: Any, value: Any, headers: Any = None, *, fmt: Any = None, offset: Any = None):
        return self.event


def processor(limits: Limits = DEFAULT_LIMITS, decoder: Any = None) -> Processor:
    spec = parse_pipelines(CONFIG, "limits.yaml")
    return Processor(spec, decoder or Decoder(key_fields={"cdc.app.users": ["_id"]}), KEY, "clean", limits=limits)


def mongo(op: str, ord_: int, *, after: dict | None = None, set_: dict | None = None) -> RawMessage:
    value: dict[str, Any] = {
        "op": op,
        "before": None,
        "after": json.dumps(after) if after is not None else None,
        "source": {"connector": "mongodb", "ts_ms": 1_700_000_000_000, "db": "app", "collection": "users", "ord": ord_},
    }
    if set_ is not None:
        value["updateDescription"] = {"updatedFields": json.dumps(set_), "removedFields": None, "truncatedArrays": None}
    return RawMessage("cdc.app.users", json.dumps({"id": '"u1"'}).encode(), json.dumps(value).encode(), [], 0, ord_)


def event(**fields: Any) -> ChangeEvent:
    base: dict[str, Any] = {"format": "debezium-mongodb", "op": Op.INSERT, "namespace": "app.users", "key": {"_id": 1}}
    base.update(fields)
    return ChangeEvent(**base)


def dead(outcome: Any, limit: str) -> DeadLetter:
    assert type(outcome) is DeadLetter, outcome
    assert outcome.error_class == "poison" and outcome.stage == "limits"
    assert f"limit {limit}=" in outcome.reason
    assert CANARY not in outcome.reason and "tags" not in outcome.reason
    return outcome


def nested(depth: int) -> dict[str, Any]:
    doc: dict[str, Any] = {"leaf": CANARY}
    for _ in range(depth - 1):
        doc = {CANARY: doc}
    return doc


# ------------------------------------------------------------------ the limits as settings


def test_defaults_are_safe_and_every_limit_is_a_setting(monkeypatch: pytest.MonkeyPatch) -> None:
    assert Limits(16 * 1024 * 1024, 200, 200, 100_000, 1_000_000) == DEFAULT_LIMITS
    assert load_settings().limits.model_dump() == {
        "max_document_bytes": 16 * 1024 * 1024,
        "max_depth": 200,
        "max_update_path_segments": 200,
        "max_array_pad": 100_000,
        "max_fields": 1_000_000,
    }
    monkeypatch.setenv("STREAMPROC_LIMITS__MAX_ARRAY_PAD", "10")
    monkeypatch.setenv("STREAMPROC_LIMITS__MAX_DEPTH", "50")
    settings = load_settings(dev=True)
    built = build_processor(settings, parse_pipelines(CONFIG, "limits.yaml"), offline=True)
    assert built.limits == Limits(max_array_pad=10, max_depth=50)


@pytest.mark.parametrize("bad", [0, -1, 1.5, True])
def test_a_limit_must_be_a_positive_integer(bad: Any) -> None:
    with pytest.raises(ValueError, match="max_depth must be a positive integer"):
        Limits(max_depth=bad)


# ------------------------------------------------------------------ array padding (the crash loop)


def test_one_huge_index_ends_in_the_dlq_without_allocating() -> None:
    p, state = processor(), DictState()
    assert type(p.process(mongo("c", 1, after={"_id": "u1", "tags": ["a"]}), state)) is Emit
    dead(p.process(mongo("u", 2, set_={"tags.300000000": 1}), state), "max_array_pad")
    # the partition goes on: the next change of the key is applied to the unchanged state
    out = p.process(mongo("u", 3, set_={"tags.3": "d"}), state)
    assert type(out) is Emit and json.loads(out.value)["after"]["tags"] == ["a", None, None, "d"]


def test_the_padding_budget_is_per_update_not_per_key() -> None:
    """500 moderate pads (each far below the limit) are 50 million elements together."""
    p, state = processor(), DictState()
    p.process(mongo("c", 1, after={"_id": "u1", "tags": [[] for _ in range(3)]}), state)
    dead(p.process(mongo("u", 2, set_={f"tags.{n}.99999": 1 for n in range(500)}), state), "max_array_pad")


def test_padding_within_the_budget_is_applied_like_mongodb() -> None:
    limits = Limits(max_array_pad=5)
    assert apply_update({"t": []}, Update({"t.4": 1}), limits) == {"t": [None, None, None, None, 1]}
    assert apply_update({"t": [[], []]}, Update({"t.0.2": 1, "t.1.1": 2}), limits) == {
        "t": [[None, None, 1], [None, 2]]
    }
    with pytest.raises(Exception, match="max_array_pad"):
        apply_update({"t": [[], []]}, Update({"t.0.3": 1, "t.1.3": 2}), limits)


def test_a_non_numeric_segment_inside_an_array_is_invalid_not_a_crash() -> None:
    p, state = processor(), DictState()
    p.process(mongo("c", 1, after={"_id": "u1", "tags": ["a"]}), state)
    for key in ("tags.x", "tags.x.y", "tags.\u00b2"):  # "²".isdigit() is true, int("²") fails
        out = p.process(mongo("u", 2, set_={key: CANARY}), state)
        assert type(out) is DeadLetter and out.error_class == "invalid", (key, out)
        assert CANARY not in out.reason


# ------------------------------------------------------------------ depth, segments, fields, bytes


def test_a_long_update_path_is_refused_before_it_builds_a_deep_document() -> None:
    """About 1.5 KB of update key: 500 segments (MongoDB itself stops at 100 levels)."""
    p, state = processor(), DictState()
    p.process(mongo("c", 1, after={"_id": "u1"}), state)
    key = ".".join(["ab"] * 500)
    assert 1400 < len(key) < 1600
    dead(p.process(mongo("u", 2, set_={key: 1}), state), "max_update_path_segments")
    # segments within their limit, but segments + the value's depth beyond max_depth
    dead(p.process(mongo("u", 3, set_={".".join(["a"] * 150): nested(60)}), state), "max_depth")


def test_depth_is_checked_without_recursion_on_documents_no_parser_builds() -> None:
    deep = nested(5000)
    for fields in ({"after": deep}, {"before": deep, "op": Op.DELETE}, {"key": {"_id": deep}}):
        dead(
            processor(decoder=StubDecoder(event(**fields))).process(
                RawMessage("cdc.app.users", b"k", b"v"), DictState()
            ),
            "max_depth",
        )
    dead(
        processor(decoder=StubDecoder(event(op=Op.UPDATE, update=Update({"a": deep})))).process(
            RawMessage("cdc.app.users", b"k", b"v"), DictState()
        ),
        "max_depth",
    )


def test_fields_are_counted_over_the_whole_record() -> None:
    limits = Limits(max_fields=100)
    half = {f"f{n}": n for n in range(60)}
    ok = processor(limits, StubDecoder(event(after=dict(list(half.items())[:40]))))
    assert type(ok.process(RawMessage("cdc.app.users", b"k", b"v"), DictState())) is Emit
    both = processor(limits, StubDecoder(event(op=Op.UPDATE, before=half, after=half)))
    dead(both.process(RawMessage("cdc.app.users", b"k", b"v"), DictState()), "max_fields")
    wide = processor(limits, StubDecoder(event(after={"_id": 1, "tags": list(range(200))})))
    dead(wide.process(RawMessage("cdc.app.users", b"k", b"v"), DictState()), "max_fields")


def test_document_and_message_size() -> None:
    limits = Limits(max_document_bytes=1000)
    big = processor(limits, StubDecoder(event(after={"_id": 1, "notes": CANARY * 200})))
    dead(big.process(RawMessage("cdc.app.users", b"k", b"v"), DictState()), "max_document_bytes")
    # a raw message may hold two documents; beyond that it is not even decoded
    raw = processor(limits, StubDecoder(event(after={"_id": 1})))
    dead(raw.process(RawMessage("cdc.app.users", b"k", b"x" * 2001), DictState()), "max_document_bytes")
    assert type(raw.process(RawMessage("cdc.app.users", b"k", b"x" * 1990), DictState())) is Emit


def test_the_merged_document_stays_within_the_limits() -> None:
    limits = Limits(max_fields=50)
    p, state = processor(limits), DictState()
    p.process(mongo("c", 1, after={"_id": "u1", **{f"f{n}": n for n in range(30)}}), state)
    dead(p.process(mongo("u", 2, set_={f"g{n}": n for n in range(30)}), state), "max_fields")


def test_measure_reports_depth_fields_and_size() -> None:
    size = measure({"a": [1, {"b": "xyz"}], "c": None}, DEFAULT_LIMITS, "doc")
    assert (size.depth, size.fields) == (3, 5)
    assert 20 < size.bytes < 80


# ------------------------------------------------------------------ strict JSON, Unicode


@pytest.mark.parametrize("bad", [math.inf, -math.inf, math.nan])
def test_a_non_finite_number_is_refused_clean_events_are_strict_json(bad: float) -> None:
    p = processor(decoder=StubDecoder(event(after={"_id": 1, "score": [1.5, {"x": bad}]})))
    out = p.process(RawMessage("cdc.app.users", b"k", b"v"), DictState())
    assert type(out) is DeadLetter and out.error_class == "poison" and "non-finite" in out.reason


def test_a_lone_surrogate_is_poison_and_leaves_the_state_untouched() -> None:
    state = DictState()
    p = processor(decoder=StubDecoder(event(after={"_id": 1, "name": "x\ud800y"})))
    out = p.process(RawMessage("cdc.app.users", b"k", b"v"), state)
    assert type(out) is DeadLetter and out.error_class == "poison" and "Unicode" in out.reason
    assert state == {}


def test_emitted_values_parse_as_strict_json() -> None:
    p, state = processor(), DictState()
    out = p.process(mongo("c", 1, after={"_id": "u1", "n": 10**30, "f": 0.5}), state)
    assert type(out) is Emit

    def refuse(token: str) -> None:
        raise AssertionError(f"non-standard JSON token {token}")

    assert json.loads(out.value, parse_constant=refuse)["after"]["n"] == 10**30


# ------------------------------------------------------------------ the route cache


def test_the_route_cache_is_bounded() -> None:
    p = processor()
    for n in range(ROUTE_CACHE_SIZE + 50):
        p._route("cdc.app.users", f"app.{CANARY}{n}")
    assert len(p._routes) == ROUTE_CACHE_SIZE
    assert p._route("cdc.app.users", "app.users") is not None  # a hit still routes
    out = p.process(mongo("c", 1, after={"_id": "u1"}), DictState())
    assert type(out) is Emit


def test_unrouted_namespaces_are_dropped() -> None:
    ev = event(namespace="other.coll")
    out = processor(decoder=StubDecoder(ev)).process(RawMessage("elsewhere", b"k", b"v"), DictState())
    assert out == Dropped("filtered", None, "unrouted")


# ------------------------------------------------------------------ the issue's case, measured

MEASURE = textwrap.dedent(
    """
    import contextlib, io, json, sys, time
    from streamproc.cli.main import main

    def peak_rss_mb():
        # VmHWM belongs to this address space (reset at exec); ru_maxrss would carry over the
        # forking parent's peak (pytest's, after the integration tests: ~600 MB)
        for line in open("/proc/self/status"):
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
        raise RuntimeError("no VmHWM")

    def run(path):
        out = io.StringIO()
        with contextlib.redirect_stdout(out):
            code = main(["dry-run", "--config", sys.argv[1], path])
        return code, out.getvalue().splitlines()

    run(sys.argv[2])  # warm-up: imports and sink set-up, outside the timing
    t0 = time.perf_counter()
    code, lines = run(sys.argv[3])
    seconds = time.perf_counter() - t0
    rss_mb = peak_rss_mb()
    print(json.dumps({"code": code, "seconds": seconds, "rss_mb": rss_mb, "lines": lines}))
    """
)


def _dump_line(op: str, ord_: int, **kw: Any) -> str:
    msg = mongo(op, ord_, **kw)
    return json.dumps(
        {"topic": "cdc.Facilitron_common.users", "key": json.loads(msg.key), "value": _retarget(msg.value)}
    )


def _retarget(value: bytes) -> dict[str, Any]:
    obj = json.loads(value)
    obj["source"].update(db="Facilitron_common", collection="users")
    return obj


@pytest.mark.parametrize(
    ("update", "limit"),
    [
        ({"tags.300000000": 1}, "max_array_pad"),
        ({f"tags.{n}.99999": 1 for n in range(500)}, "max_array_pad"),
        ({".".join(["ab"] * 500): 1}, "max_update_path_segments"),
    ],
    ids=["one-huge-index", "500-moderate-pads", "500-segment-path"],
)
def test_the_issue_cases_end_in_the_dlq_fast_and_small_in_dry_run(tmp_path: Path, update: dict, limit: str) -> None:
    """The record that made dry-run grow to 2.4 GB and die after 32 s: under 2 s and 300 MB,
    measured in a subprocess (peak RSS of the whole process: VmHWM)."""
    insert = _dump_line("c", 1, after={"_id": "u1", "email": "j@example.com", "tags": [[], [], []]})
    warm = tmp_path / "warm.jsonl"
    warm.write_text(insert + "\n")
    hostile = tmp_path / "hostile.jsonl"
    hostile.write_text(
        "\n".join([insert, _dump_line("u", 2, set_=update), _dump_line("u", 3, set_={"status": "inactive"})]) + "\n"
    )
    proc = subprocess.run(
        [sys.executable, "-c", MEASURE, str(REPO / "config" / "pipelines.yaml"), str(warm), str(hostile)],
        capture_output=True,
        text=True,
        timeout=120,
        cwd=REPO,
    )
    assert proc.returncode == 0, proc.stderr[-2000:]
    result = json.loads(proc.stdout.splitlines()[-1])
    kinds = [json.loads(line) for line in result["lines"] if '"sink"' not in line]
    assert [k["kind"] for k in kinds] == ["event", "dlq", "event"]
    assert kinds[1]["error_class"] == "poison" and f"limit {limit}=" in kinds[1]["reason"]
    assert result["code"] == 0
    assert result["seconds"] < 2.0, result["seconds"]
    assert result["rss_mb"] < 300, result["rss_mb"]


def test_dry_run_prints_what_the_worker_produces() -> None:
    """dry-run re-encodes the clean event for its line; the worker sends ``Emit.value``: equal JSON."""
    import io

    from streamproc.cli.dryrun import run_dry_run

    settings = load_settings(dev=True)
    spec = parse_pipelines(CONFIG, "limits.yaml")
    after = {"_id": "u1", "big": 2**70, "neg": -(2**65), "f": 1e-7, "text": "Zoë ✓", "email": "a@b.org"}
    msg = mongo("c", 1, after=after)
    line = json.dumps({"topic": msg.topic, "key": json.loads(msg.key), "value": json.loads(msg.value)})
    out = io.StringIO()
    run_dry_run([line], out, settings, spec)
    printed = json.loads(out.getvalue().splitlines()[0])
    worker = build_processor(settings, spec, offline=True).process(msg, DictState())
    assert type(worker) is Emit
    assert printed["value"] == json.loads(worker.value) and printed["key"] == json.loads(worker.key)
    assert printed["value"]["after"]["big"] == 2**70
