"""Path syntax and the shared walkers behind validation, transforms and redaction."""

from __future__ import annotations

import copy

import pytest

from streamproc.pipeline.paths import (
    DEEPER,
    EXACT,
    PREFIX,
    REMOVE,
    WILDCARD,
    collect,
    map_values,
    match_update_key,
    parse_path,
)


def _upper(v):
    return v.upper() if isinstance(v, str) else v


@pytest.mark.parametrize(
    ("text", "segments", "each"),
    [
        ("email", ("email",), 0),
        ("address.city", ("address", "city"), 0),
        ("phones[].number", ("phones", "number"), 0),
        ("phones[*].number", ("phones", "number"), 0),
        ("tags[]", ("tags",), 1),
        ("*.city", (WILDCARD, "city"), 0),
        ("phones.0.number", ("phones", "0", "number"), 0),
    ],
)
def test_parse_path_accepts_documented_syntax(text, segments, each):
    path = parse_path(text)
    assert path.segments == segments
    assert path.each == each


@pytest.mark.parametrize("text", ["", "a..b", ".a", "a.", "a[0].b", "a[x]", "a]b", "[]"])
def test_parse_path_rejects_malformed_paths(text):
    with pytest.raises(ValueError):
        parse_path(text)


def test_map_values_reaches_nested_objects_and_every_list_element():
    doc = {
        "address": {"city": "paris"},
        "phones": [{"number": "a"}, {"number": "b"}, {"other": 1}],
        "matrix": [[{"number": "c"}]],
    }
    out = map_values(doc, ("address", "city"), _upper)
    out = map_values(out, ("phones", "number"), _upper)
    out = map_values(out, ("matrix", "number"), _upper)
    assert out["address"]["city"] == "PARIS"
    assert out["phones"] == [{"number": "A"}, {"number": "B"}, {"other": 1}]
    assert out["matrix"] == [[{"number": "C"}]]


def test_map_values_never_mutates_and_shares_untouched_subtrees():
    doc = {"a": {"b": "x"}, "untouched": {"deep": [1, 2, 3]}, "phones": [{"n": "p"}]}
    before = copy.deepcopy(doc)
    out = map_values(doc, ("a", "b"), _upper)
    out = map_values(out, ("phones", "n"), lambda v: REMOVE)
    assert doc == before
    assert out == {"a": {"b": "X"}, "untouched": {"deep": [1, 2, 3]}, "phones": [{}]}
    assert out["untouched"] is doc["untouched"]


def test_map_values_absent_path_returns_the_same_object():
    doc = {"a": 1}
    assert map_values(doc, ("b", "c"), _upper) is doc


def test_map_values_wildcard_and_index_segments():
    doc = {"contacts": {"home": {"email": "h"}, "work": {"email": "w"}}, "l": ["x", "y"]}
    out = map_values(doc, ("contacts", WILDCARD, "email"), _upper)
    assert out["contacts"] == {"home": {"email": "H"}, "work": {"email": "W"}}
    assert map_values(doc, ("l", "1"), _upper)["l"] == ["x", "Y"]
    assert map_values(doc, ("l", "1"), lambda v: REMOVE)["l"] == ["x", None]


def test_collect_reports_values_and_missing_relative_to_the_parent():
    doc = {"phones": [{"number": "1"}, {"type": "home"}], "address": None}
    values, missing = collect(doc, ("phones", "number"))
    assert values == ["1"] and missing is True
    assert collect({"phones": []}, ("phones", "number")) == ([], False)
    assert collect({}, ("address", "city")) == ([], False)
    assert collect({}, ("email",)) == ([], True)
    assert collect({"tags": [["a"], "b"]}, ("tags",), each=1) == ([["a"], "b"], False)


@pytest.mark.parametrize(
    ("rule", "key", "kind"),
    [
        ("contact.email", "contact.email", EXACT),
        ("contact.email", "contact", PREFIX),
        ("contact.email", "contact.email.x", DEEPER),
        ("phones.number", "phones.0.number", EXACT),
        ("phones.number", "phones.0", PREFIX),
        ("phones.number", "phones", PREFIX),
        ("tags", "tags.3", DEEPER),
        ("*.email", "work.email", EXACT),
        ("contact.email", "contacts.email", None),
        ("contact.email", "contact.phone", None),
        ("email", "0.email", None),
    ],
)
def test_match_update_key(rule, key, kind):
    m = match_update_key(parse_path(rule).segments, key.split("."))
    assert (m.kind if m else None) == kind
