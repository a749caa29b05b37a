"""Redaction: the last step before an event leaves the ingest stage.

Modes (``null`` stays ``null`` in every mode; lists are redacted element by element):

* ``REMOVE`` — the field is deleted (also from ``update.set``; ``update.unset`` names stay).
* ``HASH`` — ``hmac-sha256:<64 hex>``, HMAC-SHA256 under the hash sub-key.
* ``PARTIAL_MASK`` — e-mail aware mask (``j*******@e******.com``); other strings keep their
  last two characters when longer than four (``*********00``); non-strings are masked as
  their canonical JSON text.
* ``FULL_MASK`` — the constant ``"****"`` (the length is not revealed).
* ``TOKENIZE`` — ``tok_`` + 26 lowercase base32 characters of HMAC-SHA256 under the token
  sub-key: a stable pseudonym, identical on every worker given the same key.

Keys: ``hash_key = HMAC-SHA256(redaction_key, b"streamproc/hash")`` and
``token_key = HMAC-SHA256(redaction_key, b"streamproc/token")``. The HMAC input is the
value's canonical encoding: a string's UTF-8 bytes; any other value's JSON with sorted keys,
``(",", ":")`` separators and non-ASCII kept (:func:`canonical_bytes`).
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from streamproc.model import Update
from streamproc.pipeline.doc_edits import elementwise, map_values
from streamproc.pipeline.path_syntax import REMOVE, WILDCARD, Segments, parse_path
from streamproc.pipeline.update_keys import map_update_set
from streamproc.pipeline.vocabulary import RedactMode

if TYPE_CHECKING:
    from streamproc.config.pipelines import RedactRule

__all__ = [
    "FULL_MASK",
    "canonical_bytes",
    "derive_keys",
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


def _mask_keep_first(label: str) -> str:
    return label[:1] + "*" * (len(label) - 1)


def partial_mask(value: Any) -> Any:
    if value is None:
        return None
    text = value if isinstance(value, str) else canonical_bytes(value).decode("utf-8")
    local, at, domain = text.rpartition("@")
    if at and local and domain and len(text.split()) == 1 and text.strip() == text:
        labels = domain.split(".")
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
    __slots__ = ("segments", "fn", "top")

    def __init__(self, segments: Segments, fn: Callable[[Any], Any]) -> None:
        self.segments = segments
        self.fn = fn
        self.top = len(segments) == 1


class Redactor:
    """The compiled redaction rules of one source."""

    __slots__ = ("rules", "_key_rules", "_hash", "_token")

    def __init__(self, rules: list[RedactRule], redaction_key: bytes) -> None:
        hash_key, token_key = derive_keys(redaction_key)
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
        self._key_rules = tuple(r for r in self.rules if r.top)

    def hash_value(self, value: Any) -> Any:
        if value is None:
            return None
        h = self._hash.copy()
        h.update(canonical_bytes(value))
        return "hmac-sha256:" + h.hexdigest()

    def token_value(self, value: Any) -> Any:
        if value is None:
            return None
        h = self._token.copy()
        h.update(canonical_bytes(value))
        return "tok_" + base64.b32encode(h.digest()).decode("ascii")[:26].lower()

    def redact_doc(self, doc: dict[str, Any]) -> dict[str, Any]:
        out = dict(doc)
        owned = {id(out)}
        for rule in self.rules:
            out = map_values(out, rule.segments, rule.fn, owned)
        return out

    def redact_update(self, update: Update) -> Update:
        set_ = dict(update.set)
        owned = {id(set_)}
        cache: dict[str, list[str]] = {}
        for rule in self.rules:
            set_ = map_update_set(set_, rule.segments, rule.fn, deeper=True, owned=owned, cache=cache)
        return Update(set=set_, unset=tuple(update.unset))

    def redact_key(self, key: dict[str, Any]) -> dict[str, Any]:
        """Apply the rules whose path is one top-level field (or ``*``) to an event key."""
        out = dict(key)
        owned = {id(out)}
        for rule in self._key_rules:
            if rule.segments[0] is WILDCARD or rule.segments[0] in out:
                out = map_values(out, rule.segments, rule.fn, owned)
        return out
