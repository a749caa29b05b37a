"""``streamproc <command>``: the argument parser of every command and the dispatch to its module
(worker, dev, decode, dry-run, parity, opensearch init, replay, dlq, demo).

Exit codes are :class:`~streamproc.errors.ExitCode`: ``OK`` done, ``FAILURE`` runtime failure,
``USAGE`` usage or configuration error, ``SOFTWARE`` an unexpected error, ``INTERRUPTED`` on Ctrl-C.
A reader that closes the output early (``streamproc decode … | head``) ends the command quietly
with ``OK``: it had what it wanted.

Nothing printed here quotes a value: configuration errors name variables and paths, and an
unexpected exception is reported by its type and stack frames, never its message (a library's
message may quote a payload or a secret).
"""

from __future__ import annotations

import argparse
import logging
import os
import sys
import traceback
from collections.abc import Sequence

from streamproc.cli import decode, demo, dev, dlq, dryrun, opensearch, parity, replay, worker
from streamproc.errors import ConfigError, ExitCode, StreamprocError

__all__ = ["build_parser", "main", "unexpected_error_text"]


def build_parser() -> argparse.ArgumentParser:
    """The whole ``streamproc`` parser; each sub-command's ``func`` runs it."""
    p = argparse.ArgumentParser(
        prog="streamproc",
        description="streamproc: worker, dev, decode, dry-run, parity, opensearch init, replay, dlq, demo",
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

    pa = sub.add_parser(
        "parity", help="compare two trigger-compatible trees, S3 or local (shadow-mode parity, classes per pair)"
    )
    parity.add_arguments(pa)
    pa.set_defaults(func=parity.run)

    osp = sub.add_parser("opensearch", help="OpenSearch administration")
    opensearch.add_arguments(osp)

    rp = sub.add_parser("replay", help="reset a role's consumer group offsets (preview by default)")
    replay.add_arguments(rp)
    rp.set_defaults(func=replay.run)

    dq = sub.add_parser("dlq", help="inspect the dead-letter topic and re-inject its records")
    dlq.add_arguments(dq)

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
        code = int(args.func(args) or ExitCode.OK)
        sys.stdout.flush()  # a closed pipe shows here, not in the interpreter's last flush
        return code
    except BrokenPipeError:
        _discard_stdout()
        return ExitCode.OK
    except ConfigError as exc:
        print(f"streamproc: configuration error: {exc}", file=sys.stderr)
        return ExitCode.USAGE
    except StreamprocError as exc:
        print(f"streamproc: {exc}", file=sys.stderr)
        return ExitCode.FAILURE
    except KeyboardInterrupt:
        return ExitCode.INTERRUPTED
    except Exception as exc:  # noqa: BLE001 - the last boundary: report without the message
        sys.stderr.write(unexpected_error_text(exc))
        return ExitCode.SOFTWARE


def unexpected_error_text(exc: BaseException) -> str:
    """What the CLI prints for an exception it does not know: the types of the exception and its
    causes, and the stack frames (file, line, code), without any message: a message may quote a
    value. An ``OSError`` keeps its errno text, which holds none."""
    chain: list[str] = []
    seen: BaseException | None = exc
    while seen is not None and len(chain) < 10:
        name = type(seen).__name__
        if isinstance(seen, OSError) and seen.strerror:
            name = f"{name} [{seen.strerror}]"
        chain.append(name)
        seen = seen.__cause__ or (None if seen.__suppress_context__ else seen.__context__)
    frames = "".join(traceback.format_tb(exc.__traceback__))
    return (
        f"streamproc: unexpected error: {' caused by '.join(chain)} (message withheld: it may quote data)\n"
        f"where (most recent call last):\n{frames}"
    )


def _discard_stdout() -> None:
    """Point stdout at /dev/null, so that flushing what is left at exit raises no second error."""
    try:
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
    except (OSError, ValueError):  # no real descriptor (a test's captured stdout)
        pass


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
