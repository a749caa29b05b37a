"""Validation severity: ``severity: error | warn`` per rule, ``on_invalid: dlq | emit`` per source
(and in ``defaults``), the ``validation_warnings`` header and value field, config errors."""

from __future__ import annotations

import json
import textwrap

import pytest

from streamproc.config.loader import parse_pipelines
from streamproc.errors import ConfigError
from streamproc.model import Update
from streamproc.pipeline.compiled import compile_source
from streamproc.pipeline.processor import WARNINGS_HEADER, DeadLetter, Emit, Processor, RawMessage
from streamproc.pipeline.validate import RuleFailed
from streamproc.sources import Decoder

KEY = b"unit-test-redaction-key"

CONFIG = r"""
version: 1
defaults:
  key: [_id]
sources:
  - entity: users
    topic: cdc.app.users
    namespace: app.users
    on_invalid: emit
    validate:
      - {field: email, required: true, type: string, pattern: '^[^@\s]+@[^@\s]+$'}
      - {field: age, type: integer, min: 0, name: age-not-negative}
      - {field: tenant, required: true, type: string, severity: error}
    redact:
      - {path: email, mode: PARTIAL_MASK}
  - entity: orders
    topic: cdc.app.orders
    namespace: app.orders
    validate:
      - {field: status, type: string, enum: [pending, paid]}
      - {field: note, type: string, severity: warn}
"""


def parse(text: str = CONFIG):
    return parse_pipelines(textwrap.dedent(text), "unit.yaml")


class DictState(dict):
    def set(self, key: bytes, value: bytes) -> None:
        self[key] = value


def mongo(coll: str, ord_: int, after: dict | None = None, set_: dict | None = None, _id: str = "u1") -> RawMessage:
    value: dict = {
        "op": "c" if after is not None else "u",
        "after": json.dumps(after) if after is not None else None,
        "source": {"connector": "mongodb", "ts_ms": 1_700_000_000_000, "db": "app", "collection": coll, "ord": ord_},
    }
    if set_ is not None:
        value["updateDescription"] = {"updatedFields": json.dumps(set_), "removedFields": None}
    key = json.dumps({"id": json.dumps(_id)}).encode()
    return RawMessage(f"cdc.app.{coll}", key, json.dumps(value).encode(), [], 0, ord_)


@pytest.fixture
def processor() -> Processor:
    spec = parse()
    return Processor(spec, Decoder(key_fields={s.topic: list(s.key) for s in spec.sources}), KEY, "clean")


def test_effective_severity_from_rule_then_source_then_default():
    spec = parse()
    users, orders = spec.source("users"), spec.source("orders")
    assert [users.severity(r) for r in users.validation] == ["warn", "warn", "error"]
    assert [orders.severity(r) for r in orders.validation] == ["error", "warn"]
    assert orders.on_invalid == "dlq"


def test_defaults_on_invalid_is_inherited_and_a_source_overrides_it():
    spec = parse(
        """
        version: 1
        defaults: {key: [_id], on_invalid: emit}
        sources:
          - {entity: a, topic: t.a, validate: [{field: x, type: string}]}
          - {entity: b, topic: t.b, on_invalid: dlq, validate: [{field: x, type: string}]}
        """
    )
    assert spec.source("a").on_invalid == "emit" and spec.source("b").on_invalid == "dlq"
    assert spec.source("a").severity(spec.source("a").validation[0]) == "warn"


@pytest.mark.parametrize(
    ("snippet", "where", "problem"),
    [
        ("on_invalid: drop", "sources[0].on_invalid", "unknown on_invalid 'drop'; expected one of dlq, emit"),
        (
            "validate: [{field: x, type: string, severity: fatal}]",
            "sources[0].validate[0].severity",
            "unknown severity 'fatal'; expected one of error, warn",
        ),
        ("validate: [{field: x, type: string, name: ' '}]", "sources[0].validate[0].name", "must not be empty"),
    ],
)
def test_config_errors_name_file_path_and_problem(snippet, where, problem):
    text = f"version: 1\nsources:\n  - entity: a\n    topic: t.a\n    key: [_id]\n    {snippet}\n"
    with pytest.raises(ConfigError) as info:
        parse(text)
    message = str(info.value)
    assert "unit.yaml" in message and where in message and problem in message, message


