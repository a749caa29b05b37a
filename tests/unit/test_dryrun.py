"""``streamproc dry-run``: a topic dump through the worker's pipeline, offline — one result line
per input line, in order, with the shipped config."""

from __future__ import annotations

import base64
import io
import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from streamproc.cli.dryrun import run_dry_run
from streamproc.cli.main import main
from streamproc.config.loader import load_pipelines
from streamproc.config.settings import load_settings

REPO = Path(__file__).resolve().parents[2]
SHIPPED = REPO / "config" / "pipelines.yaml"
OID = "65a1b2c3d4e5f60718293a4b"
SSN = "123-45-6789"


def mongo(
    op: str, ord_: int, *, after: dict | None = None, set_: dict | None = None, coll: str = "users"
) -> dict[str, Any]:
    value: dict[str, Any] = {
        "op": op,
        "before": None,
        "after": json.dumps(after) if after else None,
        "source": {
            "connector": "mongodb",
            "ts_ms": 1_767_225_600_000,
            "db": "Facilitron_common",
            "collection": coll,
            "ord": ord_,
        },
    }
    if set_:
        value["updateDescription"] = {"updatedFields": json.dumps(set_), "removedFields": None, "truncatedArrays": None}
    return {"topic": f"cdc.Facilitron_common.{coll}", "key": {"id": json.dumps({"$oid": OID})}, "value": value}


INSERT = mongo("c", 1, after={"_id": {"$oid": OID}, "email": "Jane@Example.com", "ssn": SSN, "status": "active"})
#: (input line, expected output kind, extra expectations)
CASES: list[tuple[str, str, dict[str, Any]]] = [
    (json.dumps(INSERT), "event", {"op": "insert"}),
    (json.dumps(INSERT), "dropped", {"reason": "duplicate"}),
    (json.dumps(mongo("u", 2, set_={"status": "inactive"})), "event", {"op": "update"}),
    ("this is not json {", "dlq", {"error_class": "poison"}),
    # the shipped users rules warn (on_invalid: emit): emitted, the rule named
    (json.dumps(mongo("u", 3, set_={"email": "not-an-email"})), "event", {"validation_warnings": ["email"]}),
    (
        json.dumps({"topic": INSERT["topic"], "key": INSERT["key"], "value": None}),
        "dropped",
        {"reason": "filtered", "detail": "tombstone"},
    ),
    (
        json.dumps(mongo("c", 1, after={"_id": {"$oid": OID}}, coll="sessions")),
        "dropped",
        {"reason": "filtered", "detail": "unrouted"},
    ),
    (
        json.dumps(
            {
                "topic": "pg.public.orders",
                "key": {"id": 5},
                "value": {
                    "op": "c",
                    "before": None,
                    "after": {"id": 5, "customer_email": "A@B.com", "status": "paid"},
                    "source": {"connector": "postgresql", "schema": "public", "table": "orders", "lsn": 10, "ts_ms": 1},
                },
            }
        ),
        "event",
        {"op": "insert"},
    ),
    (
        json.dumps(
            {"topic": INSERT["topic"], "key": INSERT["key"], "value_b64": base64.b64encode(b"\x01garbage").decode()}
        ),
        "dlq",
        {"error_class": "poison"},
    ),
    (json.dumps(mongo("u", 1, set_={"status": "active"})), "dropped", {"reason": "stale"}),
]


@pytest.fixture(autouse=True)
def clean_env(monkeypatch: pytest.MonkeyPatch) -> None:
    import os

    for name in list(os.environ):
        if name.startswith("STREAMPROC_"):
            monkeypatch.delenv(name)


@pytest.fixture
def dump(tmp_path: Path) -> Path:
    path = tmp_path / "dump.jsonl"
    path.write_text("".join(line + "\n" for line, _, _ in CASES))
    return path


PIPELINE_KINDS = ("event", "dlq", "dropped")


def check(lines: list[str]) -> list[dict[str, Any]]:
    """Pipeline outcomes: one per input line, in order (sink actions follow their event)."""
    everything = [json.loads(line) for line in lines]
    out = [o for o in everything if "sink" not in o]  # sink actions name their sink
    assert all(o["kind"] in PIPELINE_KINDS for o in out)
    assert len(out) == len(CASES), "one pipeline outcome per input line"
    assert "sink" not in everything[0] and everything[0]["kind"] in PIPELINE_KINDS
    assert [o["kind"] for o in out] == [kind for _, kind, _ in CASES]
    for o, (_, kind, extra) in zip(out, CASES, strict=True):
        for k, v in extra.items():
            got = o["value"][k] if kind == "event" and k == "op" else o[k]
            assert got == v, (o, k)
    users = [o for o in out if o["kind"] == "event" and o["value"]["entity"] == "users"]
    assert users[0]["topic"] == "streamproc.events.users"
    assert users[0]["key"] == {"_id": OID}
    assert users[0]["value"]["event_type"] == "user.created"
    assert users[0]["headers"]["source_position"] == "[1767225600000,1,0]"
    assert users[1]["value"]["after"]["status"] == "inactive" and users[1]["value"]["complete"] is True
    assert users[1]["value"]["after"]["email"] == "j***@e******.com"
    orders = next(o for o in out if o["kind"] == "event" and o["value"]["entity"] == "orders")
    assert orders["value"]["after"]["customer_email"].startswith("tok_")
    assert out[3]["reason"].startswith("input line 4:")
    assert out[4]["validation_warnings"] == ["email"] and out[4]["headers"]["validation_warnings"] == "email"
    assert "not-an-email" not in json.dumps(out[4])  # the bad email is emitted masked
    assert SSN not in "".join(lines) and "Jane@Example.com" not in "".join(lines)
    check_sink_actions(everything)
    return out


