"""Applying a MongoDB-style partial update (dotted-path set/unset) to the last known document."""

from __future__ import annotations

import copy

import pytest

from streamproc.model import Update
from streamproc.pipeline.merge import apply_update, expand_paths

DOC = {
    "_id": "u1",
    "name": "Jane",
    "address": {"city": "Oslo", "zip": "0150", "geo": {"lat": 59.9, "lon": 10.7}},
    "tags": ["a", "b", "c"],
    "phones": [{"type": "home", "number": "111"}, {"type": "work", "number": "222"}],
    "counts": {"0": "zero-key"},
}


def test_set_top_level_and_new_field():
    out = apply_update(DOC, Update({"name": "Janet", "age": 41}))
    assert out["name"] == "Janet" and out["age"] == 41
    assert out["address"] == DOC["address"]


def test_set_dotted_path_keeps_siblings():
    out = apply_update(DOC, Update({"address.city": "Bergen", "address.geo.lat": 60.4}))
    assert out["address"] == {"city": "Bergen", "zip": "0150", "geo": {"lat": 60.4, "lon": 10.7}}


def test_set_dotted_path_creates_missing_parents():
    out = apply_update(DOC, Update({"profile.bio.short": "hi"}))
    assert out["profile"] == {"bio": {"short": "hi"}}


def test_set_array_index_and_field_inside_array_element():
    out = apply_update(DOC, Update({"tags.1": "B", "phones.1.number": "333"}))
    assert out["tags"] == ["a", "B", "c"]
    assert out["phones"] == [{"type": "home", "number": "111"}, {"type": "work", "number": "333"}]


def test_set_index_past_the_end_pads_with_null():
    out = apply_update(DOC, Update({"tags.5": "f"}))
    assert out["tags"] == ["a", "b", "c", None, None, "f"]


def test_numeric_segment_on_an_object_is_a_key():
    out = apply_update(DOC, Update({"counts.0": "changed", "counts.7": "new"}))
    assert out["counts"] == {"0": "changed", "7": "new"}


def test_numeric_segment_on_a_missing_field_creates_an_object_like_mongodb():
    assert apply_update({"_id": 1}, Update({"slots.0": "x"})) == {"_id": 1, "slots": {"0": "x"}}


def test_set_whole_subdocument_and_array_replaces_them():
    out = apply_update(DOC, Update({"address": {"city": "Rome"}, "tags": []}))
    assert out["address"] == {"city": "Rome"} and out["tags"] == []


def test_unset_top_level_and_dotted_paths():
    out = apply_update(DOC, Update({}, ("name", "address.geo.lon", "phones.0.type")))
    assert "name" not in out
    assert out["address"]["geo"] == {"lat": 59.9}
    assert out["phones"][0] == {"number": "111"}


def test_unset_array_element_leaves_null_like_mongodb():
    out = apply_update(DOC, Update({}, ("tags.1",)))
    assert out["tags"] == ["a", None, "c"]


@pytest.mark.parametrize("path", ["missing", "address.missing", "missing.deep.path", "tags.9", "name.first", "tags.x"])
def test_unset_of_an_absent_path_is_a_no_op(path):
    assert apply_update(DOC, Update({}, (path,))) == DOC


def test_set_and_unset_together():
    out = apply_update(DOC, Update({"address.city": "Bergen"}, ("address.zip",)))
    assert out["address"] == {"city": "Bergen", "geo": {"lat": 59.9, "lon": 10.7}}


def test_input_document_and_update_are_not_mutated():
    doc = copy.deepcopy(DOC)
    new_value = {"nested": ["x"]}
    update = Update(
        {"address.city": "Bergen", "tags.0": "A", "extra": new_value, "phones.0.number": "9"},
        ("name", "address.geo.lat", "tags.2"),
    )
    out = apply_update(doc, update)
    assert doc == DOC
    assert update.set["extra"] == {"nested": ["x"]}
    # the result shares no mutable part with the input or the update
    out["extra"]["nested"].append("y")
    out["address"]["zip"] = "9999"
    out["phones"][1]["number"] = "0"
    assert new_value == {"nested": ["x"]}
    assert doc == DOC


def test_expand_paths():
    assert expand_paths({"a.b": 1, "a.c.d": 2, "e": 3}) == {"a": {"b": 1, "c": {"d": 2}}, "e": 3}
