"""Redaction applies to every spelling of a configured path (issue 10 §0): scalars where the rule
expects objects, literal dotted field names in full documents, update keys; ``required`` is not
satisfied by a scalar where an object path is expected; every HASH/TOKENIZE output and clean
event carries the key id."""

from __future__ import annotations

import hashlib
import hmac
import json
from pathlib import Path
from typing import Any

import pytest

from streamproc.cli.dryrun import DictState
from streamproc.config.loader import load_pipelines
from streamproc.config.pipelines import SourceSpec
from streamproc.errors import ValidationFailed
from streamproc.model import Update
from streamproc.pipeline.compiled import compile_source
from streamproc.pipeline.processor import KEY_ID_HEADER, Emit, Processor, RawMessage
from streamproc.pipeline.redact import key_id
from streamproc.sources import Decoder

SHIPPED = Path(__file__).resolve().parents[3] / "config" / "pipelines.yaml"
KEY = b"spellings-test-redaction-key-0123456789"
PHONE, MAIL, DOTTED, SSN = "+1 555-0100", "canary.contact@example.org", "canary.dotted@example.org", "987-65-4321"


def compiled(*rules: tuple[str, str], validate: list[dict] | None = None, key: bytes = KEY):
    spec = SourceSpec.model_validate(
        {
            "entity": "e",
            "topic": "t",
            "redact": [{"path": p, "mode": m} for p, m in rules],
            "validate": validate or [],
        }
    )
    return compile_source(spec, key)


def leaks(obj: Any, *values: str) -> list[str]:
    blob = json.dumps(obj, ensure_ascii=False)
    return [v for v in values if v in blob]


# ------------------------------------------------------------------ scalars where objects are expected


@pytest.mark.parametrize("mode", ["PARTIAL_MASK", "FULL_MASK", "HASH", "TOKENIZE", "REMOVE"])
def test_scalar_array_elements_are_redacted_in_the_rules_mode(mode: str) -> None:
    c = compiled(("phones.number", mode), ("contacts.email", mode))
    doc = {"phones": [PHONE, {"number": PHONE}, None], "contacts": [MAIL]}
    out = c.redact_doc(doc)
    assert leaks(out, PHONE, MAIL) == []
    if mode == "REMOVE":  # the element becomes null: the other indexes stay
        assert out == {"phones": [None, {}, None], "contacts": [None]}
    else:
        assert len(out["phones"]) == 3 and out["phones"][2] is None
        # the same output as the element an object would have held
        assert out["phones"][0] == c.redact_doc({"phones": [{"number": PHONE}]})["phones"][0]["number"]


def test_a_scalar_in_place_of_the_object_is_redacted_whole() -> None:
    c = compiled(("contacts.email", "PARTIAL_MASK"), ("ssn.full", "REMOVE"))
    out = c.redact_doc({"contacts": MAIL, "ssn": SSN, "keep": 1, "other": None})
    assert out == {"contacts": "c*************@e******.org", "keep": 1, "other": None}
    assert c.redact_doc({"contacts": None}) == {"contacts": None}  # null stays null


def test_nested_lists_of_scalars() -> None:
    c = compiled(("phones.number", "FULL_MASK"))
    assert c.redact_doc({"phones": [[PHONE, [PHONE]], {"number": [PHONE]}]}) == {
        "phones": [["****", ["****"]], {"number": ["****"]}]
    }


# ------------------------------------------------------------------ literal dotted names


def test_literal_dotted_names_in_full_documents_are_redacted_like_update_keys() -> None:
    c = compiled(("contacts.email", "PARTIAL_MASK"), ("ssn", "REMOVE"), ("phones.number", "HASH"))
    doc = {
        "contacts.email": DOTTED,
        "contacts.0.email": MAIL,
        "contacts.$.email": MAIL,
        "ssn.full": SSN,
        "phones": [{"number.work": PHONE}],
        "unrelated.email": "kept@example.org",
    }
    out = c.redact_doc(doc)
    assert leaks(out, DOTTED, MAIL, SSN, PHONE) == []
    assert "ssn.full" not in out and out["unrelated.email"] == "kept@example.org"
    as_update = c.redact_update(Update({"contacts.email": DOTTED, "ssn.full": SSN}))
    assert out["contacts.email"] == as_update.set["contacts.email"]
    assert "ssn.full" not in as_update.set


