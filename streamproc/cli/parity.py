"""``streamproc parity``: compare two trigger-compatible trees (S3 prefixes or local directories)
and print the report: counts per class, the match rate, ``--explain N`` examples (object keys
and field paths, never a value), ``--json`` the same as one JSON document.

The trees are listed and read by :mod:`streamproc.sinks.s3.parity`, classified by
:mod:`streamproc.sinks.s3.parity_compare`; with ``--config`` each left (trigger-side) document is
run through the entity's pipeline first (:mod:`streamproc.runtime.parity_pipeline`). Exit code:
``OK`` (0) when the match rate is at or above the threshold, ``FAILURE`` (1) below it (or nothing
to compare, or a side could not be read), ``USAGE`` (2) for usage and config errors (bad URL or
directory, bad ``--since``, missing bucket, access denied, an invalid pipelines file).
"""

from __future__ import annotations

import argparse
import datetime as _dt
import sys
from collections.abc import Iterable
from pathlib import Path
from typing import TYPE_CHECKING, Any, TextIO

from streamproc.errors import ConfigError, ExitCode
from streamproc.jsonutil import dumps_str
from streamproc.sinks.s3.parity import (
    LocalDir,
    Location,
    SideFailure,
    Tree,
    list_tree,
    parse_location,
    parse_since,
)
from streamproc.sinks.s3.parity_classes import CLASSES, Pipeline
from streamproc.sinks.s3.parity_compare import ParityReport, compare

if TYPE_CHECKING:
    from streamproc.config.settings import Settings

__all__ = ["add_arguments", "run", "run_parity", "client_from_settings"]


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """The arguments of ``streamproc parity``."""
    parser.add_argument(
        "--left", required=True, help="s3://bucket/env/collection or a local copy (e.g. the triggers' prod/)"
    )
    parser.add_argument(
        "--right", required=True, help="s3://bucket/env/collection or a local copy (e.g. streamproc's dev/)"
    )
    parser.add_argument("--since", default=None, help="only changes with sourceMillis at or after this ISO time")
    parser.add_argument("--threshold", type=float, default=99.9, help="minimum match rate in percent (default 99.9)")
    parser.add_argument("--json", dest="as_json", action="store_true", help="print one JSON object")
    parser.add_argument(
        "--config", type=Path, default=None, help="pipelines file: run each left document through its pipeline"
    )
    parser.add_argument("--entity", default=None, help="with --config: the source (default: from the left path)")
    parser.add_argument("--explain", type=int, default=0, metavar="N", help="up to N examples per class (keys, paths)")
    parser.add_argument("--numeric-equal", action="store_true", help="count numeric-representation pairs as matches")


def run(args: argparse.Namespace, out: TextIO | None = None, s3_client: Any = None) -> int:
    """The body of ``streamproc parity`` for arguments added by :func:`add_arguments`; without
    ``s3_client``, a client is built from the settings when a side is on S3."""
    local = all(not str(x).startswith("s3://") for x in (args.left, args.right))
    client = s3_client if s3_client is not None or local else client_from_settings()
    return run_parity(
        args.left,
        args.right,
        args.since,
        args.threshold,
        args.as_json,
        out or sys.stdout,
        client,
        config=args.config,
        entity=args.entity,
        explain=args.explain,
        numeric_equal=args.numeric_equal,
    )


def client_from_settings(settings: Settings | None = None) -> Any:
    """A boto3 S3 client from ``Settings().aws`` (endpoint, region, credentials)."""
    from streamproc.config.settings import load_settings
    from streamproc.sinks.s3.aws import make_client

    return make_client("s3", (settings or load_settings()).aws)


def _human(r: ParityReport) -> Iterable[str]:
    yield f"left:  {r.left}  {r.left_documents} documents in {r.left_objects} objects"
    yield f"right: {r.right}  {r.right_documents} documents in {r.right_objects} objects"
    if r.pipeline is not None:
        yield f"pipeline: left documents run through the pipeline of entity '{r.pipeline}'"
    if r.since_ms is not None:
        since = _dt.datetime.fromtimestamp(r.since_ms / 1000, tz=_dt.UTC).isoformat()
        yield f"since: {since} (sourceMillis >= {r.since_ms})"
    if r.left_unrecognised or r.right_unrecognised:
        yield (
            "ignored keys not named <documentId>-<sourceMillis>: "
            f"left {r.left_unrecognised}, right {r.right_unrecognised}"
        )
    yield f"pairs:            {r.pairs}"
    yield f"matches:          {r.matches}"
    yield f"mismatches:       {r.mismatches}"
    yield f"missing on left:  {r.missing_left}  (only on the right)"
    yield f"missing on right: {r.missing_right}  (only on the left)"
    yield "classes:"
    for cls in CLASSES:
        rules = ""
        if cls == "dlq-by-rule" and r.rules:
            rules = "  (" + ", ".join(f"{name}: {n}" for name, n in r.rules.items()) + ")"
        yield f"  {cls:<24}{r.classes.get(cls, 0):>8}{rules}"
    for cls, examples in r.examples.items():
        yield f"examples of {cls}:"
        for ex in examples:
            extra = ""
            if "paths" in ex:
                extra = "  fields: " + (", ".join(p or "<whole document>" for p in ex["paths"]) or "-")
            if "rule" in ex:
                extra = f"  rule: {ex['rule']}"
            yield f"  {ex['key']}{extra}"
    if not r.pairs:
        yield "match rate: n/a — no documents under either prefix, nothing was compared → FAIL"
        return
    verdict = "PASS" if r.passed else "FAIL"
    counted = "identical + equal-after-pipeline" + (" + numeric-representation" if r.numeric_equal else "")
    yield f"match rate: {r.match_rate:.2f}% ({counted}; threshold {r.threshold:g}%) → {verdict}"


