"""Redaction modes everywhere a path can match; no original value may survive."""

from __future__ import annotations

import base64
import copy
import hashlib
import hmac
import json

import pytest

from streamproc.config.pipelines import SourceSpec
from streamproc.errors import ConfigError
from streamproc.model import Update
from streamproc.pipeline.compiled import compile_source
from streamproc.pipeline.redact import partial_mask

KEY = b"test-redaction-key-0123456789abcdef"


def compiled(*rules, key=KEY):
    spec = SourceSpec.model_validate({"entity": "e", "topic": "t", "redact": list(rules)})
    return compile_source(spec, key)


def kid(key=KEY):
    """The key id every HASH/TOKENIZE output carries: 8 hex of HMAC-SHA256(key, b"streamproc/key-id")."""
    return hmac.new(key, b"streamproc/key-id", hashlib.sha256).hexdigest()[:8]


def expected_hash(value, key=KEY):
    sub = hmac.new(key, b"streamproc/hash", hashlib.sha256).digest()
    data = (
        value.encode() if isinstance(value, str) else json.dumps(value, sort_keys=True, separators=(",", ":")).encode()
    )
    return f"hmac-sha256:{kid(key)}:" + hmac.new(sub, data, hashlib.sha256).hexdigest()


def expected_token(value, key=KEY):
    sub = hmac.new(key, b"streamproc/token", hashlib.sha256).digest()
    digest = hmac.new(sub, value.encode(), hashlib.sha256).digest()
    return f"tok_{kid(key)}_" + base64.b32encode(digest).decode()[:26].lower()


# ------------------------------------------------------------------ modes on one value


@pytest.mark.parametrize(
    ("value", "masked"),
    [
        ("jane.doe@example.com", "j*******@e******.com"),
        ("a.b@mail.example.co.uk", "a**@m***.e******.c*.uk"),
        ("root@localhost", "r***@l********"),
        ("+1 555-0100", "*********00"),
        ("abcde", "***de"),
        ("abcd", "****"),
        ("", ""),
        (123456, "****56"),
        (True, "****"),
        (None, None),
        ("call me at x@y.com now", "********************ow"),
    ],
)
def test_partial_mask(value, masked):
    assert partial_mask(value) == masked


def test_each_mode_on_a_top_level_field():
    c = compiled(
        {"path": "ssn", "mode": "REMOVE"},
        {"path": "dob", "mode": "HASH"},
        {"path": "email", "mode": "PARTIAL_MASK"},
        {"path": "notes", "mode": "FULL_MASK"},
        {"path": "ref", "mode": "TOKENIZE"},
    )
    doc = {
        "id": 1,
        "ssn": "123-45-6789",
        "dob": "1990-01-01",
        "email": "jane.doe@example.com",
        "notes": "a long secret note",
        "ref": "C-1",
    }
    original = copy.deepcopy(doc)
    out = c.redact_doc(doc)
    assert doc == original
    assert out == {
        "id": 1,
        "dob": expected_hash("1990-01-01"),
        "email": "j*******@e******.com",
        "notes": "****",
        "ref": expected_token("C-1"),
    }
    assert len(out["ref"]) == 39 and out["ref"][13:].isalnum() and out["ref"] == out["ref"].lower()


def test_null_stays_null_and_absent_paths_are_a_no_op():
    c = compiled(
        *(
            {"path": p, "mode": m}
            for p, m in [("a", "HASH"), ("b", "PARTIAL_MASK"), ("c", "FULL_MASK"), ("d", "TOKENIZE")]
        )
    )
    assert c.redact_doc({"a": None, "b": None, "c": None, "d": None}) == {"a": None, "b": None, "c": None, "d": None}
    assert c.redact_doc({"x": {"a": "kept"}}) == {"x": {"a": "kept"}}


def test_hash_of_non_strings_uses_canonical_json():
    c = compiled({"path": "v", "mode": "HASH"})
    assert c.redact_doc({"v": {"b": 1, "a": [1, "x"]}})["v"] == expected_hash({"a": [1, "x"], "b": 1})
    assert c.redact_doc({"v": {"a": [1, "x"], "b": 1}})["v"] == c.redact_doc({"v": {"b": 1, "a": [1, "x"]}})["v"]


def test_hash_and_token_are_deterministic_and_keyed():
    rules = ({"path": "h", "mode": "HASH"}, {"path": "t", "mode": "TOKENIZE"})
    doc = {"h": "same", "t": "same"}
    a = compiled(*rules).redact_doc(doc)
    b = compiled(*rules).redact_doc(doc)  # another worker, or after a restart
    other = compiled(*rules, key=b"another-key-0123456789abcdefghij").redact_doc(doc)
    assert a == b
    assert a["h"] != other["h"] and a["t"] != other["t"]
    assert compiled(*rules).redact_doc({"h": "different", "t": "different"}) != a
    assert a["h"][len("hmac-sha256:") + 9 :] not in a["t"]  # hash and token use separate sub-keys


