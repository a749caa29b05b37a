"""``streamproc opensearch init``: install the index templates, the ISM policy and the rollover
aliases the OpenSearch sink writes through (running it again updates them).

The bodies are pure and live in ``bodies.py``; :func:`install` sends them (the sink's
``start()`` calls it too when ``create_missing`` is set) and :func:`ensure_alias` bootstraps one
rollover alias (the sink calls it before the first write through an alias).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import asdict, dataclass, field
from typing import TYPE_CHECKING, Any

from opensearchpy import AsyncOpenSearch
from opensearchpy.exceptions import NotFoundError, TransportError

from streamproc.errors import ConfigError, FatalSinkError, RetriableSinkError
from streamproc.sinks.opensearch.bodies import (
    bootstrap_index_body,
    entity_indices,
    index_template_body,
    ism_policy_body,
    rollover_template_body,
)
from streamproc.sinks.opensearch.client import cluster_info, host_port, make_client, transport_error
from streamproc.sinks.opensearch.plan import rollover_index_names
from streamproc.sinks.opensearch.version import Unplannable

if TYPE_CHECKING:
    from streamproc.config.settings import OpenSearchSettings
    from streamproc.config.sink_opensearch import OpenSearchSpec

__all__ = ["InitReport", "opensearch_init", "install", "ensure_alias"]


@dataclass
class InitReport:
    """What ``streamproc opensearch init`` installed."""

    cluster: str
    version: str
    indices: dict[str, str]  # entity → index (or rollover alias)
    templates: list[str]
    policy: str
    policy_result: str  # created | updated
    aliases_created: list[str] = field(default_factory=list)

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


async def ensure_alias(client: AsyncOpenSearch, alias: str, where: str) -> bool:
    """Create ``<alias>-000001`` as the write index of ``alias`` unless the alias exists; True if created."""
    doing = f"bootstrapping rollover alias {alias}"
    try:
        if await client.indices.exists_alias(name=alias):
            return False
        if await client.indices.exists(index=alias):
            raise FatalSinkError(
                f"index {alias} exists as a plain index, so it cannot become a rollover alias; "
                f"reindex it or remove its entity from sinks.opensearch.ism.entities"
            )
        _, first = rollover_index_names(alias)
        await client.indices.create(index=first, body=bootstrap_index_body(alias))
        return True
    except TransportError as exc:
        if exc.status_code == 400 and exc.error == "resource_already_exists_exception":
            return False  # another worker bootstrapped it first
        raise transport_error(exc, where, doing) from None


async def _put_policy(client: AsyncOpenSearch, policy_id: str, body: dict[str, Any], where: str) -> str:
    ism = client.plugins.index_management
    doing = f"installing ISM policy {policy_id}"
    try:
        try:
            current = await ism.get_policy(policy=policy_id)
        except NotFoundError:
            current = None
        if current is None:
            await ism.put_policy(policy=policy_id, body=body)
            return "created"
        params = {"if_seq_no": current["_seq_no"], "if_primary_term": current["_primary_term"]}
        await ism.put_policy(policy=policy_id, body=body, params=params)
        return "updated"
    except TransportError as exc:
        if exc.status_code == 400 and "no handler" in str(exc.info).lower():
            raise FatalSinkError(f"OpenSearch at {where} has no ISM plugin (_plugins/_ism)") from None
        if exc.status_code == 409:
            raise RetriableSinkError(f"ISM policy {policy_id} changed while {doing}; run again") from None
        raise transport_error(exc, where, doing) from None


async def install(
    client: AsyncOpenSearch, spec: OpenSearchSpec, namespaces: Mapping[str, str | None], where: str, version: str
) -> InitReport:
    """Install the templates, the ISM policy and the rollover aliases of ``spec`` for the entities
    of ``namespaces`` (entity → namespace); :class:`ConfigError` when ``spec`` names an entity no
    source has."""
    unknown = [e for e in (spec.entities if spec.entities != "all" else []) if e not in namespaces]
    unknown += [e for e in spec.ism.entities if e not in namespaces and e not in unknown]
    if unknown:
        raise ConfigError(f"sinks.opensearch: {', '.join(unknown)} is not an entity of any source")
    try:
        indices = entity_indices(spec, namespaces)
    except Unplannable as exc:
        raise ConfigError(f"sinks.opensearch.index_template: {exc.reason}") from None
    rolled = sorted({indices[e] for e in spec.ism.entities})
    plain = sorted(set(indices.values()) - set(rolled))
    templates: list[tuple[str, dict[str, Any]]] = []
    if plain:
        templates.append((spec.template_name, index_template_body(spec, plain)))
    for alias in rolled:
        templates.append((f"{spec.template_name}-rollover-{alias}", rollover_template_body(spec, alias)))
    for name, body in templates:
        try:
            await client.indices.put_index_template(name=name, body=body)
        except TransportError as exc:
            raise transport_error(exc, where, f"installing index template {name}") from None
    result = await _put_policy(client, spec.ism.policy_id, ism_policy_body(spec, rolled), where)
    created = [alias for alias in rolled if await ensure_alias(client, alias, where)]
    return InitReport(where, version, indices, [n for n, _ in templates], spec.ism.policy_id, result, created)


async def opensearch_init(
    settings: OpenSearchSettings, spec: OpenSearchSpec, namespaces: Mapping[str, str | None]
) -> InitReport:
    """Install (or update — running it again is fine) the index templates, the ISM policy and the
    rollover aliases of ``spec.ism.entities``. ``namespaces`` maps every source entity to its
    namespace (``None`` when only a topic is configured)."""
    where = host_port(settings.url)
    client = make_client(settings)
    try:
        info = await cluster_info(client, where)
        return await install(client, spec, namespaces, where, str(info["version"]["number"]))
    finally:
        await client.close()