def test_dotted_names_below_a_wildcard_and_inside_arrays() -> None:
    c = compiled(("*.email", "FULL_MASK"))
    out = c.redact_doc({"a.email": {"x": MAIL}, "b": [{"email.work": MAIL}], "c": [MAIL], "n": None})
    assert leaks(out, MAIL) == [] and out["n"] is None
    # "c.d" spells two levels: b.c.d.email is not a spelling of *.email (one level)
    assert c.redact_doc({"b": {"c.d": {"email": "x"}}}) == {"b": {"c.d": {"email": "x"}}}


def test_update_set_spellings() -> None:
    c = compiled(("contacts.email", "PARTIAL_MASK"), ("phones.number", "FULL_MASK"))
    up = Update(
        {
            "contacts": [MAIL],
            "contacts.0": MAIL,
            "contacts.1": {"email.work": MAIL},
            "phones.2": PHONE,
            "phones.3": {"number": PHONE},
            "phones.4.number": PHONE,
        }
    )
    assert leaks(c.redact_update(up).set, MAIL, PHONE) == []


# ------------------------------------------------------------------ required and scalar arrays


@pytest.mark.parametrize(
    "doc",
    [
        {"phones": [PHONE]},
        {"phones": [{"number": "1"}, PHONE]},
        {"phones": PHONE},
        {"address": "Oslo", "phones": []},
    ],
)
def test_required_is_not_satisfied_by_a_scalar_where_an_object_is_expected(doc: dict[str, Any]) -> None:
    c = compiled(validate=[{"field": "phones.number", "required": True}, {"field": "address.city", "required": True}])
    with pytest.raises(ValidationFailed, match="required field missing") as info:
        c.validate(doc, partial=False)
    assert PHONE not in str(info.value)


def test_required_still_passes_for_objects_and_absent_or_null_parents() -> None:
    c = compiled(validate=[{"field": "phones.number", "required": True}])
    for ok in ({"phones": [{"number": "1"}]}, {"phones": []}, {}, {"phones": None}, {"phones": [None]}):
        c.validate(ok, partial=False)


@pytest.mark.parametrize("set_", [{"phones": [PHONE]}, {"phones.0": PHONE}, {"phones": [{"type": "home"}]}])
def test_an_update_setting_the_parent_to_a_value_without_the_required_field_is_invalid(set_: dict) -> None:
    c = compiled(validate=[{"field": "phones.number", "required": True}])
    with pytest.raises(ValidationFailed, match="phones.number: required field missing"):
        c.validate_update(Update(set_))
    c.validate_update(Update({"phones": [{"number": "1"}], "phones.1.number": "2"}))


# ------------------------------------------------------------------ the shipped config, end to end


