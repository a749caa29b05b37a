"""Rule paths applied to partial updates: the dotted keys of ``update.set`` and ``update.unset``.

MongoDB reports a partial update as dotted keys (``{"contact.email": v, "phones.0.number": w}``)
whose values may themselves be nested (``{"contact": {"email": v}}``). :func:`match_update_key`
relates such a key to a rule path: the key is the rule's target (``EXACT``), lies inside the
target (``DEEPER``) or is an ancestor of it (``PREFIX``, with the rule segments still to apply
inside the value). Numeric (and ``$``-positional) key segments may be array indexes, which the
rule path leaves implicit, so both readings are considered.

Like :mod:`~streamproc.pipeline.doc_edits`, nothing here mutates its input; ``owned`` records
the containers created during one call, and ``cache`` (optional) memoises split keys.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, NamedTuple

from streamproc.pipeline.doc_edits import collect, map_values, rename_key_fn
from streamproc.pipeline.path_syntax import REMOVE, WILDCARD, Segments

__all__ = [
    "EXACT",
    "DEEPER",
    "PREFIX",
    "KeyMatch",
    "split_key",
    "match_update_key",
    "map_update_set",
    "rename_in_update_set",
    "collect_from_update_set",
    "drop_from_unset",
    "rename_in_unset",
]

EXACT, DEEPER, PREFIX = 0, 1, 2


class KeyMatch(NamedTuple):
    kind: int  # EXACT, DEEPER or PREFIX
    leaf: int  # EXACT/DEEPER: index of the key segment matched by the rule's last segment
    tails: tuple[Segments, ...]  # PREFIX: rule segments still to apply inside the value


def _is_position(seg: str) -> bool:
    return seg.isdigit() or seg.startswith("$")


def split_key(key: str, cache: dict[str, list[str]] | None) -> list[str]:
    """``key.split(".")``, memoised in ``cache`` when one is given."""
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
                new = map_values(new, tail, fn, owned)
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
                new = map_values(new, tail[:-1], fn, owned)
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
                out += collect(value, tail)[0]
    for _ in range(each):
        out = [x for v in out for x in (v if isinstance(v, list) else (v,))]
    return out


def drop_from_unset(unset: tuple[str, ...], segments: Segments) -> tuple[str, ...]:
    """``unset`` without the paths at or inside ``segments``."""
    kept = tuple(p for p in unset if (m := match_update_key(segments, p.split("."))) is None or m.kind == PREFIX)
    return unset if len(kept) == len(unset) else kept


def rename_in_unset(unset: tuple[str, ...], segments: Segments, new_name: str) -> tuple[str, ...]:
    """``unset`` with the field at ``segments`` renamed to ``new_name`` (as in the ``set`` keys)."""
    out = []
    for p in unset:
        parts = p.split(".")
        m = match_update_key(segments, parts)
        if m is not None and m.kind != PREFIX:
            parts[m.leaf] = new_name
            p = ".".join(parts)
        out.append(p)
    return tuple(out)
