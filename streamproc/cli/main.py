"""``streamproc <command>``: worker, dev, decode, dry-run, parity, opensearch init, demo.

Exit codes: 0 done, 1 runtime failure, 2 usage or configuration error.
"""

from __future__ import annotations

import argparse
import gc
import logging
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import TextIO

from streamproc.errors import ConfigError, StreamprocError
from streamproc.model import FORMATS

__all__ = ["main"]


def _open_input(path: str | None) -> TextIO:
    if path in (None, "-"):
        return sys.stdin
    try:
        return open(path, encoding="utf-8")
    except OSError as exc:
        raise ConfigError(f"{path}: cannot open input ({exc.strerror})") from None


def _cmd_decode(args: argparse.Namespace) -> int:
    from streamproc.cli.decode import run_decode
    from streamproc.config.settings import load_settings
    from streamproc.sources import Decoder

    settings = load_settings()
    registry = None
    if settings.schema_registry_url:  # Avro records need the registry
        from confluent_kafka.schema_registry import SchemaRegistryClient

        registry = SchemaRegistryClient({"url": settings.schema_registry_url})
    with _open_input(args.input) as stream:
        return run_decode(stream, sys.stdout, args.format, Decoder(schema_registry=registry))


def _cmd_dry_run(args: argparse.Namespace) -> int:
    from streamproc.cli.dryrun import run_dry_run
    from streamproc.config.settings import load_pipelines, load_settings

    settings = load_settings(pipelines=args.config, dev=True)
    spec = load_pipelines(settings.pipelines)
    with _open_input(args.input) as stream:
        return run_dry_run(stream, sys.stdout, settings, spec, fmt=args.format)


def _run_worker(settings: object, loglevel: str, explicit: bool = False) -> int:
    from faust.worker import Worker

    from streamproc.runtime.worker import build_apps

    apps = build_apps(settings, explicit)  # type: ignore[arg-type]
    gc.collect()
    gc.freeze()  # start-up objects (Faust, pydantic, codecs) never need scanning again
    gc.set_threshold(20_000, 50, 100)
    worker = Worker(*apps, loglevel=loglevel, quiet=True)
    worker.execute_from_commandline()
    return 0


def _cmd_worker(args: argparse.Namespace) -> int:
    from streamproc.config.settings import load_settings

    settings = load_settings(pipelines=args.config, kafka_bootstrap=args.bootstrap, roles=args.role)
    settings.role_list()  # an unknown role is a usage error before anything starts
    return _run_worker(settings, args.loglevel, explicit=args.role is not None)


def _cmd_dev(args: argparse.Namespace) -> int:
    from streamproc.config.settings import load_settings
    from streamproc.dev.broker import maybe_embedded

    base = load_settings(pipelines=args.config, dev=True)
    log_path = Path(base.datadir) / "broker.log"
    with maybe_embedded(base.kafka_bootstrap, log_path=log_path) as bootstrap:
        print(
            f"streamproc dev: Kafka at {bootstrap} (export STREAMPROC_KAFKA_BOOTSTRAP={bootstrap} "
            "to reach it from another shell)",
            file=sys.stderr,
        )
        settings = base.model_copy(update={"kafka_bootstrap": bootstrap})
        from streamproc.dev.services import local_services

        say = lambda msg: print(f"streamproc dev: {msg}", file=sys.stderr)  # noqa: E731
        with local_services(settings, say) as services:
            return _run_worker(services.settings, args.loglevel)


def _cmd_parity(args: argparse.Namespace) -> int:
    from streamproc.sinks.s3.parity import run_parity_args

    return run_parity_args(args)