def test_shipped_config_issue_inputs_leak_nothing() -> None:
    """The issue's inputs: scalar arrays pass `required` no more and are masked; literal dotted
    names of a full document are redacted like update keys."""
    spec = load_pipelines(SHIPPED)
    users = spec.source("users")
    assert users is not None
    proc = Processor(spec, Decoder(key_fields={"cdc.Facilitron_common.users": ["_id"]}), KEY, "streamproc")
    state = DictState()

    def send(ord_: int, after: dict[str, Any] | None = None, set_: dict[str, Any] | None = None) -> Any:
        value: dict[str, Any] = {
            "op": "c" if after is not None else "u",
            "before": None,
            "after": json.dumps(after) if after is not None else None,
            "source": {
                "connector": "mongodb",
                "ts_ms": 1_767_225_600_000,
                "db": "Facilitron_common",
                "collection": "users",
                "ord": ord_,
            },
        }
        if set_ is not None:
            value["updateDescription"] = {
                "updatedFields": json.dumps(set_),
                "removedFields": None,
                "truncatedArrays": None,
            }
        key = json.dumps({"id": json.dumps({"$oid": "65a1b2c3d4e5f60718293a4b"})}).encode()
        return proc.process(RawMessage("cdc.Facilitron_common.users", key, json.dumps(value).encode()), state)

    base = {"_id": {"$oid": "65a1b2c3d4e5f60718293a4b"}, "email": "jane@example.com"}
    warned = send(1, after={**base, "phones": [PHONE]})  # the shipped users rules warn (on_invalid: emit)
    assert type(warned) is Emit and warned.warnings == ("phones.number",)
    assert leaks((warned.key + warned.value + b"".join(v for _, v in warned.headers)).decode(), PHONE) == []
    out = send(2, after={**base, "contacts": [MAIL], "contacts.email": DOTTED, "ssn.full": SSN, "phones": []})
    assert type(out) is Emit
    blob = out.key + out.value + b"".join(v for _, v in out.headers)
    assert leaks(blob.decode(), MAIL, DOTTED, SSN, PHONE) == []
    up = send(3, set_={"contacts": [MAIL, {"email": MAIL}], "ssn.full": SSN})
    assert type(up) is Emit and leaks(up.value.decode(), MAIL, SSN) == []
    up = send(4, set_={"contacts.0": MAIL, "contacts.1.email": DOTTED})
    assert type(up) is Emit and leaks(up.value.decode(), MAIL, DOTTED) == []


# ------------------------------------------------------------------ the key id


def test_key_id_is_a_short_hmac_of_the_key_and_shows_a_rotation() -> None:
    assert key_id(KEY) == hmac.new(KEY, b"streamproc/key-id", hashlib.sha256).hexdigest()[:8]
    other = b"rotated-redaction-key-0123456789abcdefgh"
    assert key_id(other) != key_id(KEY) and len(key_id(other)) == 8
    for key in (KEY, other):
        c = compiled(("h", "HASH"), ("t", "TOKENIZE"), key=key)
        out = c.redact_doc({"h": "v", "t": "v"})
        assert out["h"].startswith(f"hmac-sha256:{key_id(key)}:") and len(out["h"]) == 12 + 9 + 64
        assert out["t"].startswith(f"tok_{key_id(key)}_") and len(out["t"]) == 4 + 9 + 26


def test_every_clean_event_carries_the_key_id() -> None:
    spec = load_pipelines(SHIPPED)
    proc = Processor(spec, Decoder(formats={"pg.public.orders": "debezium-sql"}), KEY, "streamproc")
    value = {
        "op": "c",
        "before": None,
        "after": {"id": 1, "customer_email": "c@example.org", "status": "paid"},
        "source": {
            "connector": "postgresql",
            "db": "shop",
            "schema": "public",
            "table": "orders",
            "lsn": 10,
            "ts_ms": 1,
        },
    }
    out = proc.process(RawMessage("pg.public.orders", b'{"id": 1}', json.dumps(value).encode()), DictState())
    assert type(out) is Emit
    body = json.loads(out.value)
    assert body["key_id"] == key_id(KEY) == dict(out.headers)[KEY_ID_HEADER].decode()
    assert body["after"]["customer_email"].startswith(f"tok_{key_id(KEY)}_")


def test_a_scalar_reached_by_several_rules_is_redacted_once_by_the_first() -> None:
    c = compiled(("contacts.email", "PARTIAL_MASK"), ("contacts.phone", "HASH"))
    once = "c*************@e******.org"
    assert c.redact_doc({"contacts": [MAIL]}) == {"contacts": [once]}
    assert c.redact_update(Update({"contacts": [MAIL], "contacts.1": MAIL})).set == {
        "contacts": [once],
        "contacts.1": once,
    }
