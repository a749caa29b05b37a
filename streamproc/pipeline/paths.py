"""Nested field paths, shared by validation, transformation and redaction.

Path syntax (as written in ``config/pipelines.yaml``)
------------------------------------------------------
* ``address.city`` — dotted segments, one per nesting level.
* Arrays are traversed implicitly: ``phones.number`` reaches ``number`` in every element of
  the ``phones`` list (and of lists nested in lists). ``phones[].number`` and
  ``phones[*].number`` say the same thing explicitly. A trailing marker (``tags[]``) only
  matters to validation, where it checks each element instead of the list itself.
* ``*`` as a whole segment matches any key at that level.
* A numeric segment indexes a list (``phones.0.number``) and names a key in an object.

Partial updates
---------------
MongoDB reports a partial update as dotted keys (``{"contact.email": v, "phones.0.number": w}``)
whose values may themselves be nested (``{"contact": {"email": v}}``). :func:`match_update_key`
relates such a key to a rule path: the key is the rule's target (``EXACT``), lies inside the
target (``DEEPER``) or is an ancestor of it (``PREFIX``, with the rule segments still to apply
inside the value). Numeric (and ``$``-positional) key segments may be array indexes, which the
rule path leaves implicit, so both readings are considered.

Invariants
----------
Editing functions never mutate their input: they copy a container only on the way to a
change (copy-on-write) and share every untouched subtree. Containers created during one call
are recorded in ``owned`` (a set of ``id()``\\ s) so later edits in the same call may reuse them.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Any, NamedTuple

__all__ = [
    "WILDCARD",
    "REMOVE",
    "EXACT",
    "DEEPER",
    "PREFIX",
    "FieldPath",
    "KeyMatch",
    "parse_path",
    "map_values",
    "collect",
    "elementwise",
    "rename_key_fn",
    "split_key",
    "match_update_key",
    "map_update_set",
    "rename_in_update_set",
    "collect_from_update_set",
    "drop_from_unset",
    "rename_in_unset",
]


class _Marker:
    __slots__ = ("_name",)

    def __init__(self, name: str) -> None:
        self._name = name

    def __repr__(self) -> str:
        return self._name


WILDCARD: Any = _Marker("WILDCARD")
"""A path segment matching any key."""

REMOVE: Any = _Marker("REMOVE")
"""Returned by an edit function to delete the value it was given."""

EXACT, DEEPER, PREFIX = 0, 1, 2

Segments = tuple[Any, ...]


class FieldPath(NamedTuple):
    text: str
    segments: Segments
    each: int  # number of trailing array markers (validation checks elements, not the list)


def parse_path(text: str) -> FieldPath:
    """Parse a rule path; raise ``ValueError`` naming the problem."""
    if not isinstance(text, str) or not text:
        raise ValueError("path must be a non-empty string")
    segments: list[Any] = []
    each = 0
    parts = text.split(".")
    for n, part in enumerate(parts):
        markers = 0
        while True:
            if part.endswith("[]"):
                part = part[:-2]
            elif part.endswith("[*]"):
                part = part[:-3]
            else:
                break
            markers += 1
        if not part:
            raise ValueError("path has an empty segment")
        if "[" in part or "]" in part:
            raise ValueError("array markers must be written '[]' or '[*]' at the end of a segment")
        if part.strip() != part:
            raise ValueError("path segments must not start or end with whitespace")
        segments.append(WILDCARD if part == "*" else part)
        if n == len(parts) - 1:
            each = markers
    return FieldPath(text, tuple(segments), each)


def _is_position(seg: str) -> bool:
    return seg.isdigit() or seg.startswith("$")


# --------------------------------------------------------------------------- documents


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
            return node if all(a is b for a, b in zip(out, node)) else out
        return node

    return apply


def collect(node: Any, segments: Segments, each: int = 0) -> tuple[list[Any], bool]:
    """Values at ``segments``, and whether an object on the path lacks the last key.

    "Missing" is judged relative to the parent: ``address.city`` is missing when an
    ``address`` object exists without ``city``, not when ``address`` itself is absent.
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
    return False


# --------------------------------------------------------------------------- partial updates


class KeyMatch(NamedTuple):
    kind: int  # EXACT, DEEPER or PREFIX
    leaf: int  # EXACT/DEEPER: index of the key segment matched by the rule's last segment
    tails: tuple[Segments, ...]  # PREFIX: rule segments still to apply inside the value


def split_key(key: str, cache: dict[str, list[str]] | None) -> list[str]:
    if cache is None:
        return key.split(".")
    parts = cache.get(key)
    if parts is None:
        parts = cache[key] = key.split(".")
    return parts


