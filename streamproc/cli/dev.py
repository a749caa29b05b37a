"""``streamproc dev``: the worker on the embedded local broker, with local stand-ins for the
sinks' services."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from streamproc.cli.worker import add_common_arguments, run_worker
from streamproc.config.settings import load_settings
from streamproc.errors import ExitCode

__all__ = ["add_arguments", "run"]


def add_arguments(parser: argparse.ArgumentParser) -> None:
    add_common_arguments(parser)


def _say(msg: str) -> None:
    print(f"streamproc dev: {msg}", file=sys.stderr)


def run(args: argparse.Namespace) -> ExitCode:
    from streamproc.dev.broker import maybe_embedded
    from streamproc.dev.services import local_services

    base = load_settings(pipelines=args.config, dev=True)
    if args.allow_dev_key:
        base = base.allowing_dev_key()
    if base.kafka_bootstrap:  # a broker of one's own: the development key only if it is the embedded one
        from streamproc.runtime.processor import check_dev_key

        check_dev_key(base)
    log_path = Path(base.datadir) / "broker.log"
    with maybe_embedded(base.kafka_bootstrap, log_path=log_path) as bootstrap:
        _say(f"Kafka at {bootstrap} (export STREAMPROC_KAFKA_BOOTSTRAP={bootstrap} to reach it from another shell)")
        settings = base.model_copy(update={"kafka_bootstrap": bootstrap})
        with local_services(settings, _say) as services:
            return run_worker(services.settings, args.loglevel)
