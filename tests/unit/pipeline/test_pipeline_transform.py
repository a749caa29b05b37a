"""Transform steps on documents and on partial updates."""

from __future__ import annotations

import copy

import pytest

from streamproc.config.pipelines import SourceSpec
from streamproc.model import Update
from streamproc.pipeline.compiled import compile_source
from streamproc.pipeline.transform import to_decimal, to_iso_date


def compiled(*steps):
    spec = SourceSpec.model_validate({"entity": "e", "topic": "t", "transform": list(steps)})
    return compile_source(spec, b"")


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        (1700000000, "2023-11-14T22:13:20.000Z"),  # seconds
        (1700000000123, "2023-11-14T22:13:20.123Z"),  # milliseconds
        (1700000000123456, "2023-11-14T22:13:20.123456Z"),  # microseconds (Debezium MicroTimestamp)
        (1700000000123456789, "2023-11-14T22:13:20.123456Z"),  # nanoseconds
        (1700000000.5, "2023-11-14T22:13:20.500Z"),
        ("1700000000123", "2023-11-14T22:13:20.123Z"),
        ("2023-11-14T22:13:20Z", "2023-11-14T22:13:20.000Z"),
        ("2023-11-14T23:13:20.1+01:00", "2023-11-14T22:13:20.100Z"),
        ("2023-11-14 22:13:20", "2023-11-14T22:13:20.000Z"),  # naive = UTC
        ("2023-11-14", "2023-11-14T00:00:00.000Z"),
        (0, "1970-01-01T00:00:00.000Z"),
        (-100000000000, "1966-10-31T14:13:20.000Z"),  # negative milliseconds
    ],
)
def test_iso_date_conversions(value, expected):
    assert to_iso_date(value) == expected


@pytest.mark.parametrize("value", ["not a date", True, None, {"$date": 1}, float("inf"), 10**30])
def test_iso_date_leaves_unconvertible_values(value):
    assert to_iso_date(value) == value


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        (12, "12"),
        (12.5, "12.5"),
        (0.1, "0.1"),
        ("12.50", "12.5"),
        (" 100.00 ", "100"),
        ("1e3", "1000"),
        ("-0.0", "0"),
        (1e-7, "0.0000001"),
        (10**25, "10000000000000000000000000"),
        ("12345678901234567890.123456789012345", "12345678901234567890.123456789012345"),
    ],
)
def test_decimal_canonical_strings(value, expected):
    assert to_decimal(value) == expected


@pytest.mark.parametrize("value", ["abc", "NaN", "1e999999", True, None, {"a": 1}])
def test_decimal_leaves_unconvertible_values(value):
    assert to_decimal(value) == value


def test_document_transforms_in_order_without_mutating_input():
    c = compiled(
        {"rename": {"from": "firstName", "to": "first_name"}},
        {"drop": ["internalNotes", "address.secretCode"]},
        {"iso_date": "createdAt"},
        {"decimal": ["amount", "items.price"]},
        {"upper": "currency"},
        {"lower": ["email", "tags"]},
    )
    doc = {
        "_id": 1,
        "firstName": "Jane",
        "internalNotes": "n",
        "address": {"city": "X", "secretCode": 7},
        "createdAt": 1700000000000,
        "amount": 9.90,
        "items": [{"price": "1.50"}, {"price": 2}],
        "currency": "usd",
        "email": "Jane@Example.COM",
        "tags": ["A", ["B"]],
        "untouched": {"deep": [1]},
    }
    original = copy.deepcopy(doc)
    out = c.transform_doc(doc)
    assert doc == original
    assert out == {
        "_id": 1,
        "first_name": "Jane",
        "address": {"city": "X"},
        "createdAt": "2023-11-14T22:13:20.000Z",
        "amount": "9.9",
        "items": [{"price": "1.5"}, {"price": "2"}],
        "currency": "USD",
        "email": "jane@example.com",
        "tags": ["a", ["b"]],
        "untouched": {"deep": [1]},
    }
    assert list(out)[1] == "first_name"  # renamed in place
    assert out["untouched"] is doc["untouched"]


def test_transform_doc_returns_a_new_object_even_without_changes():
    c = compiled({"drop": "absent"})
    doc = {"a": 1}
    out = c.transform_doc(doc)
    assert out == doc and out is not doc


def test_rename_inside_nested_objects_and_arrays():
    c = compiled({"rename": {"from": "phones.num", "to": "phones.number"}})
    out = c.transform_doc({"phones": [{"num": "1"}, {"number": "2"}, {"num": "3", "number": "old"}]})
    assert out == {"phones": [{"number": "1"}, {"number": "2"}, {"number": "3"}]}


def test_update_paths_get_the_same_transforms():
    c = compiled(
        {"rename": {"from": "contact.mail", "to": "contact.email"}},
        {"drop": "internalNotes"},
        {"iso_date": "items.at"},
        {"decimal": "amount"},
        {"lower": "contact.email"},
    )
    update = Update(
        set={
            "contact.mail": "A@B.COM",
            "contact": {"mail": "C@D.COM", "x": 1},
            "internalNotes": "n",
            "internalNotes.sub": "n",
            "items.0.at": 0,
            "items": [{"at": "2024-01-01"}],
            "amount": "3.10",
            "other": "Keep",
        },
        unset=("contact.mail", "internalNotes", "internalNotes.x", "other"),
    )
    original = copy.deepcopy(update)
    out = c.transform_update(update)
    assert update == original
    assert out.set == {
        "contact.email": "a@b.com",
        "contact": {"email": "c@d.com", "x": 1},
        "items.0.at": "1970-01-01T00:00:00.000Z",
        "items": [{"at": "2024-01-01T00:00:00.000Z"}],
        "amount": "3.1",
        "other": "Keep",
    }
    assert out.unset == ("contact.email", "other")


def test_rename_of_a_parent_renames_deeper_update_keys():
    c = compiled({"rename": {"from": "addr", "to": "address"}})
    out = c.transform_update(Update(set={"addr.city": "x", "addr": {"city": "y"}}, unset=("addr.zip",)))
    assert out.set == {"address.city": "x", "address": {"city": "y"}}
    assert out.unset == ("address.zip",)


def test_value_transform_ignores_keys_inside_its_target():
    c = compiled({"upper": "name"})
    out = c.transform_update(Update(set={"name.first": "jane", "name": "joe"}))
    assert out.set == {"name.first": "jane", "name": "JOE"}