def test_warn_rules_return_their_names_and_an_error_rule_still_raises():
    c = compile_source(parse().source("users"), KEY)
    assert c.validate({"email": "a@b.c", "age": 3, "tenant": "t"}, partial=False) == ()
    assert c.validate({"email": "nope", "age": -1, "tenant": "t"}, partial=False) == ("email", "age-not-negative")
    with pytest.raises(RuleFailed) as info:
        c.validate({"email": "nope", "age": -1}, partial=False)
    assert info.value.rule == "tenant" and str(info.value) == "tenant: required field missing"


def test_named_error_rule_names_itself_in_the_reason():
    spec = parse(
        """
        version: 1
        sources:
          - entity: a
            topic: t.a
            key: [_id]
            validate: [{field: x, type: string, name: x-is-text}]
        """
    )
    with pytest.raises(RuleFailed) as info:
        compile_source(spec.source("a"), KEY).validate({"x": 1}, partial=False)
    assert info.value.rule == "x-is-text" and str(info.value) == "x: expected type string (rule x-is-text)"


def test_partial_updates_warn_too():
    c = compile_source(parse().source("users"), KEY)
    assert c.validate_update(Update(set={"age": -4})) == ("age-not-negative",)
    assert c.validate_update(Update(unset=["email"])) == ("email",)
    with pytest.raises(RuleFailed):
        c.validate_update(Update(unset=["tenant"]))


def test_a_warned_event_is_emitted_with_header_and_value_field(processor):
    state = DictState()
    out = processor.process(mongo("users", 1, {"_id": "u1", "email": "Not An Email", "age": -2, "tenant": "t"}), state)
    assert type(out) is Emit
    assert out.warnings == ("email", "age-not-negative")
    headers = dict(out.headers)
    assert headers[WARNINGS_HEADER] == b"email,age-not-negative"
    value = json.loads(out.value)
    assert value[WARNINGS_HEADER] == ["email", "age-not-negative"]
    assert b"Not An Email" not in headers[WARNINGS_HEADER]  # names only, never the value


def test_a_clean_event_has_no_warnings_field(processor):
    out = processor.process(mongo("users", 1, {"_id": "u1", "email": "a@b.c", "tenant": "t"}), DictState())
    assert type(out) is Emit and out.warnings == ()
    assert WARNINGS_HEADER not in dict(out.headers) and WARNINGS_HEADER not in json.loads(out.value)


def test_error_rule_and_missing_key_still_go_to_the_dlq(processor):
    out = processor.process(mongo("users", 1, {"_id": "u1", "email": "nope"}), DictState())
    assert type(out) is DeadLetter and out.error_class == "invalid" and out.reason == "tenant: required field missing"
    no_key = mongo("users", 2, {"email": "a@b.c", "tenant": "t"})
    no_key.key = None
    out = processor.process(no_key, DictState())
    assert type(out) is DeadLetter and out.error_class == "invalid" and "_id" in out.reason


def test_a_warned_partial_update_is_merged_and_emitted(processor):
    state = DictState()
    processor.process(mongo("orders", 1, {"_id": "o1", "status": "paid"}, _id="o1"), state)
    out = processor.process(mongo("orders", 2, set_={"note": 5}, _id="o1"), state)
    assert type(out) is Emit and out.warnings == ("note",)
    assert json.loads(out.value)["after"] == {"_id": "o1", "status": "paid", "note": 5}
    bad = processor.process(mongo("orders", 3, set_={"status": "lost"}, _id="o1"), state)
    assert type(bad) is DeadLetter and bad.reason == "status: not one of the allowed values"


def test_dry_run_shows_the_warnings(processor):
    from streamproc.cli.dryrun import outcome_json

    out = processor.process(mongo("users", 1, {"_id": "u1", "email": "nope", "age": -2, "tenant": "t"}), DictState())
    line = outcome_json(out)
    assert line["kind"] == "event" and line["validation_warnings"] == ["email", "age-not-negative"]
    assert line["headers"][WARNINGS_HEADER] == "email,age-not-negative"
    clean = outcome_json(
        processor.process(mongo("users", 2, {"_id": "u2", "email": "a@b.c", "tenant": "t"}), DictState())
    )
    assert "validation_warnings" not in clean
