"""The public API of streamproc.sources that other parts of streamproc code against."""

from __future__ import annotations

import inspect

import streamproc.sources as sources
from streamproc.model import FORMATS
from streamproc.sources import Decoder
from streamproc.sources.jsontext import MAX_DEPTH
from streamproc.sources.registry import DECODERS


def test_public_names() -> None:
    assert sorted(sources.__all__) == sorted(["Decoder", "FORMATS", "check_format", "parse_json", "to_plain"])
    for name in sources.__all__:
        assert hasattr(sources, name)


def test_every_format_has_a_decoder() -> None:
    assert set(DECODERS) == set(FORMATS)


def test_decoder_signatures() -> None:
    init = inspect.signature(Decoder.__init__)
    assert list(init.parameters) == ["self", "formats", "schema_registry", "key_fields", "max_depth"]
    assert all(p.default is None for name, p in init.parameters.items() if name not in ("self", "max_depth"))
    assert init.parameters["max_depth"].kind is inspect.Parameter.KEYWORD_ONLY
    assert init.parameters["max_depth"].default == MAX_DEPTH

    decode = inspect.signature(Decoder.decode)
    assert list(decode.parameters) == ["self", "topic", "key", "value", "headers", "fmt", "offset"]
    assert decode.parameters["headers"].default is None
    assert decode.parameters["fmt"].kind is inspect.Parameter.KEYWORD_ONLY
    assert decode.parameters["offset"].kind is inspect.Parameter.KEYWORD_ONLY

    decode_json = inspect.signature(Decoder.decode_json)
    assert list(decode_json.parameters) == ["self", "topic", "key", "value", "fmt", "offset"]
    assert decode_json.parameters["fmt"].kind is inspect.Parameter.KEYWORD_ONLY


def test_module_docstring_lists_every_format() -> None:
    for name in FORMATS:
        assert f"``{name}``" in sources.__doc__