def _cmd_opensearch_init(args: argparse.Namespace) -> int:
    import asyncio
    import json

    from streamproc.config.settings import load_pipelines, load_settings
    from streamproc.runtime.sink_app import entity_namespaces
    from streamproc.sinks.opensearch.sink import opensearch_init

    settings = load_settings(pipelines=args.config)
    spec = load_pipelines(settings.pipelines)
    if spec.sinks.opensearch is None:
        raise ConfigError(f"{settings.pipelines}: no 'opensearch' section under 'sinks:'")
    if not settings.opensearch.url:
        raise ConfigError("STREAMPROC_OPENSEARCH__URL is not set")
    report = asyncio.run(opensearch_init(settings.opensearch, spec.sinks.opensearch, entity_namespaces(settings, spec)))
    print(json.dumps(report.as_dict(), indent=2))
    return 0


def _cmd_demo(args: argparse.Namespace) -> int:
    from streamproc.dev.demo.run import run_demo

    return run_demo(documents=args.documents, updates=args.updates, timeout=args.timeout)


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="streamproc", description="streamproc: worker, dev, decode, dry-run, parity, opensearch init, demo"
    )
    sub = p.add_subparsers(dest="command", required=True)

    def add_common(sp: argparse.ArgumentParser) -> None:
        sp.add_argument("--config", default=None, help="pipelines YAML (default config/pipelines.yaml)")
        sp.add_argument("-l", "--loglevel", default="info", choices=["debug", "info", "warning", "error"])

    w = sub.add_parser("worker", help="run the worker against STREAMPROC_KAFKA_BOOTSTRAP")
    add_common(w)
    w.add_argument(
        "--role",
        default=None,
        help="comma-separated roles: ingest, s3, opensearch, warehouse (default: every configured role)",
    )
    w.add_argument("--bootstrap", default=None, help="Kafka bootstrap servers (overrides the environment)")
    w.set_defaults(func=_cmd_worker)

    d = sub.add_parser("dev", help="run the worker on the embedded local broker (no Kafka needed)")
    add_common(d)
    d.set_defaults(func=_cmd_dev)

    dec = sub.add_parser("decode", help="decode a topic dump (JSON Lines) offline")
    dec.add_argument("input", nargs="?", default=None, help="file (default: stdin)")
    dec.add_argument("--format", choices=FORMATS, default=None, help="fix the wire format")
    dec.set_defaults(func=_cmd_decode)

    dr = sub.add_parser("dry-run", help="run a topic dump through the pipeline, no broker")
    dr.add_argument("--config", required=True, help="pipelines YAML to test")
    dr.add_argument("input", nargs="?", default=None, help="file (default: stdin)")
    dr.add_argument("--format", choices=FORMATS, default=None, help="fix the wire format")
    dr.set_defaults(func=_cmd_dry_run)

    from streamproc.sinks.s3.parity import add_arguments as parity_arguments

    pa = sub.add_parser("parity", help="compare two trigger-compatible S3 trees (shadow-mode parity)")
    parity_arguments(pa)
    pa.set_defaults(func=_cmd_parity)

    osp = sub.add_parser("opensearch", help="OpenSearch administration")
    ossub = osp.add_subparsers(dest="action", required=True)
    osi = ossub.add_parser("init", help="install index templates and the ISM policy (idempotent)")
    osi.add_argument("--config", default=None, help="pipelines YAML (default config/pipelines.yaml)")
    osi.set_defaults(func=_cmd_opensearch_init)

    dm = sub.add_parser("demo", help="embedded broker + generated change stream + worker + report")
    dm.add_argument("--documents", type=int, default=100, help="documents per collection")
    dm.add_argument("--updates", type=int, default=3, help="updates per document (average)")
    dm.add_argument("--timeout", type=float, default=300.0, help="give up after this many seconds")
    dm.set_defaults(func=_cmd_demo)
    return p


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if args.command in ("decode", "dry-run"):
        logging.basicConfig(level=logging.WARNING, stream=sys.stderr, format="%(levelname)s %(message)s")
    try:
        return int(args.func(args) or 0)
    except ConfigError as exc:
        print(f"streamproc: configuration error: {exc}", file=sys.stderr)
        return 2
    except StreamprocError as exc:
        print(f"streamproc: {exc}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        return 130


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
