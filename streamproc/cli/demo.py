"""``streamproc demo``: the embedded broker, a generated change stream, the worker and a report."""

from __future__ import annotations

import argparse

__all__ = ["add_arguments", "run"]


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--documents", type=int, default=100, help="documents per collection")
    parser.add_argument("--updates", type=int, default=3, help="updates per document (average)")
    parser.add_argument("--timeout", type=float, default=300.0, help="give up after this many seconds")


def run(args: argparse.Namespace) -> int:
    from streamproc.dev.demo.run import run_demo

    return run_demo(documents=args.documents, updates=args.updates, timeout=args.timeout)
