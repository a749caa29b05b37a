"""``streamproc <command>``: the argument parser of every command and the dispatch to its module
(worker, dev, decode, dry-run, parity, opensearch init, demo).

Exit codes are :class:`~streamproc.errors.ExitCode`: ``OK`` done, ``FAILURE`` runtime failure,
``USAGE`` usage or configuration error, ``INTERRUPTED`` on Ctrl-C.
"""

from __future__ import annotations

import argparse
import logging
import sys
from collections.abc import Sequence

from streamproc.cli import decode, demo, dev, dryrun, opensearch, parity, worker
from streamproc.errors import ConfigError, ExitCode, StreamprocError

__all__ = ["build_parser", "main"]


def build_parser() -> argparse.ArgumentParser:
    """The whole ``streamproc`` parser; each sub-command's ``func`` runs it."""
    p = argparse.ArgumentParser(
        prog="streamproc", description="streamproc: worker, dev, decode, dry-run, parity, opensearch init, demo"
    )
    sub = p.add_subparsers(dest="command", required=True)

    w = sub.add_parser("worker", help="run the worker against STREAMPROC_KAFKA_BOOTSTRAP")
    worker.add_arguments(w)
    w.set_defaults(func=worker.run)

    d = sub.add_parser("dev", help="run the worker on the embedded local broker (no Kafka needed)")
    dev.add_arguments(d)
    d.set_defaults(func=dev.run)

    dec = sub.add_parser("decode", help="decode a topic dump (JSON Lines) offline")
    decode.add_arguments(dec)
    dec.set_defaults(func=decode.run)

    dr = sub.add_parser("dry-run", help="run a topic dump through the pipeline, no broker")
    dryrun.add_arguments(dr)
    dr.set_defaults(func=dryrun.run)

    pa = sub.add_parser("parity", help="compare two trigger-compatible S3 trees (shadow-mode parity)")
    parity.add_arguments(pa)
    pa.set_defaults(func=parity.run)

    osp = sub.add_parser("opensearch", help="OpenSearch administration")
    opensearch.add_arguments(osp)

    dm = sub.add_parser("demo", help="embedded broker + generated change stream + worker + report")
    demo.add_arguments(dm)
    dm.set_defaults(func=demo.run)
    return p


def main(argv: Sequence[str] | None = None) -> int:
    """Run the command of ``argv`` (default: ``sys.argv[1:]``) and return its exit code."""
    parser = build_parser()
    args = parser.parse_args(argv)
    if args.command in ("decode", "dry-run"):
        logging.basicConfig(level=logging.WARNING, stream=sys.stderr, format="%(levelname)s %(message)s")
    try:
        return int(args.func(args) or ExitCode.OK)
    except ConfigError as exc:
        print(f"streamproc: configuration error: {exc}", file=sys.stderr)
        return ExitCode.USAGE
    except StreamprocError as exc:
        print(f"streamproc: {exc}", file=sys.stderr)
        return ExitCode.FAILURE
    except KeyboardInterrupt:
        return ExitCode.INTERRUPTED


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