def _aws_failure(exc: BaseException, url: Location) -> tuple[ExitCode, str]:
    """Exit code and message of a failure to read the side ``url`` (S3, or a local directory);
    any other exception is re-raised. Messages name the side, the bucket and the AWS error code
    (or the OS error's name), never an object key."""
    from botocore.exceptions import BotoCoreError, ClientError

    if isinstance(exc, OSError) and isinstance(url, LocalDir):
        return ExitCode.FAILURE, f"{url}: cannot read the directory ({type(exc).__name__})"
    if isinstance(url, LocalDir):
        raise exc

    from streamproc.sinks.s3.errors import DENIED_CODES, NO_KEY_CODES, code_status

    if isinstance(exc, ClientError):
        code, status = code_status(exc)
        what = code or str(status)
        if code == "NoSuchBucket":
            return ExitCode.USAGE, f"{url}: bucket '{getattr(url, 'bucket', '')}' does not exist"
        if code in DENIED_CODES or status in (401, 403):
            return ExitCode.USAGE, f"{url}: access denied ({what}); check credentials and IAM policy"
        if code in NO_KEY_CODES:
            return ExitCode.FAILURE, f"{url}: an object vanished between listing and reading ({what}); run again"
        return ExitCode.FAILURE, f"{url}: S3 answered {what}"
    if isinstance(exc, BotoCoreError):
        return ExitCode.FAILURE, f"{url}: cannot reach S3 ({type(exc).__name__})"
    raise exc


def _pipeline(config: Path, entity: str | None, left: Location, settings: Settings | None) -> tuple[Pipeline, str]:
    from streamproc.config.loader import load_pipelines
    from streamproc.config.settings import load_settings
    from streamproc.runtime.parity_pipeline import entity_of, parity_pipeline

    spec = load_pipelines(config)
    collection = (left.path.name if isinstance(left, LocalDir) else left.prefix.rstrip("/").rsplit("/", 1)[-1]) or ""
    name = entity_of(spec, collection, entity)
    return parity_pipeline(settings or load_settings(), spec, name), name


def run_parity(
    left: str,
    right: str,
    since: str | None,
    threshold: float,
    as_json: bool,
    out: TextIO,
    s3_client: Any,
    *,
    err: TextIO | None = None,
    workers: int = 16,
    config: Path | None = None,
    entity: str | None = None,
    explain: int = 0,
    numeric_equal: bool = False,
    settings: Settings | None = None,
) -> int:
    """Compare ``left`` and ``right`` (``s3://bucket/prefix`` or a directory), print the report,
    return the exit code. ``settings`` (default: from the environment) gives the redaction key."""
    err = err or sys.stderr
    pipeline: Pipeline | None = None
    name: str | None = None
    try:
        lurl, rurl = parse_location(left), parse_location(right)
        since_ms = parse_since(since)
        if not 0 <= threshold <= 100:
            raise ConfigError(f"--threshold {threshold}: must be between 0 and 100")
        if explain < 0:
            raise ConfigError(f"--explain {explain}: must be 0 or more")
        if config is not None:
            pipeline, name = _pipeline(config, entity, lurl, settings)
    except ConfigError as exc:
        err.write(f"streamproc parity: {exc}\n")
        return ExitCode.USAGE
    trees: list[Tree] = []
    for url in (lurl, rurl):
        try:
            trees.append(list_tree(s3_client, url, since_ms))
        except Exception as exc:  # noqa: BLE001 - _aws_failure re-raises anything that is not an I/O failure
            code, message = _aws_failure(exc.__cause__ or exc if isinstance(exc, SideFailure) else exc, url)
            err.write(f"streamproc parity: {message}\n")
            return code
    try:
        report = compare(
            s3_client,
            trees[0],
            trees[1],
            threshold,
            since_ms,
            workers,
            pipeline=pipeline,
            entity=name,
            explain=explain,
            numeric_equal=numeric_equal,
        )
    except SideFailure as exc:
        code, message = _aws_failure(exc.__cause__ or exc, exc.url)
        err.write(f"streamproc parity: {message}\n")
        return code
    if as_json:
        out.write(dumps_str(report.to_json()) + "\n")
    else:
        for line in _human(report):
            out.write(line + "\n")
    out.flush()
    return ExitCode.OK if report.passed else ExitCode.FAILURE
