"""``streamproc worker``: run the configured roles against ``STREAMPROC_KAFKA_BOOTSTRAP``."""

from __future__ import annotations

import argparse

from streamproc.config.settings import Settings, load_settings
from streamproc.errors import ExitCode

__all__ = ["add_common_arguments", "add_arguments", "run", "run_worker"]


def add_common_arguments(parser: argparse.ArgumentParser) -> None:
    """``--config``, ``--loglevel`` and ``--allow-dev-key``, shared by ``worker`` and ``dev``."""
    parser.add_argument("--config", default=None, help="pipelines YAML (default config/pipelines.yaml)")
    parser.add_argument("-l", "--loglevel", default="info", choices=["debug", "info", "warning", "error"])
    parser.add_argument(
        "--allow-dev-key",
        action="store_true",
        help="tests only: without STREAMPROC_REDACTION__KEY, redact with the public development key "
        "even on a broker that is not the embedded one",
    )


def add_arguments(parser: argparse.ArgumentParser) -> None:
    add_common_arguments(parser)
    parser.add_argument(
        "--role",
        default=None,
        help=(
            "comma-separated roles: ingest, s3, opensearch, warehouse, eventbridge, aggregations "
            "(default: every configured role)"
        ),
    )
    parser.add_argument("--bootstrap", default=None, help="Kafka bootstrap servers (overrides the environment)")


def run_worker(settings: Settings, loglevel: str, explicit: bool = False) -> ExitCode:
    """Build the apps of ``settings.roles`` and run them until the worker stops."""
    from streamproc.runtime import worker

    apps = worker.build_apps(settings, explicit)
    return worker.run(apps, loglevel)


def run(args: argparse.Namespace) -> ExitCode:
    settings = load_settings(pipelines=args.config, kafka_bootstrap=args.bootstrap, roles=args.role)
    if args.allow_dev_key:
        settings = settings.allowing_dev_key()
    settings.role_list()  # an unknown role is a usage error before anything starts
    return run_worker(settings, args.loglevel, explicit=args.role is not None)
