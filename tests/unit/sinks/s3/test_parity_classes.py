"""``streamproc parity`` that explains: every class on local-directory trees (as ``aws s3 sync``
writes them), ``--config`` through the real pipeline of a pipelines file, ``--explain``,
``--numeric-equal``, ``--json``, and a canary proving no value reaches the text or JSON output."""

from __future__ import annotations

import io
import json
import textwrap
from pathlib import Path

import pytest

from streamproc.cli.parity import run_parity
from streamproc.config.settings import Settings
from streamproc.sinks.s3.js_json import js_json
from streamproc.sinks.s3.parity_classes import (
    CLASSES,
    Piped,
    classify_left_only,
    classify_pair,
    diff_paths,
    numbers_equal,
    unwrap_numbers,
)

TS = 1_767_225_600_000
CANARY = "CANARY-9f3e-secret"
SETTINGS = Settings(redaction={"key": "k" * 40})

CONFIG = r"""
version: 1
sources:
  - entity: users
    topic: cdc.app.users
    namespace: app.users
    key: [_id]
    on_invalid: emit
    validate:
      - {field: email, required: true, type: string, pattern: '^[^@\s]+@[^@\s]+$'}
      - {field: tenant, type: string, severity: error, name: tenant-is-text}
    transform:
      - {lower: email}
    redact:
      - {path: email, mode: PARTIAL_MASK}
      - {path: ssn, mode: REMOVE}
sinks:
  s3_trigger:
    bucket: b
    env: dev/
    entities:
      users: {collection: users_v2}
"""


# ----------------------------------------------------------------- the pure classification


def test_each_class_of_a_pair_without_a_pipeline():
    assert classify_pair(b'{"a":1}', b'{"a":1}', None) == ("identical", [])
    assert classify_pair(b'{"a":1,"b":2}', b'{"b":2, "a":1.0}', None) == ("equal-after-pipeline", [])
    assert classify_pair(b'{"n":{"$numberLong":"7"}}', b'{"n":7}', None) == ("numeric-representation", [])
    assert classify_pair(b'{"n":{"$numberDecimal":"1.50"}}', b'{"n":"1.5"}', None) == ("numeric-representation", [])
    assert classify_pair(b'{"a":1,"b":{"c":[1,2]}}', b'{"a":2,"b":{"c":[1,3]},"d":0}', None) == (
        "fields-differ",
        ["a", "b.c[1]", "d"],
    )
    assert classify_pair(b"not json", b"{}", None) == ("fields-differ", [""])


def test_strict_values_booleans_and_numeric_strings_are_not_numbers_of_each_other():
    assert classify_pair(b'{"a":true}', b'{"a":1}', None)[0] == "fields-differ"
    assert not numbers_equal("007", "7")  # two strings compare as strings (a zip code stays text)
    assert numbers_equal({"$numberDecimal": "2.0"}, 2)
    assert unwrap_numbers({"a": [{"$numberLong": "9"}], "b": {"$numberDecimal": "1.10"}}) == {"a": [9], "b": "1.10"}
    assert diff_paths({"a": 1}, {"a": 1}) == [] and diff_paths([1], [1, 2]) == [""]


def test_left_only_is_dlq_by_rule_when_the_pipeline_rejects_it():
    assert classify_left_only(b'{"x":1}', lambda d: Piped(rule="x-rule")) == ("dlq-by-rule", "x-rule")
    assert classify_left_only(b'{"x":1}', lambda d: Piped(d)) == ("missing-right", None)


# ----------------------------------------------------------------- local trees through the command


def _write(root: Path, name: str, doc: object | bytes) -> None:
    path = root / name
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(doc if isinstance(doc, bytes) else js_json(doc))


def user(i: int, **extra: object) -> dict:
    return {"_id": f"u{i}", "email": f"Person{i}.{CANARY}@Example.com", "ssn": f"{CANARY}-{i}", **extra}


