"""Progress markers of the S3 sinks: what a marker object holds and where it is stored.

Each S3 sink keeps one small JSON object per (topic, partition) in its bucket and skips records at
or below its ``offset``, so a redelivered batch writes no second object and sends no second SQS
message. The archive sink also lists in ``pending`` the object keys a write is about to create.
Pure: the markers are read and written by ``aws.py``; the other keys are laid out in ``layout.py``.
"""

from __future__ import annotations

from dataclasses import dataclass

from streamproc.jsonutil import dumps, loads
from streamproc.sinks.s3.layout import key_prefix

__all__ = ["Marker", "trigger_marker_key", "archive_marker_key"]


@dataclass(frozen=True, slots=True)
class Marker:
    """Progress of one (topic, partition): every record at or below ``offset`` is done.

    ``pending`` (archive mode) lists object keys a write was about to create; a later write
    deletes those it does not rewrite, so a crashed larger batch leaves no stale object behind.
    """

    offset: int = -1
    pending: tuple[str, ...] = ()

    def encode(self) -> bytes:
        return dumps({"offset": self.offset, "pending": list(self.pending)})

    @classmethod
    def decode(cls, data: bytes) -> Marker:
        try:
            obj = loads(data)
            offset = obj["offset"]
            pending = tuple(str(k) for k in obj.get("pending") or ())
        except (ValueError, TypeError, KeyError, AttributeError):
            raise ValueError("progress marker is not a streamproc marker") from None
        if not isinstance(offset, int) or isinstance(offset, bool):
            raise ValueError("progress marker offset is not an integer")
        return cls(offset, pending)


def trigger_marker_key(env: str, topic: str, partition: int) -> str:
    """``<env>/_streamproc/offsets/<topic>/<partition>``: beside the collections, never listed
    by a ``<env>/<collection>/`` prefix."""
    return f"{key_prefix(env)}_streamproc/offsets/{topic}/{partition}"


def archive_marker_key(prefix: str, topic: str, partition: int) -> str:
    """``_streamproc/archive-offsets/<prefix>/<topic>/<partition>``: outside the archive tree,
    so crawlers of ``<prefix>/`` see only data files."""
    return f"_streamproc/archive-offsets/{key_prefix(prefix)}{topic}/{partition}"
