"""Which roles a worker runs and the sinks of each sink role, from the pipelines file and the
settings. Faust-free: ``streamproc dry-run`` builds the sinks from here to plan their writes."""

from __future__ import annotations

import logging

from streamproc.config.pipelines import PipelinesSpec
from streamproc.config.settings import Settings
from streamproc.errors import ConfigError
from streamproc.sinks.base import Sink

__all__ = [
    "SINK_ROLES",
    "section_missing",
    "aggregations_missing",
    "configured_roles",
    "entity_namespaces",
    "build_sinks",
]

log = logging.getLogger("streamproc.sink")

SINK_ROLES: tuple[str, ...] = ("s3", "opensearch", "warehouse", "eventbridge")


def section_missing(role: str, spec: PipelinesSpec) -> str | None:
    """Why the pipelines file does not configure ``role``, or ``None``."""
    sinks = spec.sinks
    present = {
        "s3": sinks.s3_trigger or sinks.s3_archive,
        "opensearch": sinks.opensearch,
        "warehouse": sinks.warehouse,
        "eventbridge": sinks.eventbridge,
    }
    if role not in present:
        return f"unknown sink role '{role}'"
    if present[role] is None:
        return (
            "no 's3_trigger' or 's3_archive' section under 'sinks:'"
            if role == "s3"
            else f"no '{role}' section under 'sinks:'"
        )
    return None


def _missing(role: str, spec: PipelinesSpec, settings: Settings) -> str | None:
    """Why ``role`` cannot run with this configuration (file and endpoint settings), or ``None``."""
    if role == "aggregations":
        return aggregations_missing(spec, settings)
    why = section_missing(role, spec)
    if why is None and role == "opensearch" and not settings.opensearch.url:
        why = "STREAMPROC_OPENSEARCH__URL is not set"
    if why is None and role == "warehouse" and not settings.warehouse.dsn:
        why = "STREAMPROC_WAREHOUSE__DSN is not set"
    return why


def aggregations_missing(spec: PipelinesSpec, settings: Settings) -> str | None:
    """Why role ``aggregations`` cannot run (no ``aggregations:`` list, or an aggregation's sink
    lacks its endpoint), or ``None``."""
    if not spec.aggregations:
        return "no 'aggregations:' list in the pipelines file"
    sinks = {s for a in spec.aggregation_specs() for s in a.sinks}
    if "warehouse" in sinks and not settings.warehouse.dsn:
        return "an aggregation writes to the warehouse, but STREAMPROC_WAREHOUSE__DSN is not set"
    if "opensearch" in sinks and not settings.opensearch.url:
        return "an aggregation writes to OpenSearch, but STREAMPROC_OPENSEARCH__URL is not set"
    return None


def configured_roles(roles: list[str], spec: PipelinesSpec, settings: Settings, explicit: bool) -> list[str]:
    """The roles to run. An explicitly requested role that is not configured is a ConfigError;
    by default, unconfigured sink roles are skipped with a log line."""
    out = []
    for role in roles:
        why = None if role == "ingest" else _missing(role, spec, settings)
        if why is None:
            out.append(role)
        elif explicit:
            raise ConfigError(f"role '{role}' cannot run: {why}")
        else:
            log.info("role %s not started: %s", role, why)
    return out


def entity_namespaces(settings: Settings, spec: PipelinesSpec) -> dict[str, str]:
    """Entity → namespace (``database.collection``); a topic-only source takes it from its topic."""
    from streamproc.sources.common import topic_namespace

    return {
        s.entity: s.namespace or topic_namespace(s.source_topics(settings.source_topic_prefix)[0]) for s in spec.sources
    }


def build_sinks(role: str, settings: Settings, spec: PipelinesSpec) -> list[Sink]:
    """The sinks of one configured role, constructed without connecting (``start()`` connects)."""
    sinks = spec.sinks
    create = settings.sink.create_missing
    if role == "s3":
        from streamproc.sinks.s3.archive import S3ArchiveSink
        from streamproc.sinks.s3.trigger import S3TriggerSink

        out: list[Sink] = []
        if sinks.s3_trigger is not None:
            out.append(S3TriggerSink(sinks.s3_trigger, settings.aws, create_missing=create))
        if sinks.s3_archive is not None:
            out.append(S3ArchiveSink(sinks.s3_archive, settings.aws, create_missing=create))
        return out
    if role == "opensearch" and sinks.opensearch is not None:
        from streamproc.sinks.opensearch.sink import OpenSearchSink

        return [
            OpenSearchSink(
                sinks.opensearch,
                settings.opensearch,
                namespaces=entity_namespaces(settings, spec),
                create_missing=create,
            )
        ]
    if role == "warehouse" and sinks.warehouse is not None:
        from streamproc.sinks.warehouse.sink import WarehouseSink

        return [WarehouseSink(sinks.warehouse, settings.warehouse)]
    if role == "eventbridge" and sinks.eventbridge is not None:
        from streamproc.sinks.eventbridge.sink import EventBridgeSink

        eb = settings.eventbridge
        return [
            EventBridgeSink(
                sinks.eventbridge.resolved(eb.bus, eb.source_prefix),
                settings.aws,
                events_endpoint=eb.endpoint_url,
                create_missing=create,
            )
        ]
    if role not in SINK_ROLES:
        raise ConfigError(f"unknown sink role '{role}'")
    raise ConfigError(f"role '{role}' cannot run: {section_missing(role, spec)}")
