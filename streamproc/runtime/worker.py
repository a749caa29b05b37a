"""The worker process: one Faust app for the ingest role, one per sink of each sink role (role
``s3`` has two: the trigger-compatible sink and the archive), and for role ``aggregations`` one
app plus one per aggregate sink, each with its own consumer group, run by one Faust worker. The
first app serves /metrics for all of them."""

from __future__ import annotations

import gc
import logging
from collections.abc import Sequence

from faust.worker import Worker
from prometheus_client import CollectorRegistry

from streamproc.config.loader import load_pipelines
from streamproc.config.pipelines import PipelinesSpec
from streamproc.config.settings import Settings
from streamproc.errors import ExitCode
from streamproc.runtime.apps import StreamprocApp
from streamproc.runtime.ingest import create_app
from streamproc.runtime.metrics import SinkMetrics
from streamproc.runtime.roles import configured_roles
from streamproc.runtime.sink_app import create_sink_apps

__all__ = ["build_apps", "run"]

log = logging.getLogger("streamproc.runtime.worker")


def build_apps(settings: Settings, explicit: bool, spec: PipelinesSpec | None = None) -> list[StreamprocApp]:
    """Apps for ``settings.roles`` (a sink role: one app per sink). With ``explicit`` (``--role``
    given), a role that is not configured is a ConfigError; otherwise unconfigured sink roles are
    skipped with a log line."""
    spec = spec if spec is not None else load_pipelines(settings.pipelines)
    roles = configured_roles(settings.role_list(), spec, settings, explicit)
    registry = CollectorRegistry()
    sink_metrics = SinkMetrics(registry) if any(r != "ingest" for r in roles) else None
    apps: list[StreamprocApp] = []
    for role in roles:
        web = not apps  # the first app serves the web endpoints of the whole process
        if role == "ingest":
            apps.append(create_app(settings, spec, registry=registry, web=web))
        elif role == "aggregations":
            from streamproc.runtime.agg_sinks import create_aggregate_sink_apps
            from streamproc.runtime.aggregations import create_aggregation_app

            apps.append(create_aggregation_app(settings, spec, registry=registry, web=web))
            if sink_metrics is not None:
                apps.extend(create_aggregate_sink_apps(settings, spec, sink_metrics))
        elif sink_metrics is not None:
            apps.extend(create_sink_apps(role, settings, spec, sink_metrics, web=web))
    apps[0].web_apps.extend(apps[1:])
    log.info("roles in this process: %s", ", ".join(roles))
    return apps


def run(apps: Sequence[StreamprocApp], loglevel: str) -> ExitCode:
    """Run ``apps`` in one Faust worker until it stops."""
    gc.collect()
    gc.freeze()  # start-up objects (Faust, pydantic, codecs) never need scanning again
    gc.set_threshold(20_000, 50, 100)
    worker = Worker(*apps, loglevel=loglevel, quiet=True)
    worker.execute_from_commandline()
    return ExitCode.OK
