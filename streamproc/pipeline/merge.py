"""Apply a partial update (dotted-path set/unset) to a full document. Pure; never mutates input."""

from __future__ import annotations

import copy
from typing import Any

from streamproc.model import Update

__all__ = ["apply_update", "expand_paths"]


def _container_for_write(node: Any, seg: str) -> tuple[Any, Any]:
    if isinstance(node, list) and seg.isdigit():
        return node, int(seg)
    return node, seg


def _set_path(doc: dict[str, Any], path: str, value: Any) -> None:
    parts = path.split(".")
    node: Any = doc
    for i, seg in enumerate(parts[:-1]):
        nxt_seg = parts[i + 1]
        if isinstance(node, list) and seg.isdigit():
            idx = int(seg)
            while len(node) <= idx:
                node.append(None)
            child = node[idx]
            if not isinstance(child, (dict, list)):
                child = [] if nxt_seg.isdigit() else {}
                node[idx] = child
            node = child
        else:
            child = node.get(seg) if isinstance(node, dict) else None
            if not isinstance(child, (dict, list)):
                child = {}
                node[seg] = child
            node = child
    last = parts[-1]
    if isinstance(node, list) and last.isdigit():
        idx = int(last)
        while len(node) <= idx:
            node.append(None)
        node[idx] = value
    else:
        node[last] = value


def _unset_path(doc: dict[str, Any], path: str) -> None:
    node: Any = doc
    parts = path.split(".")
    for seg in parts[:-1]:
        if isinstance(node, list) and seg.isdigit() and int(seg) < len(node):
            node = node[int(seg)]
        elif isinstance(node, dict) and seg in node:
            node = node[seg]
        else:
            return
    last = parts[-1]
    if isinstance(node, dict):
        node.pop(last, None)
    elif isinstance(node, list) and last.isdigit() and int(last) < len(node):
        node[int(last)] = None  # MongoDB $unset on an array element leaves null


def apply_update(doc: dict[str, Any], update: Update) -> dict[str, Any]:
    """The document after ``update``: ``set`` paths assigned, ``unset`` paths removed."""
    out = copy.deepcopy(doc)
    for path, value in update.set.items():
        _set_path(out, path, copy.deepcopy(value))
    for path in update.unset:
        _unset_path(out, path)
    return out


def expand_paths(flat: dict[str, Any]) -> dict[str, Any]:
    """``{"a.b": 1}`` → ``{"a": {"b": 1}}`` (for validating the fields a partial update sets)."""
    out: dict[str, Any] = {}
    for path, value in flat.items():
        _set_path(out, path, value)
    return out
