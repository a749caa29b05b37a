"""The web endpoints of a worker process: /metrics, /livez and /readyz, served by its first app."""

from __future__ import annotations

from typing import TYPE_CHECKING, cast

from faust.tables.manager import TableManager
from faust.tables.recovery import Recovery
from faust.web import Request, Response, View
from prometheus_client import CollectorRegistry, generate_latest

from streamproc.runtime.metrics import CONTENT_TYPE, Metrics

if TYPE_CHECKING:
    from streamproc.runtime.apps import StreamprocApp

__all__ = ["install_web", "ready", "watch_recovery"]


def ready(app: StreamprocApp) -> bool:
    """Whether ``app`` has partitions assigned, is not rebalancing, has recovered its tables and,
    for a sink app, has started its sinks (not while a start-up outage is waited out)."""
    from streamproc.runtime.sink_app import SinkRole  # here: sink_app imports this module

    runtime = app.streamproc
    return (
        (not isinstance(runtime, SinkRole) or runtime.started)
        and bool(app.consumer.assignment())
        and not app.rebalancing
        and not app.in_recovery
        and cast(TableManager, app.tables).recovery.completed.is_set()
    )


def watch_recovery(app: StreamprocApp, metrics: Metrics) -> None:
    """Publish ``app``'s table recovery (Faust's public ``Recovery`` counters) as
    ``streamproc_table_recovery_active`` and ``…_remaining``, computed at each scrape."""

    def recovery() -> Recovery:
        return cast(TableManager, app.tables).recovery

    metrics.recovery_active.labels(app.conf.id).set_function(
        lambda: 1.0 if app.in_recovery or not recovery().completed.is_set() else 0.0
    )
    metrics.recovery_remaining.labels(app.conf.id, "active").set_function(
        lambda: float(recovery().active_remaining_total())
    )
    metrics.recovery_remaining.labels(app.conf.id, "standby").set_function(
        lambda: float(recovery().standby_remaining_total())
    )


def install_web(app: StreamprocApp, registry: CollectorRegistry) -> None:
    """/metrics (``registry``: every role of this process), /livez, /readyz (every app in
    ``app.web_apps`` — the worker adds the other apps of the process — ready, see :func:`ready`)."""

    @app.page("/metrics")
    async def metrics_page(web: View, request: Request) -> Response:
        return web.bytes(generate_latest(registry), content_type=CONTENT_TYPE)

    @app.page("/livez")
    async def livez(web: View, request: Request) -> Response:
        return web.json({"status": "ok"})

    @app.page("/readyz")
    async def readyz(web: View, request: Request) -> Response:
        up = all(ready(a) for a in app.web_apps)
        return web.json({"ready": up}, status=200 if up else 503)
