"""``streamproc opensearch init``: install the index templates and the ISM policy (idempotent)."""

from __future__ import annotations

import argparse
import asyncio
import json

from streamproc.config.loader import load_pipelines
from streamproc.config.settings import load_settings
from streamproc.errors import ConfigError, ExitCode

__all__ = ["add_arguments", "add_init_arguments", "run_init"]


def add_init_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--config", default=None, help="pipelines YAML (default config/pipelines.yaml)")


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """The ``opensearch`` command's actions (``init``)."""
    actions = parser.add_subparsers(dest="action", required=True)
    init = actions.add_parser("init", help="install index templates and the ISM policy (idempotent)")
    add_init_arguments(init)
    init.set_defaults(func=run_init)


def run_init(args: argparse.Namespace) -> ExitCode:
    from streamproc.runtime.roles import entity_namespaces
    from streamproc.sinks.opensearch.admin import opensearch_init

    settings = load_settings(pipelines=args.config)
    spec = load_pipelines(settings.pipelines)
    if spec.sinks.opensearch is None:
        raise ConfigError(f"{settings.pipelines}: no 'opensearch' section under 'sinks:'")
    if not settings.opensearch.url:
        raise ConfigError("STREAMPROC_OPENSEARCH__URL is not set")
    report = asyncio.run(opensearch_init(settings.opensearch, spec.sinks.opensearch, entity_namespaces(settings, spec)))
    print(json.dumps(report.as_dict(), indent=2))
    return ExitCode.OK
