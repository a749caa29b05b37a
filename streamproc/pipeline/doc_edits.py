"""Reading and editing full documents along parsed paths (:mod:`~streamproc.pipeline.path_syntax`).

Invariants
----------
Editing functions never mutate their input: they copy a container only on the way to a
change (copy-on-write) and share every untouched subtree. Containers created during one call
are recorded in ``owned`` (a set of ``id()``\\ s) so later edits in the same call may reuse them.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Any

from streamproc.pipeline.path_syntax import REMOVE, WILDCARD, Segments

__all__ = ["map_values", "elementwise", "rename_key_fn", "collect"]


def map_values(node: Any, segments: Segments, fn: Callable[[Any], Any], owned: set[int] | None = None) -> Any:
    """Return ``node`` with ``fn`` applied to every value at ``segments``.

    ``fn`` may return :data:`REMOVE` to delete the key (a list element addressed by index
    becomes ``None``, as MongoDB's ``$unset`` does). Absent paths are a no-op.
    """
    return _map(node, segments, 0, fn, set() if owned is None else owned)


def _map(node: Any, segs: Segments, i: int, fn: Callable[[Any], Any], owned: set[int]) -> Any:
    if i == len(segs):
        return fn(node)
    if isinstance(node, dict):
        seg = segs[i]
        if seg is WILDCARD:
            keys: Iterable[str] = list(node)
        elif seg in node:
            keys = (seg,)
        else:
            return node
        out = node
        for k in keys:
            old = out[k]
            new = _map(old, segs, i + 1, fn, owned)
            if new is old:
                continue
            if out is node and id(node) not in owned:
                out = dict(node)
                owned.add(id(out))
            if new is REMOVE:
                del out[k]
            else:
                out[k] = new
        return out
    if isinstance(node, list):
        seg = segs[i]
        if seg is not WILDCARD and seg.isdigit():
            idx = int(seg)
            if idx >= len(node):
                return node
            old = node[idx]
            new = _map(old, segs, i + 1, fn, owned)
            if new is old:
                return node
            out_list = node if id(node) in owned else list(node)
            owned.add(id(out_list))
            out_list[idx] = None if new is REMOVE else new
            return out_list
        out_l: list[Any] | None = None if id(node) not in owned else node
        for idx, old in enumerate(node):
            new = _map(old, segs, i, fn, owned)
            if new is old:
                continue
            if out_l is None:
                out_l = list(node)
                owned.add(id(out_l))
            out_l[idx] = new
        return node if out_l is None else out_l
    return node


def elementwise(fn: Callable[[Any], Any]) -> Callable[[Any], Any]:
    """Wrap a value function so lists (and nested lists) are mapped element by element."""

    def apply(value: Any) -> Any:
        if isinstance(value, list):
            return [apply(v) for v in value]
        return fn(value)

    return apply


def rename_key_fn(old: str, new: str) -> Callable[[Any], Any]:
    """An edit function renaming key ``old`` to ``new`` in an object (or each object of a list).

    The renamed key keeps its position; an existing ``new`` key is overwritten.
    """

    def apply(node: Any) -> Any:
        if isinstance(node, dict):
            if old not in node:
                return node
            return {(new if k == old else k): v for k, v in node.items() if k != new}
        if isinstance(node, list):
            out = [apply(v) for v in node]
            return node if all(a is b for a, b in zip(out, node, strict=True)) else out
        return node

    return apply


def collect(node: Any, segments: Segments, each: int = 0) -> tuple[list[Any], bool]:
    """Values at ``segments``, and whether an object on the path lacks the last key.

    "Missing" is judged relative to the parent: ``address.city`` is missing when an
    ``address`` object exists without ``city``, not when ``address`` itself is absent (or
    ``null``); a non-null scalar where the path expects an object (``"address": "Oslo"``,
    ``"phones": ["555"]`` for ``phones.number``) cannot hold the field, so it is missing too.
    Lists on the way are traversed; ``each`` flattens that many levels of lists at the end.
    """
    out: list[Any] = []
    missing = _collect(node, segments, 0, out)
    for _ in range(each):
        out = [x for v in out for x in (v if isinstance(v, list) else (v,))]
    return out, missing


def _collect(node: Any, segs: Segments, i: int, out: list[Any]) -> bool:
    if i == len(segs):
        out.append(node)
        return False
    seg = segs[i]
    if isinstance(node, dict):
        if seg is WILDCARD:
            missing = False
            for v in node.values():
                missing |= _collect(v, segs, i + 1, out)
            return missing
        if seg in node:
            return _collect(node[seg], segs, i + 1, out)
        return i == len(segs) - 1
    if isinstance(node, list):
        if seg is not WILDCARD and seg.isdigit():
            idx = int(seg)
            return _collect(node[idx], segs, i + 1, out) if idx < len(node) else False
        missing = False
        for v in node:
            missing |= _collect(v, segs, i, out)
        return missing
    return node is not None
