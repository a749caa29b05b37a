"""Shadow-mode parity, pure comparison and S3 listing: two trigger-compatible S3 trees compared
document by document (the command ``streamproc parity`` is in ``streamproc.cli.parity``).

Typical use: the Atlas triggers write ``s3://bucket/prod/<collection>/`` and a shadow streamproc
writes ``s3://bucket/dev/<collection>/``. Objects are paired by their base key
``<documentId>-<sourceMillis>`` (parts ``…-0``, ``…-1``, … joined in order); a pair matches when
the SHA-256 of the concatenated parts is equal on both sides. A pair whose parts have equal ETags
in the listing (in order) matches without a download; a pair whose total sizes differ does not;
only the others are downloaded and hashed (multipart and SSE-KMS ETags can differ for equal bytes,
so the hash decides). The match rate is ``matches / (union of pairs) * 100``.

The S3 client is passed in (any boto3-like S3 client); nothing here reads settings.
"""

from __future__ import annotations

import datetime as _dt
import hashlib
import re
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict, dataclass, field
from typing import Any

from streamproc.errors import ConfigError

__all__ = [
    "S3Url",
    "parse_s3_url",
    "parse_since",
    "parse_object_name",
    "Tree",
    "ParityReport",
    "SideFailure",
    "list_tree",
    "compare",
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
    """One side: base key → its object keys in part order; per object key its ETag and size as listed."""

    url: S3Url
    documents: dict[tuple[str, int], list[str]] = field(default_factory=dict)
    objects: int = 0
    unrecognised: int = 0
    etags: dict[str, str] = field(default_factory=dict)
    sizes: dict[str, int] = field(default_factory=dict)

    def etags_of(self, base: tuple[str, int]) -> list[str] | None:
        """The ETags of a document's parts in order; ``None`` when the listing lacked one."""
        tags = [self.etags.get(k) for k in self.documents[base]]
        return None if any(t is None for t in tags) else tags  # type: ignore[return-value]

    def size_of(self, base: tuple[str, int]) -> int | None:
        """The listed size of a document (its parts together); ``None`` when the listing lacked one."""
        sizes = [self.sizes.get(k) for k in self.documents[base]]
        return None if any(n is None for n in sizes) else sum(sizes)  # type: ignore[arg-type]


def list_tree(client: Any, url: S3Url, since_ms: int | None = None) -> Tree:
    """Every object under the prefix (ListObjectsV2, paginated), grouped by document and source time."""
    tree = Tree(url)
    parts: dict[tuple[str, int], list[tuple[int, str]]] = {}
    paginator = client.get_paginator("list_objects_v2")
    for page in paginator.paginate(Bucket=url.bucket, Prefix=url.prefix):
        for obj in page.get("Contents") or ():
            key = obj["Key"]
            parsed = parse_object_name(key[len(url.prefix) :])
            if parsed is None:
                tree.unrecognised += 1
                continue
            doc, ms, part = parsed
            if since_ms is not None and ms < since_ms:
                continue
            tree.objects += 1
            parts.setdefault((doc, ms), []).append((-1 if part is None else part, key))
            if obj.get("ETag"):
                tree.etags[key] = obj["ETag"]
            if isinstance(obj.get("Size"), int):
                tree.sizes[key] = obj["Size"]
    for base, items in parts.items():
        tree.documents[base] = [k for _, k in sorted(items)]
    return tree


class SideFailure(Exception):
    """An S3 call for one side failed; ``url`` names the side, ``__cause__`` is the SDK's exception."""

    def __init__(self, url: S3Url) -> None:
        super().__init__(str(url))
        self.url = url


def _checksum(client: Any, url: S3Url, keys: list[str]) -> str:
    h = hashlib.sha256()
    try:
        for key in keys:
            body = client.get_object(Bucket=url.bucket, Key=key)["Body"]
            while chunk := body.read(1 << 20):
                h.update(chunk)
    except Exception as exc:
        raise SideFailure(url) from exc
    return h.hexdigest()


def _same_without_download(left: Tree, right: Tree, base: tuple[str, int]) -> bool | None:
    """True: equal ETags part by part; False: different total sizes; None: only the bytes can tell."""
    tags = left.etags_of(base)
    if tags is not None and tags == right.etags_of(base):
        return True
    sizes = left.size_of(base), right.size_of(base)
    if None not in sizes and sizes[0] != sizes[1]:
        return False
    return None


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


def compare(
    client: Any, left: Tree, right: Tree, threshold: float, since_ms: int | None = None, workers: int = 16
) -> ParityReport:
    """Pair and compare the documents of two listed trees. A failed download raises
    :class:`SideFailure` naming the side (its ``__cause__`` is the SDK's exception)."""
    common = sorted(left.documents.keys() & right.documents.keys())
    known = {b: _same_without_download(left, right, b) for b in common}
    fetch = [b for b in common if known[b] is None]
    jobs = [(left.url, left.documents[b]) for b in fetch] + [(right.url, right.documents[b]) for b in fetch]
    with ThreadPoolExecutor(max(1, workers)) as pool:
        try:
            sums = list(pool.map(lambda job: _checksum(client, *job), jobs))
        except BaseException:
            pool.shutdown(wait=False, cancel_futures=True)  # no further downloads after a failure
            raise
    k = len(fetch)
    matches = sum(1 for same in known.values() if same) + sum(1 for i in range(k) if sums[i] == sums[k + i])
    n = len(common)
    missing_left = len(right.documents.keys() - left.documents.keys())
    missing_right = len(left.documents.keys() - right.documents.keys())
    pairs = n + missing_left + missing_right
    return ParityReport(
        left=str(left.url),
        right=str(right.url),
        left_documents=len(left.documents),
        right_documents=len(right.documents),
        left_objects=left.objects,
        right_objects=right.objects,
        left_unrecognised=left.unrecognised,
        right_unrecognised=right.unrecognised,
        pairs=pairs,
        matches=matches,
        mismatches=n - matches,
        missing_left=missing_left,
        missing_right=missing_right,
        match_rate=round(matches / pairs * 100, 4) if pairs else 0.0,
        threshold=threshold,
        since_ms=since_ms,
    )
