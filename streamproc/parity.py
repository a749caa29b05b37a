"""``streamproc parity``: compare two trigger-compatible S3 trees document by document.

Typical use: the Atlas triggers write ``s3://bucket/prod/<collection>/`` and a shadow streamproc
writes ``s3://bucket/dev/<collection>/``. Objects are paired by their base key
``<documentId>-<sourceMillis>`` (parts ``…-0``, ``…-1``, … joined in order); a pair matches when
the SHA-256 of the concatenated parts is equal on both sides. The match rate is
``matches / (union of pairs) * 100``.

Exit codes: 0 rate at or above the threshold, 1 below it (or nothing to compare, or S3 could
not be reached), 2 usage errors (bad URL, bad ``--since``, missing bucket, access denied).
"""

from __future__ import annotations

import argparse
import datetime as _dt
import hashlib
import re
import sys
from collections.abc import Iterable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict, dataclass, field
from typing import Any, TextIO

from streamproc.errors import ConfigError
from streamproc.jsonutil import dumps_str

__all__ = [
    "S3Url",
    "parse_s3_url",
    "parse_since",
    "parse_object_name",
    "Tree",
    "ParityReport",
    "list_tree",
    "compare",
    "run_parity",
    "client_from_settings",
    "add_arguments",
    "run_parity_args",
]

_DIGITS = re.compile(r"[0-9]+")
#: Part indexes have fewer digits than any sourceMillis after 1970-04-26 (10 digits).
_PART_DIGITS = 9


@dataclass(frozen=True, slots=True)
class S3Url:
    bucket: str
    prefix: str  # "" or ending with "/"

    def __str__(self) -> str:
        return f"s3://{self.bucket}/{self.prefix}"


_BUCKET = re.compile(r"[a-z0-9][a-z0-9.\-_]{1,253}[a-z0-9]")


def parse_s3_url(url: str) -> S3Url:
    """``s3://bucket/prefix`` → :class:`S3Url` (the prefix gains a trailing slash); ConfigError otherwise."""
    if not isinstance(url, str) or not url.startswith("s3://"):
        raise ConfigError(f"{url!r}: not an s3:// URL (expected s3://bucket/env/collection)")
    bucket, _, prefix = url[5:].partition("/")
    if not _BUCKET.fullmatch(bucket):
        raise ConfigError(f"{url!r}: '{bucket}' is not a valid bucket name")
    prefix = prefix.strip("/")
    return S3Url(bucket, prefix + "/" if prefix else "")


def parse_since(value: str | None) -> int | None:
    """ISO 8601 date or date-time (naive means UTC) → epoch milliseconds."""
    if value is None or value == "":
        return None
    try:
        t = _dt.datetime.fromisoformat(value.replace("Z", "+00:00") if value.endswith("Z") else value)
    except ValueError:
        raise ConfigError(f"--since {value!r}: not an ISO 8601 date or date-time") from None
    if t.tzinfo is None:
        t = t.replace(tzinfo=_dt.UTC)
    return int(t.timestamp() * 1000)


def parse_object_name(name: str) -> tuple[str, int, int | None] | None:
    """``<documentId>-<sourceMillis>[-<part>]`` → (documentId, sourceMillis, part or None).

    A trailing number is a part index when it has at most 9 digits and follows another number
    (sourceMillis has 13 digits for any time after 2001). ``None`` when the name is not one."""
    head, sep, last = name.rpartition("-")
    if not sep or not head or not _DIGITS.fullmatch(last):
        return None
    doc, sep2, mid = head.rpartition("-")
    if sep2 and doc and _DIGITS.fullmatch(mid) and len(last) <= _PART_DIGITS < len(mid):
        return doc, int(mid), int(last)
    return head, int(last), None


@dataclass(slots=True)
class Tree:
    """One side: base key → its object keys in part order."""

    url: S3Url
    documents: dict[tuple[str, int], list[str]] = field(default_factory=dict)
    objects: int = 0
    unrecognised: int = 0


def list_tree(client: Any, url: S3Url, since_ms: int | None = None) -> Tree:
    """Every object under the prefix (ListObjectsV2, paginated), grouped by document and source time."""
    tree = Tree(url)
    parts: dict[tuple[str, int], list[tuple[int, str]]] = {}
    paginator = client.get_paginator("list_objects_v2")
    for page in paginator.paginate(Bucket=url.bucket, Prefix=url.prefix):
        for obj in page.get("Contents") or ():
            key = obj["Key"]
            parsed = parse_object_name(key[len(url.prefix):])
            if parsed is None:
                tree.unrecognised += 1
                continue
            doc, ms, part = parsed
            if since_ms is not None and ms < since_ms:
                continue
            tree.objects += 1
            parts.setdefault((doc, ms), []).append((-1 if part is None else part, key))
    for base, items in parts.items():
        tree.documents[base] = [k for _, k in sorted(items)]
    return tree


def _checksum(client: Any, bucket: str, keys: list[str]) -> str:
    h = hashlib.sha256()
    for key in keys:
        body = client.get_object(Bucket=bucket, Key=key)["Body"]
        while chunk := body.read(1 << 20):
            h.update(chunk)
    return h.hexdigest()


