"""Validation rules on documents, nested paths and partial updates."""

from __future__ import annotations

import pytest

from streamproc.config.pipelines import SourceSpec
from streamproc.errors import ValidationFailed
from streamproc.model import Update
from streamproc.pipeline.compiled import compile_source


def compiled(*rules):
    spec = SourceSpec.model_validate({"entity": "e", "topic": "t", "validate": list(rules)})
    return compile_source(spec, b"k" * 32)


def reason(c, doc, partial=False):
    with pytest.raises(ValidationFailed) as info:
        c.validate(doc, partial=partial)
    return str(info.value)


def test_required_missing_and_null():
    c = compiled({"field": "email", "required": True})
    c.validate({"email": "a@b.c"}, partial=False)
    assert reason(c, {"name": "x"}) == "email: required field missing"
    assert reason(c, {"email": None}) == "email: required field is null"


def test_required_is_skipped_for_partial_documents():
    c = compiled({"field": "email", "required": True, "type": "string"})
    c.validate({"name": "x"}, partial=True)
    assert reason(c, {"email": 5}, partial=True) == "email: expected type string"


@pytest.mark.parametrize(
    ("type_", "good", "bad"),
    [
        ("string", ["", "x"], [1, True, {}, []]),
        ("number", [0, -1.5, 10**30, "12.50", "-3"], ["abc", "", True, {}, "NaN"]),
        ("integer", [0, -3, 4.0, 10**30], [1.5, "1", True]),
        ("boolean", [True, False], [0, 1, "true"]),
        ("object", [{}, {"a": 1}], [[], "x", 1]),
        ("array", [[], [1]], [{}, "x", 1]),
        (
            "date",
            ["2024-01-02", "2024-01-02T03:04:05Z", "2024-01-02T03:04:05.123+02:00", 1700000000000, 1.5],
            ["yesterday", "2024-13-01", True, {}],
        ),
    ],
)
def test_type_rule(type_, good, bad):
    c = compiled({"field": "f", "type": type_})
    for v in good:
        c.validate({"f": v}, partial=False)
    c.validate({"f": None}, partial=False)  # null passes every check except required
    for v in bad:
        assert reason(c, {"f": v}) == f"f: expected type {type_}"


def test_min_and_max():
    c = compiled({"field": "iops", "type": "number", "min": 0, "max": 100})
    for v in (0, 0.0, 50, 100):
        c.validate({"iops": v}, partial=False)
    assert reason(c, {"iops": -1}) == "iops: must be >= 0"
    assert reason(c, {"iops": 100.5}) == "iops: must be <= 100"
    assert reason(c, {"iops": float("nan")}) == "iops: must be >= 0"
    untyped = compiled({"field": "iops", "min": 0})
    assert reason(untyped, {"iops": "twelve"}) == "iops: must be a number"
    # Decimal128 / Connect decimals arrive as decimal strings and are compared exactly
    untyped.validate({"iops": "12.00"}, partial=False)
    assert reason(untyped, {"iops": "-0.01"}) == "iops: must be >= 0"


def test_min_length_and_max_length_on_strings_and_arrays():
    c = compiled({"field": "name", "min_length": 2, "max_length": 3})
    for v in ("ab", "abc", [1, 2], [1, 2, 3]):
        c.validate({"name": v}, partial=False)
    assert reason(c, {"name": "a"}) == "name: length must be >= 2"
    assert reason(c, {"name": [1, 2, 3, 4]}) == "name: length must be <= 3"
    assert reason(c, {"name": 12}) == "name: must be a string or an array"


def test_enum_compares_type_and_value():
    c = compiled({"field": "status", "enum": ["active", "cancelled", 1]})
    for v in ("active", "cancelled", 1, 1.0):
        c.validate({"status": v}, partial=False)
    for v in ("ACTIVE", "other", True, 2, ["active"], {"a": 1}):
        assert reason(c, {"status": v}) == "status: not one of the allowed values"


def test_pattern_searches_strings():
    c = compiled({"field": "currency", "pattern": "^[A-Z]{3}$"})
    c.validate({"currency": "USD"}, partial=False)
    assert reason(c, {"currency": "usd"}) == "currency: does not match the pattern"
    assert reason(c, {"currency": 840}) == "currency: must be a string"


def test_reason_never_contains_the_value():
    canary = "CANARY-VALUE-93jd8"
    rules = [
        {"field": "a", "type": "number"},
        {"field": "b", "enum": ["x"]},
        {"field": "c", "pattern": "^z"},
        {"field": "d", "max_length": 3},
    ]
    for rule in rules:
        c = compiled(rule)
        msg = reason(c, {rule["field"]: canary})
        assert canary not in msg and msg.startswith(rule["field"] + ": ")


def test_nested_paths_and_arrays():
    c = compiled(
        {"field": "address.city", "required": True, "type": "string"},
        {"field": "phones.number", "required": True, "pattern": "^[0-9+ -]+$"},
        {"field": "tags[]", "type": "string"},
    )
    c.validate({"address": {"city": "x"}, "phones": [{"number": "1"}, {"number": "2"}], "tags": ["a"]}, partial=False)
    c.validate({}, partial=False)  # absent parents: nothing to check
    assert reason(c, {"address": {}}) == "address.city: required field missing"
    assert reason(c, {"address": {"city": 5}}) == "address.city: expected type string"
    assert reason(c, {"phones": [{"number": "1"}, {"type": "home"}]}) == "phones.number: required field missing"
    assert reason(c, {"phones": [{"number": "1"}, {"number": "abc"}]}) == "phones.number: does not match the pattern"
    assert reason(c, {"tags": ["a", 3]}) == "tags[]: expected type string"


def test_partial_update_dotted_keys_are_checked():
    c = compiled(
        {"field": "contact.email", "required": True, "type": "string"},
        {"field": "phones.number", "type": "string"},
        {"field": "iops", "min": 0},
    )
    c.validate({"contact.email": "x", "phones.0.number": "1", "unrelated.path": 3}, partial=True)
    assert reason(c, {"contact.email": 5}, partial=True) == "contact.email: expected type string"
    assert reason(c, {"contact": {"email": 5}}, partial=True) == "contact.email: expected type string"
    assert reason(c, {"phones.2.number": 7}, partial=True) == "phones.number: expected type string"
    assert reason(c, {"phones": [{"number": 7}]}, partial=True) == "phones.number: expected type string"
    assert reason(c, {"iops": -2, "a.b": 1}, partial=True) == "iops: must be >= 0"


def test_validate_update_guards_required_fields():
    c = compiled({"field": "email", "required": True}, {"field": "contact.phone", "required": True})
    c.validate_update(Update(set={"name": "x"}, unset=("nickname", "contact.fax")))
    for update in (
        Update(unset=("email",)),
        Update(unset=("contact",)),
    ):
        with pytest.raises(ValidationFailed, match="required field removed"):
            c.validate_update(update)
    with pytest.raises(ValidationFailed, match="^email: required field is null$"):
        c.validate_update(Update(set={"email": None}))
    with pytest.raises(ValidationFailed, match="^contact.phone: required field is null$"):
        c.validate_update(Update(set={"contact": {"phone": None}}))


def test_first_failing_rule_in_configured_order_is_reported():
    c = compiled({"field": "a", "type": "string"}, {"field": "b", "type": "string"})
    assert reason(c, {"a": 1, "b": 2}) == "a: expected type string"
