"""Redaction: the last step before an event leaves the ingest stage.

Modes (``null`` stays ``null`` in every mode; lists are redacted element by element):

* ``REMOVE`` — the field is deleted (also from ``update.set``; ``update.unset`` names stay).
* ``HASH`` — ``hmac-sha256:<key id>:<64 hex>``, HMAC-SHA256 under the hash sub-key.
* ``PARTIAL_MASK`` — e-mail aware mask (``j*******@e******.com``); other strings keep their
  last two characters when longer than four (``*********00``); non-strings are masked as
  their canonical JSON text.
* ``FULL_MASK`` — the constant ``"****"`` (the length is not revealed).
* ``TOKENIZE`` — ``tok_<key id>_`` + 26 lowercase base32 characters of HMAC-SHA256 under the
  token sub-key: a stable pseudonym, identical on every worker given the same key.

Where a rule applies — every spelling of its path: nested objects, arrays, scalars where the path
expects an object, literal dotted field names, update keys — is decided by
:mod:`~streamproc.pipeline.redact_paths`.

Keys: ``hash_key = HMAC-SHA256(redaction_key, b"streamproc/hash")`` and
``token_key = HMAC-SHA256(redaction_key, b"streamproc/token")``. The *key id* (:func:`key_id`) is
the first 8 hex characters of ``HMAC-SHA256(redaction_key, b"streamproc/key-id")``: it names the
key without revealing it, so a rotation shows in every HASH/TOKENIZE output and in the
``key_id`` of every clean event. The HMAC input is the
value's canonical encoding: a string's UTF-8 bytes; any other value's JSON with sorted keys,
``(",", ":")`` separators and non-ASCII kept (:func:`canonical_bytes`).
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import re
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from streamproc.model import Update
from streamproc.pipeline.doc_edits import elementwise
from streamproc.pipeline.path_syntax import REMOVE, WILDCARD, Segments, parse_path
from streamproc.pipeline.redact_paths import PathWalker, redact_update_set
from streamproc.pipeline.vocabulary import RedactMode

if TYPE_CHECKING:
    from streamproc.config.steps import RedactRule

__all__ = [
    "FULL_MASK",
    "canonical_bytes",
    "derive_keys",
    "key_id",
    "partial_mask",
    "Redactor",
]

FULL_MASK = "****"


def canonical_bytes(value: Any) -> bytes:
    if isinstance(value, str):
        return value.encode("utf-8")
    return json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False, default=str).encode("utf-8")


def derive_keys(redaction_key: bytes) -> tuple[bytes, bytes]:
    """``(hash_key, token_key)`` derived from the configured redaction key."""
    hash_key = hmac.new(redaction_key, b"streamproc/hash", hashlib.sha256).digest()
    token_key = hmac.new(redaction_key, b"streamproc/token", hashlib.sha256).digest()
    return hash_key, token_key


def key_id(redaction_key: bytes) -> str:
    """The key id: 8 hex characters of ``HMAC-SHA256(redaction_key, b"streamproc/key-id")``."""
    return hmac.new(redaction_key, b"streamproc/key-id", hashlib.sha256).hexdigest()[:8]


def _mask_keep_first(label: str) -> str:
    return label[:1] + "*" * (len(label) - 1)


_LABEL = re.compile(r"[^\W_](?:[\w-]*[^\W_])?")
_TLD = re.compile(r"[^\W\d_]{2,24}")


def partial_mask(value: Any) -> Any:
    """The ``PARTIAL_MASK`` of a value (module docstring). Only a string shaped like an e-mail
    address — domain labels of letters, digits and hyphens, a top-level domain of 2-24 letters —
    keeps its TLD; anything else, including a non-string's JSON text, keeps at most its last two
    characters, so no longer part of the value can pass as a "TLD"."""
    if value is None:
        return None
    text = value if isinstance(value, str) else canonical_bytes(value).decode("utf-8")
    local, at, domain = text.rpartition("@")
    if isinstance(value, str) and at and local and domain and len(text.split()) == 1 and text.strip() == text:
        labels = domain.split(".")
        if all(_LABEL.fullmatch(x) for x in labels) and (len(labels) == 1 or _TLD.fullmatch(labels[-1])):
            if len(labels) > 1:
                masked = [_mask_keep_first(x) for x in labels[:-1]] + [labels[-1]]
            else:
                masked = [_mask_keep_first(labels[0])]
            return _mask_keep_first(local) + "@" + ".".join(masked)
    if len(text) > 4:
        return "*" * (len(text) - 2) + text[-2:]
    return "*" * len(text)


def _full_mask(value: Any) -> Any:
    return None if value is None else FULL_MASK


def _remove(_: Any) -> Any:
    return REMOVE


class _Rule:
    __slots__ = ("segments", "fn")

    def __init__(self, segments: Segments, fn: Callable[[Any], Any]) -> None:
        self.segments = segments
        self.fn = fn


class Redactor:
    """The compiled redaction rules of one source."""

    __slots__ = ("rules", "key_id", "_hash", "_token", "_hash_prefix", "_token_prefix")

    def __init__(self, rules: list[RedactRule], redaction_key: bytes) -> None:
        hash_key, token_key = derive_keys(redaction_key)
        self.key_id = key_id(redaction_key)
        self._hash_prefix = f"hmac-sha256:{self.key_id}:"
        self._token_prefix = f"tok_{self.key_id}_"
        self._hash = hmac.new(hash_key, digestmod=hashlib.sha256)
        self._token = hmac.new(token_key, digestmod=hashlib.sha256)
        functions: dict[RedactMode, Callable[[Any], Any]] = {
            RedactMode.REMOVE: _remove,
            RedactMode.HASH: elementwise(self.hash_value),
            RedactMode.PARTIAL_MASK: elementwise(partial_mask),
            RedactMode.FULL_MASK: elementwise(_full_mask),
            RedactMode.TOKENIZE: elementwise(self.token_value),
        }
        self.rules = tuple(_Rule(parse_path(r.path).segments, functions[r.mode]) for r in rules)

    def hash_value(self, value: Any) -> Any:
        if value is None:
            return None
        h = self._hash.copy()
        h.update(canonical_bytes(value))
        return self._hash_prefix + h.hexdigest()

    def token_value(self, value: Any) -> Any:
        if value is None:
            return None
        h = self._token.copy()
        h.update(canonical_bytes(value))
        return self._token_prefix + base64.b32encode(h.digest()).decode("ascii")[:26].lower()

    def redact_doc(self, doc: dict[str, Any]) -> dict[str, Any]:
        return self._redact_object(doc)

    def redact_update(self, update: Update) -> Update:
        set_ = dict(update.set)
        walker = PathWalker({id(set_)})
        cache: dict[str, list[str]] = {}
        for rule in self.rules:
            set_ = redact_update_set(set_, rule.segments, rule.fn, walker=walker, cache=cache)
        return Update(set=set_, unset=tuple(update.unset))

    def redact_key(self, key: dict[str, Any]) -> dict[str, Any]:
        """Apply the rules to an event key as to a document (the loader refuses a rule that
        could reach a key field with a non-injective mode)."""
        if any("." in k for k in key):
            return self._redact_object(key)
        out = dict(key)
        walker = PathWalker({id(out)})
        for rule in self.rules:
            first = rule.segments[0]
            if first is WILDCARD or first in out:  # other rules cannot reach a key without dotted names
                new = walker.apply(out, rule.segments, rule.fn)
                out = new if isinstance(new, dict) else {}
        return out

    def _redact_object(self, doc: dict[str, Any]) -> dict[str, Any]:
        out = dict(doc)
        walker = PathWalker({id(out)})
        for rule in self.rules:
            new = walker.apply(out, rule.segments, rule.fn)
            out = new if isinstance(new, dict) else {}  # a document is an object: never REMOVE
        return out
