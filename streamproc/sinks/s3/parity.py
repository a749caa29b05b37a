"""Shadow-mode parity, the trees: two trigger-compatible trees listed and read (the comparison
is in :mod:`.parity_compare`, the classes in :mod:`.parity_classes`, the command ``streamproc
parity`` in ``streamproc.cli.parity``).

Typical use: the Atlas triggers write ``s3://bucket/prod/<collection>/`` and a shadow streamproc
writes ``s3://bucket/dev/<collection>/``. A side is ``s3://bucket/prefix`` or a local directory
holding the same tree (as ``aws s3 sync s3://bucket/prefix DIR`` writes it: one file per object,
its path the key below the prefix). Objects are grouped by their base key
``<documentId>-<sourceMillis>`` (parts ``…-0``, ``…-1``, … joined in order).

The S3 client is passed in (any boto3-like S3 client); nothing here reads settings.
"""

from __future__ import annotations

import datetime as _dt
import os
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from streamproc.errors import ConfigError

__all__ = [
    "S3Url",
    "LocalDir",
    "Location",
    "parse_s3_url",
    "parse_location",
    "parse_since",
    "parse_object_name",
    "Tree",
    "SideFailure",
    "list_tree",
    "read_document",
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


@dataclass(frozen=True, slots=True)
class LocalDir:
    """A local directory holding a tree as ``aws s3 sync`` writes it."""

    path: Path

    def __str__(self) -> str:
        return f"{self.path}/"


Location = S3Url | LocalDir

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


def parse_location(value: str) -> Location:
    """``s3://bucket/prefix`` or an existing local directory; ConfigError otherwise."""
    if isinstance(value, str) and not value.startswith("s3://") and value and Path(value).is_dir():
        return LocalDir(Path(value))
    try:
        return parse_s3_url(value)
    except ConfigError as exc:
        if isinstance(value, str) and not value.startswith("s3://"):
            raise ConfigError(f"{value!r}: not an s3:// URL (s3://bucket/env/collection) nor a directory") from None
        raise exc


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

    url: Location
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


def _listing(client: Any, url: Location) -> Any:
    """(name below the prefix, key, ETag or None, size) of every object of the side."""
    if isinstance(url, LocalDir):
        root = url.path
        for dirpath, dirnames, filenames in os.walk(root):
            dirnames.sort()
            for name in sorted(filenames):
                full = Path(dirpath) / name
                rel = full.relative_to(root).as_posix()
                yield rel, rel, None, full.stat().st_size
        return
    paginator = client.get_paginator("list_objects_v2")
    for page in paginator.paginate(Bucket=url.bucket, Prefix=url.prefix):
        for obj in page.get("Contents") or ():
            key = obj["Key"]
            size = obj.get("Size")
            yield key[len(url.prefix) :], key, obj.get("ETag") or None, size if isinstance(size, int) else None


def list_tree(client: Any, url: Location, since_ms: int | None = None) -> Tree:
    """Every object of the side (ListObjectsV2, paginated, or a directory walk), grouped by
    document and source time. A local directory that cannot be read raises :class:`SideFailure`."""
    tree = Tree(url)
    parts: dict[tuple[str, int], list[tuple[int, str]]] = {}
    try:
        listing = list(_listing(client, url)) if isinstance(url, LocalDir) else _listing(client, url)
    except OSError as exc:
        raise SideFailure(url) from exc
    for name, key, etag, size in listing:
        parsed = parse_object_name(name)
        if parsed is None:
            tree.unrecognised += 1
            continue
        doc, ms, part = parsed
        if since_ms is not None and ms < since_ms:
            continue
        tree.objects += 1
        parts.setdefault((doc, ms), []).append((-1 if part is None else part, key))
        if etag:
            tree.etags[key] = etag
        if size is not None:
            tree.sizes[key] = size
    for base, items in parts.items():
        tree.documents[base] = [k for _, k in sorted(items)]
    return tree


class SideFailure(Exception):
    """Reading one side failed; ``url`` names the side, ``__cause__`` is the SDK's (or the OS's) exception."""

    def __init__(self, url: Location) -> None:
        super().__init__(str(url))
        self.url = url


def read_document(client: Any, url: Location, keys: list[str]) -> bytes:
    """The bytes of one document: its parts concatenated in order."""
    out = bytearray()
    try:
        for key in keys:
            if isinstance(url, LocalDir):
                out += (url.path / key).read_bytes()
            else:
                out += client.get_object(Bucket=url.bucket, Key=key)["Body"].read()
    except Exception as exc:
        raise SideFailure(url) from exc
    return bytes(out)
