"""Builds the Faust apps of one worker process: one app per role (ingest and each sink), each
with its own consumer group. The first app serves /metrics for all of them."""

from __future__ import annotations

import logging
from typing import Any

from prometheus_client import CollectorRegistry

from streamproc.config.settings import Settings, load_pipelines

__all__ = ["build_apps"]

log = logging.getLogger("streamproc.runtime.worker")


def build_apps(settings: Settings, explicit: bool, spec: Any = None) -> list[Any]:
    """Apps for ``settings.roles``. With ``explicit`` (``--role`` given), a role that is not
    configured is a ConfigError; otherwise unconfigured sink roles are skipped with a log line."""
    from streamproc.runtime.ingest import create_app
    from streamproc.runtime.metrics import SinkMetrics
    from streamproc.runtime.sink_app import configured_roles, create_sink_app

    spec = spec if spec is not None else load_pipelines(settings.pipelines)
    roles = configured_roles(settings.role_list(), spec, settings, explicit)
    registry = CollectorRegistry()
    sink_metrics = SinkMetrics(registry) if any(r != "ingest" for r in roles) else None
    apps: list[Any] = []
    for role in roles:
        web = not apps  # the first app serves the web endpoints of the whole process
        if role == "ingest":
            apps.append(create_app(settings, spec, registry=registry, web=web))
        else:
            apps.append(create_sink_app(role, settings, spec, sink_metrics, web=web))
    apps[0].web_apps.extend(apps[1:])
    log.info("roles in this process: %s", ", ".join(roles))
    return apps