@dataclass(slots=True)
class ParityReport:
    left: str
    right: str
    left_documents: int
    right_documents: int
    left_objects: int
    right_objects: int
    left_unrecognised: int
    right_unrecognised: int
    pairs: int
    matches: int
    mismatches: int
    missing_left: int  # only on the right
    missing_right: int  # only on the left
    match_rate: float
    threshold: float
    since_ms: int | None

    @property
    def passed(self) -> bool:
        return self.pairs > 0 and self.match_rate >= self.threshold

    def to_json(self) -> dict[str, Any]:
        return {**asdict(self), "passed": self.passed}


def compare(client: Any, left: Tree, right: Tree, threshold: float, since_ms: int | None = None,
            workers: int = 16) -> ParityReport:
    common = sorted(left.documents.keys() & right.documents.keys())
    jobs = [(left.url.bucket, left.documents[b]) for b in common] + [(right.url.bucket, right.documents[b]) for b in common]
    with ThreadPoolExecutor(max(1, workers)) as pool:
        sums = list(pool.map(lambda job: _checksum(client, *job), jobs))
    n = len(common)
    matches = sum(1 for i in range(n) if sums[i] == sums[n + i])
    missing_left = len(right.documents.keys() - left.documents.keys())
    missing_right = len(left.documents.keys() - right.documents.keys())
    pairs = n + missing_left + missing_right
    return ParityReport(
        left=str(left.url), right=str(right.url),
        left_documents=len(left.documents), right_documents=len(right.documents),
        left_objects=left.objects, right_objects=right.objects,
        left_unrecognised=left.unrecognised, right_unrecognised=right.unrecognised,
        pairs=pairs, matches=matches, mismatches=n - matches,
        missing_left=missing_left, missing_right=missing_right,
        match_rate=round(matches / pairs * 100, 4) if pairs else 0.0,
        threshold=threshold, since_ms=since_ms,
    )


def _human(r: ParityReport) -> Iterable[str]:
    yield f"left:  {r.left}  {r.left_documents} documents in {r.left_objects} objects"
    yield f"right: {r.right}  {r.right_documents} documents in {r.right_objects} objects"
    if r.since_ms is not None:
        since = _dt.datetime.fromtimestamp(r.since_ms / 1000, tz=_dt.UTC).isoformat()
        yield f"since: {since} (sourceMillis >= {r.since_ms})"
    if r.left_unrecognised or r.right_unrecognised:
        yield f"ignored keys not named <documentId>-<sourceMillis>: left {r.left_unrecognised}, right {r.right_unrecognised}"
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


def _aws_failure(exc: Exception, url: S3Url) -> tuple[int, str]:
    from botocore.exceptions import BotoCoreError, ClientError

    if isinstance(exc, ClientError):
        code = str((exc.response.get("Error") or {}).get("Code") or "")
        status = int((exc.response.get("ResponseMetadata") or {}).get("HTTPStatusCode") or 0)
        if code == "NoSuchBucket" or status == 404:
            return 2, f"{url}: bucket '{url.bucket}' does not exist"
        if code in ("AccessDenied", "InvalidAccessKeyId", "SignatureDoesNotMatch") or status == 403:
            return 2, f"{url}: access denied ({code or status}); check credentials and IAM policy"
        return 1, f"{url}: S3 answered {code or status}"
    if isinstance(exc, BotoCoreError):
        return 1, f"{url}: cannot reach S3 ({type(exc).__name__})"
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
        return 2
    trees: list[Tree] = []
    for url in (lurl, rurl):
        try:
            trees.append(list_tree(s3_client, url, since_ms))
        except Exception as exc:
            code, message = _aws_failure(exc, url)
            err.write(f"streamproc parity: {message}\n")
            return code
    try:
        report = compare(s3_client, trees[0], trees[1], threshold, since_ms, workers)
    except Exception as exc:
        code, message = _aws_failure(exc, lurl)
        err.write(f"streamproc parity: {message}\n")
        return code
    if as_json:
        out.write(dumps_str(report.to_json()) + "\n")
    else:
        for line in _human(report):
            out.write(line + "\n")
    out.flush()
    return 0 if report.passed else 1


def client_from_settings(settings: Any = None) -> Any:
    """A boto3 S3 client from ``Settings().aws`` (endpoint, region, credentials)."""
    from streamproc.settings import load_settings
    from streamproc.sinks.aws import make_client

    return make_client("s3", (settings or load_settings()).aws)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--left", required=True, help="s3://bucket/env/collection (e.g. the triggers' prod/)")
    parser.add_argument("--right", required=True, help="s3://bucket/env/collection (e.g. streamproc's dev/)")
    parser.add_argument("--since", default=None, help="only changes with sourceMillis at or after this ISO time")
    parser.add_argument("--threshold", type=float, default=99.9, help="minimum match rate in percent (default 99.9)")
    parser.add_argument("--json", dest="as_json", action="store_true", help="print one JSON object")


def run_parity_args(args: argparse.Namespace, out: TextIO | None = None, s3_client: Any = None) -> int:
    """The body of ``streamproc parity`` for arguments added by :func:`add_arguments`."""
    client = s3_client if s3_client is not None else client_from_settings()
    return run_parity(args.left, args.right, args.since, args.threshold, args.as_json, out or sys.stdout, client)