def check_sink_actions(everything: list[dict[str, Any]]) -> None:
    """After each event, the actions of the shipped config's sinks, from their own plan()."""
    first = next(i for i, o in enumerate(everything) if o["kind"] == "event")
    actions = []
    for o in everything[first + 1 :]:
        if "sink" not in o:
            break
        actions.append(o)
    kinds = [a["kind"] for a in actions]
    assert kinds == ["s3", "sqs", "opensearch", "warehouse", "eventbridge"], kinds
    assert [a["sink"] for a in actions] == ["s3", "s3", "opensearch", "warehouse", "eventbridge"]
    s3, sqs, osr, wh, eb = actions
    assert s3["bucket"] == "streamproc-changes"
    assert s3["key"] == f"prod/users/{OID}-1767225600000"
    assert len(s3["sha256"]) == 64 and s3["bytes"] > 0
    assert sqs["queue"] == "streamproc-users.fifo" and sqs["group"] == "users" and sqs["dedup_id"]
    assert sqs["body"] == {
        "operation": "insert",
        "S3FilePartsOfJSONDocument": [{"Bucket": "streamproc-changes", "Key": s3["key"]}],
    }
    assert (osr["action"], osr["index"], osr["id"]) == ("index", "facilitron_common_users", OID)
    assert isinstance(osr["version"], int) and osr["version"] > 0
    assert wh["table"] == "public.users" and wh["op"] == "upsert" and wh["row"]["_id"] == OID
    assert set(eb) == {"kind", "bus", "source", "detail_type", "id", "detail", "sink"}
    assert (eb["bus"], eb["source"], eb["detail_type"]) == ("default", "streamproc.users", "user.created")
    assert eb["id"].startswith("evt_1767225600000_") and eb["detail"]["eventId"] == eb["id"]
    assert eb["detail"]["entityId"] == OID and eb["detail"]["operation"] == "INSERT"
    assert eb["detail"]["changes"]["email"] == {"old": None, "new": "j***@e******.com"}
    archive = [o for o in everything if o["kind"] == "s3" and o["bucket"] == "streamproc-lake"]
    assert archive and all(a["key"].startswith("archive/") for a in archive)
    assert everything[-len(archive) :] == archive  # the archive batches the whole input, at the end


def test_dry_run_via_main(dump: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code = main(["dry-run", "--config", str(SHIPPED), str(dump)])
    captured = capsys.readouterr()
    assert code == 0
    check(captured.out.splitlines())


def test_dry_run_via_subprocess(dump: Path) -> None:
    env = {k: v for k, v in __import__("os").environ.items() if not k.startswith("STREAMPROC_")}
    proc = subprocess.run(
        [sys.executable, "-m", "streamproc.cli.main", "dry-run", "--config", "config/pipelines.yaml", str(dump)],
        cwd=REPO,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert proc.returncode == 0, proc.stderr
    check(proc.stdout.splitlines())
    # dev mode is loud about its built-in key, on stderr only
    assert "STREAMPROC_REDACTION__KEY" in proc.stderr


def test_dry_run_reads_stdin(dump: Path) -> None:
    env = {k: v for k, v in __import__("os").environ.items() if not k.startswith("STREAMPROC_")}
    proc = subprocess.run(
        [sys.executable, "-m", "streamproc.cli.main", "dry-run", "--config", str(SHIPPED)],
        cwd=REPO,
        env=env,
        input=dump.read_text(),
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert proc.returncode == 0, proc.stderr
    check(proc.stdout.splitlines())


def test_dry_run_with_a_configured_key_changes_hashes_and_tokens(dump: Path, monkeypatch) -> None:
    spec = load_pipelines(SHIPPED)
    lines = dump.read_text().splitlines(keepends=True)

    def tokens() -> list[str]:
        out = io.StringIO()
        assert run_dry_run(lines, out, load_settings(pipelines=SHIPPED, dev=True), spec) == 0
        return [
            json.loads(x)["value"]["after"]["customer_email"]
            for x in out.getvalue().splitlines()
            if json.loads(x)["kind"] == "event" and json.loads(x)["value"]["entity"] == "orders"
        ]

    dev_tokens = tokens()
    monkeypatch.setenv("STREAMPROC_REDACTION__KEY", "another-key")
    assert tokens() != dev_tokens
    assert tokens() == tokens()  # deterministic for one key


def test_dry_run_fixed_format_turns_other_formats_into_poison(tmp_path: Path, capsys) -> None:
    path = tmp_path / "d.jsonl"
    path.write_text(json.dumps(INSERT) + "\n")
    # a Debezium MongoDB record read as relational Debezium: 'after' is a JSON string, not a row
    assert main(["dry-run", "--config", str(SHIPPED), "--format", "debezium-sql", str(path)]) == 0
    (line,) = capsys.readouterr().out.splitlines()
    assert json.loads(line) == {
        "kind": "dlq",
        "error_class": "poison",
        "reason": "debezium-sql: 'after' is not an object",
    }
    assert main(["dry-run", "--config", str(SHIPPED), str(path)]) == 0
    first, *actions = capsys.readouterr().out.splitlines()
    assert json.loads(first)["kind"] == "event" and actions


def test_dry_run_missing_input_file_is_a_usage_error(tmp_path: Path, capsys) -> None:
    assert main(["dry-run", "--config", str(SHIPPED), str(tmp_path / "nope.jsonl")]) == 2
    assert "nope.jsonl" in capsys.readouterr().err