def test_keyed_modes_refuse_an_empty_key():
    spec = SourceSpec.model_validate({"entity": "e", "topic": "t", "redact": [{"path": "a", "mode": "TOKENIZE"}]})
    with pytest.raises(ConfigError, match="redaction key is empty"):
        compile_source(spec, b"")
    plain = SourceSpec.model_validate({"entity": "e", "topic": "t", "redact": [{"path": "a", "mode": "FULL_MASK"}]})
    assert compile_source(plain, b"").redact_doc({"a": "x"}) == {"a": "****"}


# ------------------------------------------------------------------ where paths match


@pytest.mark.parametrize(
    ("mode", "redacted"),
    [
        ("FULL_MASK", lambda v: "****"),
        ("PARTIAL_MASK", partial_mask),
        ("HASH", expected_hash),
        ("TOKENIZE", expected_token),
    ],
)
def test_value_modes_on_nested_objects_arrays_of_objects_and_scalars(mode, redacted):
    c = compiled(
        {"path": "contact.email", "mode": mode},
        {"path": "phones.number", "mode": mode},
        {"path": "emails", "mode": mode},
    )
    doc = {
        "contact": {"email": "jane.doe@example.com", "name": "Jane"},
        "phones": [{"number": "+1 555-0100", "type": "home"}, {"type": "none"}, {"number": "+1 555-0199"}],
        "emails": ["a.person@example.org", "b.person@example.org"],
    }
    out = c.redact_doc(doc)
    assert out == {
        "contact": {"email": redacted("jane.doe@example.com"), "name": "Jane"},
        "phones": [
            {"number": redacted("+1 555-0100"), "type": "home"},
            {"type": "none"},
            {"number": redacted("+1 555-0199")},
        ],
        "emails": [redacted("a.person@example.org"), redacted("b.person@example.org")],
    }


def test_remove_on_nested_objects_arrays_and_whole_lists():
    c = compiled(
        {"path": "contact.email", "mode": "REMOVE"},
        {"path": "phones[].number", "mode": "REMOVE"},
        {"path": "emails", "mode": "REMOVE"},
    )
    out = c.redact_doc({"contact": {"email": "x", "n": 1}, "phones": [{"number": "1", "t": "h"}], "emails": ["a", "b"]})
    assert out == {"contact": {"n": 1}, "phones": [{"t": "h"}]}


def test_wildcard_segment():
    c = compiled({"path": "contacts.*.email", "mode": "FULL_MASK"})
    out = c.redact_doc({"contacts": {"home": {"email": "a"}, "work": {"email": "b", "x": 1}}})
    assert out == {"contacts": {"home": {"email": "****"}, "work": {"email": "****", "x": 1}}}


def test_update_dotted_keys_and_nested_set_values():
    c = compiled(
        {"path": "contact.email", "mode": "PARTIAL_MASK"},
        {"path": "ssn", "mode": "REMOVE"},
        {"path": "phones.number", "mode": "FULL_MASK"},
        {"path": "profile", "mode": "HASH"},
    )
    update = Update(
        set={
            "contact.email": "jane.doe@example.com",
            "contact": {"email": "john.roe@example.net", "name": "J"},
            "ssn": "123-45-6789",
            "ssn.last4": "6789",
            "phones.0.number": "+1 555-0100",
            "phones": [{"number": "+1 555-0199", "type": "cell"}],
            "phones.1": {"number": "+1 555-0142"},
            "profile.bio": "private",
            "name": "kept",
        },
        unset=("ssn", "contact.fax"),
    )
    original = copy.deepcopy(update)
    out = c.redact_update(update)
    assert update == original
    assert out.set == {
        "contact.email": "j*******@e******.com",
        "contact": {"email": "j*******@e******.net", "name": "J"},
        "phones.0.number": "****",
        "phones": [{"number": "****", "type": "cell"}],
        "phones.1": {"number": "****"},
        "profile.bio": expected_hash("private"),
        "name": "kept",
    }
    assert out.unset == ("ssn", "contact.fax")  # removing a field reveals no value


def test_redact_key_applies_every_rule_that_reaches_a_key_field():
    c = compiled(
        {"path": "email", "mode": "TOKENIZE"},
        {"path": "contact.email", "mode": "HASH"},
    )
    key = {"email": "jane@example.com", "id": 5}
    assert c.redact_key(key) == {"email": expected_token("jane@example.com"), "id": 5}
    assert key == {"email": "jane@example.com", "id": 5}
    # a composite key is a spelling of the document too: its nested PII is redacted as well
    assert c.redact_key({"contact": {"email": "x"}}) == {"contact": {"email": expected_hash("x")}}
