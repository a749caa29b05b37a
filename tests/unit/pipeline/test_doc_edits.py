"""Walking and editing full documents along rule paths: what validation, transforms and
redaction see and produce."""

from __future__ import annotations

import copy

from streamproc.pipeline.doc_edits import collect, map_values
from streamproc.pipeline.path_syntax import REMOVE, WILDCARD


def _upper(v):
    return v.upper() if isinstance(v, str) else v


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
