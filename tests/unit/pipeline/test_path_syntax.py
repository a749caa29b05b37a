"""The path syntax of the pipelines file, as rules are written."""

from __future__ import annotations

import pytest

from streamproc.pipeline.path_syntax import WILDCARD, parse_path


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