@pytest.fixture
def trees(tmp_path: Path) -> tuple[Path, Path, Path]:
    """prod/users_v2 as the triggers wrote it (raw, JSON.stringify) and dev/users_v2 as
    streamproc wrote it, one pair per class; the right side is made by the same pipeline."""
    from streamproc.config.loader import load_pipelines
    from streamproc.runtime.parity_pipeline import parity_pipeline

    config = tmp_path / "pipelines.yaml"
    config.write_text(textwrap.dedent(CONFIG))
    clean = parity_pipeline(SETTINGS, load_pipelines(config), "users")
    left, right = tmp_path / "sync" / "prod" / "users_v2", tmp_path / "sync" / "dev" / "users_v2"
    same = {"_id": "u0", "name": "n"}  # nothing to redact: the same bytes on both sides
    assert js_json(clean(same).doc) == js_json(same)
    _write(left, f"u0-{TS}", same)
    _write(right, f"u0-{TS}", same)
    _write(left, f"u1-{TS}", user(1))  # differs by redaction only
    _write(right, f"u1-{TS}", clean(user(1)).doc)
    _write(left, f"u2-{TS}", user(2, n={"$numberLong": "42"}))  # Int64 spelling
    _write(right, f"u2-{TS}", {**clean(user(2)).doc, "n": 42})
    _write(left, f"u3-{TS}", user(3, plan=f"gold-{CANARY}"))  # a real difference
    _write(right, f"u3-{TS}", {**clean(user(3)).doc, "plan": f"silver-{CANARY}"})
    _write(left, f"u4-{TS}", user(4))  # the shadow missed it
    _write(left, f"u5-{TS}", user(5, tenant=7))  # the error rule sends it to the DLQ
    _write(right, f"u6-{TS}", clean(user(6)).doc)  # only streamproc wrote it
    _write(left, f"u7-{TS + 1}-0", js_json(user(7))[:10])  # two parts on the left, one on the right
    _write(left, f"u7-{TS + 1}-1", js_json(user(7))[10:])
    _write(right, f"u7-{TS + 1}", clean(user(7)).doc)
    _write(left, f"u8-{TS}", {"_id": "u8"})  # a delete: documentKey on both sides
    _write(right, f"u8-{TS}", {"_id": "u8"})
    _write(left, "_streamproc/notes.txt", b"not a change")
    return left, right, config


def _parity(left: Path, right: Path, config: Path | None, *args: str, **kw) -> tuple[int, str, str]:
    out, err = io.StringIO(), io.StringIO()
    code = run_parity(
        str(left),
        str(right),
        None,
        float(kw.pop("threshold", 99.9)),
        "--json" in args,
        out,
        None,
        err=err,
        config=config,
        settings=SETTINGS,
        **kw,
    )
    return code, out.getvalue(), err.getvalue()


def test_every_class_once_on_local_trees_through_the_pipeline(trees):
    left, right, config = trees
    code, out, err = _parity(left, right, config, "--json", explain=5)
    assert code == 1, err
    r = json.loads(out)
    assert r["classes"] == {
        "identical": 2,
        "equal-after-pipeline": 2,
        "numeric-representation": 1,
        "fields-differ": 1,
        "missing-left": 1,
        "missing-right": 1,
        "dlq-by-rule": 1,
    }
    assert r["pipeline"] == "users" and r["pairs"] == 9 and r["matches"] == 4
    assert r["match_rate"] == round(4 / 9 * 100, 4) and r["left_unrecognised"] == 1
    assert r["rules"] == {"tenant-is-text": 1}
    ex = r["examples"]
    assert ex["fields-differ"] == [{"key": f"u3-{TS}", "paths": ["plan"]}]
    assert ex["dlq-by-rule"] == [{"key": f"u5-{TS}", "rule": "tenant-is-text"}]
    assert ex["missing-right"] == [{"key": f"u4-{TS}"}] and ex["missing-left"] == [{"key": f"u6-{TS}"}]
    assert {e["key"] for e in ex["equal-after-pipeline"]} == {f"u1-{TS}", f"u7-{TS + 1}-0"}


