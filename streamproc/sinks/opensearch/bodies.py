"""Pure bodies that ``streamproc opensearch init`` installs: index templates and the ISM policy.

The composable index template of the plain indices (strings as keyword with a ``text``
sub-field, ``date_fields`` as dates, no date detection), the template and bootstrap index of each
rollover alias, and the ISM rollover/retention policy (see ``OpenSearchIsmSpec``).
:func:`entity_indices` lists the index (or alias) of each entity the sink writes. No I/O here
(``admin.py`` installs them).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any

from streamproc.sinks.opensearch.plan import index_name, rollover_index_names

if TYPE_CHECKING:
    from streamproc.config.sink_opensearch import OpenSearchSpec

__all__ = [
    "index_template_body",
    "rollover_template_body",
    "bootstrap_index_body",
    "ism_policy_body",
    "entity_indices",
]

# --------------------------------------------------------------------------------- init bodies


def entity_indices(spec: OpenSearchSpec, namespaces: Mapping[str, str | None]) -> dict[str, str]:
    """Entity → index (or rollover alias) name for the entities this sink writes, sorted by entity."""
    out = {}
    for entity in sorted(namespaces):
        if spec.wants(entity):
            out[entity] = index_name(spec, entity, namespaces[entity])
    return out


def _mappings(spec: OpenSearchSpec) -> dict[str, Any]:
    dynamic: list[dict[str, Any]] = []
    for n, pattern in enumerate(spec.date_fields):
        for kind in ("string", "long"):
            dynamic.append(
                {
                    f"dates_{n}_{kind}": {
                        "match_mapping_type": kind,
                        "match": pattern,
                        "mapping": {"type": "date", "format": "strict_date_optional_time||epoch_millis"},
                    }
                }
            )
    dynamic.append(
        {
            "strings": {
                "match_mapping_type": "string",
                "mapping": {
                    "type": "keyword",
                    "ignore_above": spec.keyword_ignore_above,
                    "fields": {"text": {"type": "text"}},
                },
            }
        }
    )
    return {"date_detection": False, "dynamic_templates": dynamic}


def _settings(spec: OpenSearchSpec, extra: Mapping[str, Any] | None = None) -> dict[str, Any]:
    out: dict[str, Any] = {}
    if spec.number_of_shards is not None:
        out["number_of_shards"] = spec.number_of_shards
    if spec.number_of_replicas is not None:
        out["number_of_replicas"] = spec.number_of_replicas
    out.update(extra or {})
    return out


def index_template_body(spec: OpenSearchSpec, patterns: Sequence[str]) -> dict[str, Any]:
    """The composable index template of the plain (not rolled-over) indices: strings as keyword
    with a ``text`` sub-field, ``date_fields`` as dates, no date detection."""
    return {
        "index_patterns": list(patterns),
        "priority": spec.template_priority,
        "template": {"settings": _settings(spec), "mappings": _mappings(spec)},
        "_meta": {"managed_by": "streamproc"},
    }


def rollover_template_body(spec: OpenSearchSpec, alias: str) -> dict[str, Any]:
    """The template of the indices behind one rollover alias (same mappings, plus the alias setting)."""
    pattern, _ = rollover_index_names(alias)
    return {
        "index_patterns": [pattern],
        "priority": spec.template_priority + 1,
        "template": {
            "settings": _settings(spec, {"plugins.index_state_management.rollover_alias": alias}),
            "mappings": _mappings(spec),
        },
        "_meta": {"managed_by": "streamproc"},
    }


def bootstrap_index_body(alias: str) -> dict[str, Any]:
    """The body that creates ``<alias>-000001`` as the alias's write index."""
    return {
        "aliases": {alias: {"is_write_index": True}},
        "settings": {"plugins.index_state_management.rollover_alias": alias},
    }


def ism_policy_body(spec: OpenSearchSpec, aliases: Sequence[str]) -> dict[str, Any]:
    """The ISM policy: state ``hot`` rolls over on the configured conditions and moves to ``delete``
    ``delete_after_days`` after index creation. Attached to ``<alias>-*`` of ``aliases`` only."""
    ism = spec.ism
    rollover: dict[str, Any] = {}
    if ism.rollover_min_age is not None:
        rollover["min_index_age"] = ism.rollover_min_age
    if ism.rollover_min_size is not None:
        rollover["min_size"] = ism.rollover_min_size
    if ism.rollover_min_doc_count is not None:
        rollover["min_doc_count"] = ism.rollover_min_doc_count
    policy: dict[str, Any] = {
        "description": f"streamproc: roll over, delete {ism.delete_after_days} days after creation",
        "default_state": "hot",
        "states": [
            {
                "name": "hot",
                "actions": [{"rollover": rollover}],
                "transitions": [{"state_name": "delete", "conditions": {"min_index_age": f"{ism.delete_after_days}d"}}],
            },
            {"name": "delete", "actions": [{"delete": {}}], "transitions": []},
        ],
    }
    if aliases:
        policy["ism_template"] = [
            {"index_patterns": [rollover_index_names(a)[0] for a in aliases], "priority": ism.priority}
        ]
    return {"policy": policy}
