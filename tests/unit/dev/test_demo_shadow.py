"""The demo's shadow run offline: the generated stream through the worker's processor and the
trigger-compatible layout (dev/, what the sink writes) beside the played triggers (prod/), as
local trees, compared per collection through the shipped pipelines with ``--numeric-equal``."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from streamproc.cli.dryrun import DictState
from streamproc.config.loader import load_pipelines
from streamproc.config.settings import Settings
from streamproc.dev.demo.generator import generate
from streamproc.dev.demo.shadow import SHADOW_ENV, TRIGGER_ENV, shadow_config, trigger_objects
from streamproc.pipeline.processor import Emit, RawMessage
from streamproc.runtime.parity_pipeline import parity_pipeline
from streamproc.runtime.processor import build_processor
from streamproc.sinks.base import record_from_message
from streamproc.sinks.s3.layout import TriggerObject, plan_trigger
from streamproc.sinks.s3.parity import LocalDir, list_tree
from streamproc.sinks.s3.parity_compare import compare

SHIPPED = Path(__file__).resolve().parents[3] / "config" / "pipelines.yaml"
SETTINGS = Settings(dev=True)


@pytest.fixture(scope="module")
def shadow(tmp_path_factory: pytest.TempPathFactory):
    work = tmp_path_factory.mktemp("shadow")
    spec = load_pipelines(shadow_config(SHIPPED, work / "pipelines.yaml"))
    trig = spec.sinks.s3_trigger
    stream = generate(documents=40, updates=3, seed=7)
    processor = build_processor(SETTINGS, spec, offline=True)
    state = DictState()
    root = work / "bucket"
    warned = 0
    for offset, r in enumerate(stream.records):
        out = processor.process(RawMessage(r.topic, r.key, r.value, [], 0, offset), state)
        if type(out) is Emit:
            warned += bool(out.warnings)
            rec = record_from_message(out.topic, 0, offset, out.key, out.value, out.headers)
            planned = plan_trigger(trig, rec)
            assert isinstance(planned, TriggerObject)
            for key, body in planned.parts:
                (root / key).parent.mkdir(parents=True, exist_ok=True)
                (root / key).write_bytes(body)
    collections = {trig.collection(e): trig.collection(e) for e in trig.entities}
    for key, body in trigger_objects(stream.records, collections):
        (root / key).parent.mkdir(parents=True, exist_ok=True)
        (root / key).write_bytes(body)
    return spec, root, stream, warned


def test_the_shadow_config_writes_dev_and_the_triggers_prod(shadow):
    spec, root, _stream, _w = shadow
    assert spec.sinks.s3_trigger.env == SHADOW_ENV
    assert {p.name for p in root.iterdir()} == {TRIGGER_ENV.strip("/"), SHADOW_ENV.strip("/")}


def test_the_played_triggers_are_unredacted_and_spelled_as_json_stringify(shadow):
    _spec, root, _s, _w = shadow
    user = json.loads(next((root / "prod" / "users").iterdir()).read_bytes())
    assert "@" in user["email"] and "ssn" in user  # the triggers did not redact
    assert isinstance(user["_id"], str) and user["createdAt"].endswith("Z")
    amounts = [json.loads(p.read_bytes()).get("amount") for p in (root / "prod" / "reservation_charges").iterdir()]
    assert any(isinstance(a, dict) and set(a) == {"$numberDecimal"} for a in amounts)  # Decimal128 as toJSON
    assert any(isinstance(a, float) for a in amounts)  # a partial update set a double
    dev_user = json.loads((root / "dev" / "users" / next((root / "prod" / "users").iterdir()).name).read_bytes())
    assert "ssn" not in dev_user and dev_user["email"] != user["email"]


def test_every_collection_matches_after_the_pipeline(shadow):
    spec, root, stream, warned = shadow
    assert stream.injected["invalid"] >= 1 and warned >= stream.injected["invalid"]  # rule violations emitted
    trig = spec.sinks.s3_trigger
    for entity in trig.entities:
        coll = trig.collection(entity)
        left = list_tree(None, LocalDir(root / "prod" / coll))
        right = list_tree(None, LocalDir(root / "dev" / coll))
        pipeline = parity_pipeline(SETTINGS, spec, entity)
        r = compare(None, left, right, 99.9, pipeline=pipeline, entity=entity, explain=3, numeric_equal=True)
        assert r.pairs > 100, entity
        unexplained = {c: n for c, n in r.classes.items() if n and c not in ("identical", "equal-after-pipeline")}
        assert r.passed, (entity, r.match_rate, unexplained, r.examples)
        assert r.classes["fields-differ"] == 0 and r.classes["dlq-by-rule"] == 0, (entity, r.examples)
        if entity in ("reservations", "reservation_charges"):  # Int64 attendees, Decimal128 amount
            assert r.classes["numeric-representation"] > 0, entity
        if entity in ("users", "owners"):  # the triggers' documents differ from dev/ by redaction only
            assert r.classes["equal-after-pipeline"] > 0 and r.classes["identical"] <= r.pairs * 0.1, entity