def test_numeric_equal_counts_the_spelling_as_a_match(trees):
    left, right, config = trees
    _, out, _ = _parity(left, right, config, "--json", numeric_equal=True)
    r = json.loads(out)
    assert r["matches"] == 5 and r["numeric_equal"] is True and r["examples"] == {}


def test_without_config_redaction_is_a_field_difference(trees):
    left, right, _ = trees
    _, out, _ = _parity(left, right, None, "--json", explain=3)
    r = json.loads(out)
    assert r["pipeline"] is None and r["classes"]["dlq-by-rule"] == 0
    assert r["classes"]["missing-right"] == 2  # u4 and u5: without the pipeline nobody knows why
    assert {"key": f"u1-{TS}", "paths": ["email", "ssn"]} in r["examples"]["fields-differ"]


def test_the_threshold_decides_the_exit_code(trees):
    left, right, config = trees
    assert _parity(left, right, config, numeric_equal=True, threshold=55.0)[0] == 0
    assert _parity(left, right, config, numeric_equal=True, threshold=56.0)[0] == 1


def test_canary_no_value_in_text_or_json_output(trees):
    left, right, config = trees
    for args in (("--json",), ()):
        for cfg in (config, None):
            code, out, err = _parity(left, right, cfg, *args, explain=10)
            assert out and CANARY not in out and CANARY.lower() not in out and CANARY not in err
            assert "gold" not in out and "silver" not in out and "example.com" not in out.lower()
    text = _parity(left, right, config, explain=10)[1]
    for cls in CLASSES:
        assert cls in text
    assert "fields: plan" in text and "rule: tenant-is-text" in text


def test_the_entity_comes_from_the_left_path_or_entity(trees, tmp_path):
    left, right, config = trees
    other = tmp_path / "elsewhere"
    other.mkdir()
    code, _, err = _parity(other, right, config)
    assert code == 2 and "'elsewhere' is no trigger collection" in err and "--entity" in err
    code, out, _ = _parity(other, right, config, "--json", entity="users")
    assert json.loads(out)["pipeline"] == "users"
    code, _, err = _parity(left, right, config, entity="nobody")
    assert code == 2 and "--entity 'nobody'" in err


def test_usage_errors_for_local_sides(tmp_path):
    code, _, err = _parity(tmp_path / "absent", tmp_path, None)
    assert code == 2 and "nor a directory" in err
    bad = tmp_path / "bad.yaml"
    bad.write_text("version: 1\nsources: []\n")
    code, _, err = _parity(tmp_path, tmp_path, bad)
    assert code == 2 and "bad.yaml" in err


def test_an_unreadable_local_object_names_the_side_not_the_key(trees):
    left, right, config = trees
    (right / f"u9-{TS}").symlink_to(right / "nowhere")  # listed, but neither stat nor read works
    code, out, err = _parity(left, right, config)
    assert code == 1 and out == "" and f"{right}/: cannot read the directory (FileNotFoundError)" in err
    assert "u9-" not in err


def test_the_pipeline_function_is_the_workers_steps(tmp_path):
    from streamproc.config.loader import load_pipelines
    from streamproc.runtime.parity_pipeline import parity_pipeline

    config = tmp_path / "pipelines.yaml"
    config.write_text(textwrap.dedent(CONFIG))
    run = parity_pipeline(SETTINGS, load_pipelines(config), "users")
    clean = run({"_id": "u1", "email": "Jane.Doe@Example.com", "ssn": "1", "tenant": "t"})
    assert clean.rule is None and clean.doc["email"] != "jane.doe@example.com" and "ssn" not in clean.doc
    assert clean.doc["email"].endswith("@e******.com")  # lower-cased by the transform, then masked
    assert run({"_id": "u1"}) == Piped({"_id": "u1"})  # a delete's documentKey: only the key's redaction
    assert run({"email": "a@b.c"}) == Piped(rule="key:_id")  # the worker dead-letters a missing key
    assert run({"_id": "u1", "email": "nope", "tenant": 5}) == Piped(rule="tenant-is-text")
    warned = run({"_id": "u1", "email": "nope"})  # a warn rule does not stop the document
    assert warned.rule is None and warned.doc["_id"] == "u1"