def match_update_key(segments: Segments, parts: list[str]) -> KeyMatch | None:
    """Relate the dotted update key ``parts`` to a rule path (see the module docstring)."""
    n = len(segments)
    first = segments[0]
    if first is not WILDCARD and first != parts[0]:
        return None
    states = {(1, 0 if n == 1 else -1)}
    for t in range(1, len(parts)):
        k = parts[t]
        position = _is_position(k)
        new: set[tuple[int, int]] = set()
        for j, leaf in states:
            if j == n:
                new.add((j, leaf))
                continue
            seg = segments[j]
            if seg is WILDCARD or seg == k:
                new.add((j + 1, t if j + 1 == n else -1))
            if position:
                new.add((j, leaf))
        if not new:
            return None
        states = new
    last = len(parts) - 1
    deeper = -1
    for j, leaf in states:
        if j == n:
            if leaf == last:
                return KeyMatch(EXACT, leaf, ())
            deeper = leaf
    if deeper >= 0:
        return KeyMatch(DEEPER, deeper, ())
    tails = tuple(sorted({segments[j:] for j, _ in states}, key=len))
    return KeyMatch(PREFIX, -1, tails)


def map_update_set(
    set_: dict[str, Any],
    segments: Segments,
    fn: Callable[[Any], Any],
    *,
    deeper: bool,
    owned: set[int],
    cache: dict[str, list[str]] | None = None,
) -> dict[str, Any]:
    """Apply ``fn`` to every value an update's ``set`` holds at ``segments``.

    ``deeper``: also apply ``fn`` to keys lying inside the target (redaction, removal).
    """
    out = set_
    for key, value in list(set_.items()):
        m = match_update_key(segments, split_key(key, cache))
        if m is None:
            continue
        if m.kind == EXACT or (m.kind == DEEPER and deeper):
            new = fn(value)
        elif m.kind == PREFIX:
            new = value
            for tail in m.tails:
                new = _map(new, tail, 0, fn, owned)
        else:
            continue
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


def rename_in_update_set(
    set_: dict[str, Any],
    segments: Segments,
    new_name: str,
    *,
    owned: set[int],
    cache: dict[str, list[str]] | None = None,
) -> dict[str, Any]:
    """Rename the field at ``segments`` (its last segment becomes ``new_name``) in update keys."""
    renamed: dict[str, str] = {}
    values: dict[str, Any] = {}
    fn = rename_key_fn(segments[-1], new_name)
    for key, value in set_.items():
        parts = split_key(key, cache)
        m = match_update_key(segments, parts)
        if m is None:
            continue
        if m.kind == PREFIX:
            new = value
            for tail in m.tails:
                new = _map(new, tail[:-1], 0, fn, owned)
            if new is not value:
                values[key] = new
        else:
            new_parts = list(parts)
            new_parts[m.leaf] = new_name
            renamed[key] = ".".join(new_parts)
    if not renamed and not values:
        return set_
    out: dict[str, Any] = {}
    for key, value in set_.items():
        out[renamed.get(key, key)] = values.get(key, value)
    owned.add(id(out))
    return out


def collect_from_update_set(
    set_: dict[str, Any], segments: Segments, each: int, cache: dict[str, list[str]] | None = None
) -> list[Any]:
    """Values an update's ``set`` assigns at ``segments`` (keys inside the target are ignored)."""
    out: list[Any] = []
    for key, value in set_.items():
        m = match_update_key(segments, split_key(key, cache))
        if m is None or m.kind == DEEPER:
            continue
        if m.kind == EXACT:
            out.append(value)
        else:
            for tail in m.tails:
                _collect(value, tail, 0, out)
    for _ in range(each):
        out = [x for v in out for x in (v if isinstance(v, list) else (v,))]
    return out


def drop_from_unset(unset: tuple[str, ...], segments: Segments) -> tuple[str, ...]:
    """``unset`` without the paths at or inside ``segments``."""
    kept = tuple(p for p in unset if (m := match_update_key(segments, p.split("."))) is None or m.kind == PREFIX)
    return unset if len(kept) == len(unset) else kept


def rename_in_unset(unset: tuple[str, ...], segments: Segments, new_name: str) -> tuple[str, ...]:
    out = []
    for p in unset:
        parts = p.split(".")
        m = match_update_key(segments, parts)
        if m is not None and m.kind != PREFIX:
            parts[m.leaf] = new_name
            p = ".".join(parts)
        out.append(p)
    return tuple(out)
