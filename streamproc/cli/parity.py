"""``streamproc parity``: compare two trigger-compatible S3 trees and print the report.

The comparison and the S3 listing are in :mod:`streamproc.sinks.s3.parity`; this module adds the
arguments, the S3 client from the settings (``STREAMPROC_AWS__*``), the report text and the exit
code: ``OK`` (0) when the match rate is at or above the threshold, ``FAILURE`` (1) below it (or
nothing to compare, or S3 could not be reached), ``USAGE`` (2) for usage errors (bad URL, bad
``--since``, missing bucket, access denied).
"""

from __future__ import annotations

import argparse
import datetime as _dt
import sys
from collections.abc import Iterable
from typing import TYPE_CHECKING, Any, TextIO

from streamproc.errors import ConfigError, ExitCode
from streamproc.jsonutil import dumps_str
from streamproc.sinks.s3.parity import (
    ParityReport,
    S3Url,
    SideFailure,
    Tree,
    compare,
    list_tree,
    parse_s3_url,
    parse_since,
)

if TYPE_CHECKING:
    from streamproc.config.settings import Settings

__all__ = ["add_arguments", "run", "run_parity", "client_from_settings"]


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """The arguments of ``streamproc parity``."""
    parser.add_argument("--left", required=True, help="s3://bucket/env/collection (e.g. the triggers' prod/)")
    parser.add_argument("--right", required=True, help="s3://bucket/env/collection (e.g. streamproc's dev/)")
    parser.add_argument("--since", default=None, help="only changes with sourceMillis at or after this ISO time")
    parser.add_argument("--threshold", type=float, default=99.9, help="minimum match rate in percent (default 99.9)")
    parser.add_argument("--json", dest="as_json", action="store_true", help="print one JSON object")


def run(args: argparse.Namespace, out: TextIO | None = None, s3_client: Any = None) -> int:
    """The body of ``streamproc parity`` for arguments added by :func:`add_arguments`; without
    ``s3_client``, a client is built from the settings."""
    client = s3_client if s3_client is not None else client_from_settings()
    return run_parity(args.left, args.right, args.since, args.threshold, args.as_json, out or sys.stdout, client)


def client_from_settings(settings: Settings | None = None) -> Any:
    """A boto3 S3 client from ``Settings().aws`` (endpoint, region, credentials)."""
    from streamproc.config.settings import load_settings
    from streamproc.sinks.s3.aws import make_client

    return make_client("s3", (settings or load_settings()).aws)


def _human(r: ParityReport) -> Iterable[str]:
    yield f"left:  {r.left}  {r.left_documents} documents in {r.left_objects} objects"
    yield f"right: {r.right}  {r.right_documents} documents in {r.right_objects} objects"
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
    if not r.pairs:
        yield "match rate: n/a — no documents under either prefix, nothing was compared → FAIL"
        return
    verdict = "PASS" if r.passed else "FAIL"
    yield f"match rate: {r.match_rate:.2f}% (threshold {r.threshold:g}%) → {verdict}"


def _aws_failure(exc: BaseException, url: S3Url) -> tuple[ExitCode, str]:
    """Exit code and message of an S3 failure on the side ``url``; any other exception is re-raised.
    Messages name the side, the bucket and the AWS error code, never an object key."""
    from botocore.exceptions import BotoCoreError, ClientError

    from streamproc.sinks.s3.errors import DENIED_CODES, NO_KEY_CODES, code_status

    if isinstance(exc, ClientError):
        code, status = code_status(exc)
        what = code or str(status)
        if code == "NoSuchBucket":
            return ExitCode.USAGE, f"{url}: bucket '{url.bucket}' does not exist"
        if code in DENIED_CODES or status in (401, 403):
            return ExitCode.USAGE, f"{url}: access denied ({what}); check credentials and IAM policy"
        if code in NO_KEY_CODES:
            return ExitCode.FAILURE, f"{url}: an object vanished between listing and reading ({what}); run again"
        return ExitCode.FAILURE, f"{url}: S3 answered {what}"
    if isinstance(exc, BotoCoreError):
        return ExitCode.FAILURE, f"{url}: cannot reach S3 ({type(exc).__name__})"
    raise exc


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
) -> int:
    """Compare ``left`` and ``right`` (``s3://bucket/prefix``), print the report, return the exit code."""
    err = err or sys.stderr
    try:
        lurl, rurl = parse_s3_url(left), parse_s3_url(right)
        since_ms = parse_since(since)
        if not 0 <= threshold <= 100:
            raise ConfigError(f"--threshold {threshold}: must be between 0 and 100")
    except ConfigError as exc:
        err.write(f"streamproc parity: {exc}\n")
        return ExitCode.USAGE
    trees: list[Tree] = []
    for url in (lurl, rurl):
        try:
            trees.append(list_tree(s3_client, url, since_ms))
        except Exception as exc:  # noqa: BLE001 - _aws_failure re-raises anything that is not botocore's
            code, message = _aws_failure(exc, url)
            err.write(f"streamproc parity: {message}\n")
            return code
    try:
        report = compare(s3_client, trees[0], trees[1], threshold, since_ms, workers)
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
