"""Where a redaction rule applies: every spelling of its path in a document or an update.

Redaction must not depend on how a value is spelled, so the rule path (``contacts.email``)
reaches, besides the plain nesting :func:`~streamproc.pipeline.doc_edits.map_values` follows:

* **scalars where the path expects an object** — ``"contacts": ["x@example.org"]`` or
  ``"contacts": "x@example.org"``: the scalar is redacted in the rule's mode (``REMOVE`` deletes
  an object member and turns an array element into ``null``, keeping the other indexes), by the
  first rule reaching it (``contacts.email`` before ``contacts.phone``); ``null`` stays ``null``;
* **literal dotted field names** (legal in MongoDB since 5.0) — ``{"contacts.email": v}``,
  ``{"contacts": [{"email.work": v}]}``: a key holding dots is read as the path it spells, with
  numeric and ``$`` segments taken as possible array positions, exactly like the keys of a
  partial update (:func:`~streamproc.pipeline.update_keys.match_update_key`); a key lying inside
  the rule's target (``ssn.full`` under a rule on ``ssn``) is redacted whole;
* the keys and values of ``update.set`` (:func:`redact_update_set`), through the same walk.

Like :mod:`~streamproc.pipeline.doc_edits`, nothing is mutated: containers are copied on the
way to a change and recorded in ``owned``.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from streamproc.pipeline.path_syntax import REMOVE, WILDCARD, Segments
from streamproc.pipeline.update_keys import DEEPER, EXACT, PREFIX, match_update_key, split_key

__all__ = ["redact_values", "redact_update_set", "PathWalker"]

Fn = Callable[[Any], Any]
_ABSENT = object()


def _identity(value: Any) -> Any:
    return value


def redact_values(node: Any, segments: Segments, fn: Fn, owned: set[int]) -> Any:
    """``node`` with ``fn`` applied at every spelling of ``segments`` (see the module docstring);
    ``fn`` may return :data:`REMOVE`, and so may this function (for a scalar ``node``)."""
    return PathWalker(owned).apply(node, segments, fn)


class PathWalker:
    """Applies rules to one document (or update) in turn: :meth:`apply` is :func:`redact_values`,
    sharing ``owned`` and the memo of each object's dotted keys between the rules."""

    __slots__ = ("fn", "owned", "memo", "done")

    def __init__(self, owned: set[int]) -> None:
        self.fn: Fn = _identity
        self.owned = owned
        self.done: dict[int, Any] = {}  # id → a scalar some rule produced (kept alive for its id)
        # id → (the object, kept alive so the id stays its own; its dotted keys). Redaction only
        # replaces or deletes members, so a remembered list can only hold keys gone since.
        self.memo: dict[int, tuple[Any, list[str]]] = {}

    def apply(self, node: Any, segments: Segments, fn: Fn) -> Any:
        self.fn = fn
        return self.walk(node, segments, 0)

    def walk(self, node: Any, segs: Segments, i: int) -> Any:
        if i == len(segs):
            return self.fn(node)
        if isinstance(node, dict):
            return self.walk_dict(node, segs, i)
        if isinstance(node, list):
            return self.walk_list(node, segs, i)
        if node is None:
            return None
        # A scalar where the path expects an object: redacted whole, once — several rules may
        # pass through it (contacts.email, contacts.phone), the first one redacts it.
        if id(node) in self.done:
            return node
        new = self.fn(node)
        if new is not REMOVE:
            self.done[id(new)] = new
        return new

    def dotted(self, node: dict[str, Any]) -> list[str]:
        hit = self.memo.get(id(node))
        if hit is not None and hit[0] is node:
            return hit[1]
        keys = [k for k in node if "." in k]
        self.memo[id(node)] = (node, keys)
        return keys

    def walk_dict(self, node: dict[str, Any], segs: Segments, i: int) -> dict[str, Any]:
        seg = segs[i]
        if seg is WILDCARD:
            keys: list[str] = list(node)
        else:
            keys = self.dotted(node)
            if not keys:  # the usual case: one lookup
                old = node.get(seg, _ABSENT)
                if old is _ABSENT:
                    return node
                new = self.walk(old, segs, i + 1)
                return node if new is old else self.assign(node, node, seg, new)
            if seg in node:
                keys = [seg, *keys]
        out = node
        for k in keys:
            if k not in node:  # deleted by an earlier rule from this (owned) object: memo is stale
                continue
            old = node[k]
            m = match_update_key(segs[i:], k.split(".")) if "." in k else None
            if m is None:
                if seg is not WILDCARD and k != seg:
                    continue
                new = self.walk(old, segs, i + 1)
            elif m.kind == PREFIX:
                new = old
                for tail in m.tails:
                    new = self.walk(new, tail, 0)
                    if new is REMOVE:
                        break
            else:
                new = self.fn(old)
            if new is not old:
                out = self.assign(node, out, k, new)
        return out

    def assign(self, node: dict[str, Any], out: dict[str, Any], key: str, new: Any) -> dict[str, Any]:
        if out is node and id(node) not in self.owned:
            out = dict(node)
            self.owned.add(id(out))
        if new is REMOVE:
            del out[key]
        else:
            out[key] = new
        return out

    def walk_list(self, node: list[Any], segs: Segments, i: int) -> list[Any]:
        seg = segs[i]
        if seg is not WILDCARD and seg.isdigit():
            idx = int(seg)
            if idx >= len(node):
                return node
            positions: range | tuple[int, ...] = (idx,)
            nxt = i + 1
        else:
            positions = range(len(node))
            nxt = i
        out: list[Any] | None = node if id(node) in self.owned else None
        for idx in positions:
            old = node[idx]
            new = self.walk(old, segs, nxt)
            if new is old:
                continue
            if out is None:
                out = list(node)
                self.owned.add(id(out))
            out[idx] = None if new is REMOVE else new
        return node if out is None else out


def redact_update_set(
    set_: dict[str, Any],
    segments: Segments,
    fn: Fn,
    *,
    walker: PathWalker,
    cache: dict[str, list[str]] | None = None,
) -> dict[str, Any]:
    """``update.set`` with ``fn`` applied at every spelling of ``segments``: a key that is the
    target or lies inside it has its value redacted whole; a key above the target has the rest
    of the path followed inside its value (:meth:`PathWalker.apply`). One ``walker`` serves
    every rule of one update (its ``owned`` set covers ``set_``'s copies too)."""
    owned = walker.owned
    out = set_
    for key, value in list(set_.items()):
        m = match_update_key(segments, split_key(key, cache))
        if m is None:
            continue
        if m.kind == EXACT or m.kind == DEEPER:
            new = fn(value)
        else:
            new = value
            for tail in m.tails:
                new = walker.apply(new, tail, fn)
                if new is REMOVE:
                    break
        if new is value:
            continue
        if out is set_ and id(set_) not in owned:
            out = dict(set_)
            owned.add(id(out))
        if new is REMOVE:
            del out[key]
        else:
            out[key] = new
    return out
