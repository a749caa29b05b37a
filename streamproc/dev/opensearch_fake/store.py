"""What the fake OpenSearch stores: documents (with delete tombstones), indices, ISM policies, and
index settings in OpenSearch's flat (``index.…``) and nested forms."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

__all__ = ["Doc", "Index", "Policy", "flat_settings", "nest_settings"]


@dataclass
class Doc:
    """One document version; ``source`` is ``None`` for a delete tombstone (which keeps its version)."""

    version: int
    seq_no: int
    source: dict[str, Any] | None


@dataclass
class Index:
    """One index: flat settings, its mapping (grown by dynamic mapping) and its documents."""

    name: str
    uuid: str
    settings: dict[str, Any]
    mappings: dict[str, Any]
    created: int
    docs: dict[str, Doc] = field(default_factory=dict)
    seq_no: int = -1

    def live(self) -> dict[str, Doc]:
        """The documents that are not delete tombstones."""
        return {k: d for k, d in self.docs.items() if d.source is not None}


@dataclass
class Policy:
    """A stored ISM policy with the optimistic-concurrency fields of its document."""

    body: dict[str, Any]
    seq_no: int
    primary_term: int
    version: int


def flat_settings(settings: dict[str, Any], prefix: str = "") -> dict[str, Any]:
    """Flattened settings with OpenSearch's ``index.`` prefix (plugin settings keep their own)."""
    out: dict[str, Any] = {}
    for k, v in settings.items():
        key = f"{prefix}{k}"
        if isinstance(v, dict):
            out.update(flat_settings(v, key + "."))
        elif key.startswith(("index.", "plugins.", "opendistro.")):
            out[key] = v
        else:
            out[f"index.{key}"] = v
    return out


def nest_settings(flat: dict[str, Any]) -> dict[str, Any]:
    """Flat settings → the nested form ``GET /<index>`` answers, scalar values as strings."""
    out: dict[str, Any] = {}
    for k, v in flat.items():
        node = out
        parts = k.split(".")
        for p in parts[:-1]:
            node = node.setdefault(p, {})
        node[parts[-1]] = str(v) if not isinstance(v, (dict, list)) else v
    return out
