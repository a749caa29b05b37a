"""Reading DLQ records back and re-injecting them (``streamproc dlq``), pure.

A DLQ record (:mod:`streamproc.pipeline.dlq`) is the original key, value and headers plus the
Connect-style error headers. :func:`parse_entry` reads those headers into a :class:`DlqEntry`.
:func:`retry_headers` gives the headers of its re-injection into ``<prefix>.retry``: the original
headers (the error headers and those of an earlier retry removed), the original position
(``streamproc.dlq.topic``/``partition``/``offset``, by which the ingest role routes it), the DLQ
position it came from (``streamproc.dlq.source`` = ``<partition>/<offset>``) and the attempt
(``streamproc.dlq.attempt`` = n, 1 for the first re-injection). A re-injected record that fails
again returns to the DLQ with these headers, so its attempt count travels with it.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field

from streamproc.pipeline.dlq import ERROR_CLASS_HEADER

__all__ = [
    "SOURCE_HEADER",
    "ATTEMPT_HEADER",
    "ORIGIN_HEADERS",
    "DEFAULT_MAX_ATTEMPTS",
    "DlqEntry",
    "RetryOrigin",
    "parse_entry",
    "retry_headers",
    "parse_retry",
    "select",
    "summary",
    "latest_per_origin",
    "ReplayDecision",
    "plan_replay",
]

SOURCE_HEADER = "streamproc.dlq.source"
ATTEMPT_HEADER = "streamproc.dlq.attempt"
ORIGIN_HEADERS = ("streamproc.dlq.topic", "streamproc.dlq.partition", "streamproc.dlq.offset")
DEFAULT_MAX_ATTEMPTS = 3
_CONNECT = "__connect.errors."
_OURS = (ERROR_CLASS_HEADER, SOURCE_HEADER, ATTEMPT_HEADER, *ORIGIN_HEADERS)


def _text(value: bytes | str | None) -> str:
    if value is None:
        return ""
    return value if isinstance(value, str) else value.decode("utf-8", "replace")


def _int(text: str) -> int | None:
    try:
        return int(text)
    except ValueError:
        return None


@dataclass(frozen=True, slots=True)
class DlqEntry:
    """One DLQ record: where it is, where it came from, why; the payload only as bytes to re-inject."""

    dlq_partition: int
    dlq_offset: int
    timestamp_ms: int
    topic: str
    partition: int | None
    offset: int | None
    error_class: str
    stage: str
    reason: str
    attempt: int  # re-injections so far (0: never re-injected)
    key: bytes | None = field(repr=False)
    value: bytes | None = field(repr=False)
    original_headers: tuple[tuple[str, bytes], ...] = field(repr=False)

    @property
    def position(self) -> str:
        return f"{self.dlq_partition}/{self.dlq_offset}"

    @property
    def origin(self) -> tuple[str, int | None, int | None]:
        return self.topic, self.partition, self.offset

    def describe(self) -> dict[str, str | int | None]:
        """Every field but the payload and the original headers (which may hold data)."""
        return {
            "dlq_partition": self.dlq_partition,
            "dlq_offset": self.dlq_offset,
            "timestamp_ms": self.timestamp_ms,
            "topic": self.topic,
            "partition": self.partition,
            "offset": self.offset,
            "error_class": self.error_class,
            "stage": self.stage,
            "reason": self.reason,
            "attempt": self.attempt,
        }


def parse_entry(
    dlq_partition: int,
    dlq_offset: int,
    timestamp_ms: int,
    key: bytes | None,
    value: bytes | None,
    headers: Sequence[tuple[str, bytes | str | None]] | None,
) -> DlqEntry:
    """A DLQ record as consumed; headers the DLQ writer did not set read as empty."""
    found: dict[str, str] = {}
    original: list[tuple[str, bytes]] = []
    for name, raw in headers or ():
        if name.startswith(_CONNECT) or name in _OURS:
            found[name] = _text(raw)
        else:
            original.append((name, raw.encode() if isinstance(raw, str) else (raw or b"")))
    return DlqEntry(
        dlq_partition=dlq_partition,
        dlq_offset=dlq_offset,
        timestamp_ms=timestamp_ms,
        topic=found.get(_CONNECT + "topic", ""),
        partition=_int(found.get(_CONNECT + "partition", "")),
        offset=_int(found.get(_CONNECT + "offset", "")),
        error_class=found.get(ERROR_CLASS_HEADER, ""),
        stage=found.get(_CONNECT + "stage", ""),
        reason=found.get(_CONNECT + "exception.message", ""),
        attempt=_int(found.get(ATTEMPT_HEADER, "")) or 0,
        key=key,
        value=value,
        original_headers=tuple(original),
    )


def retry_headers(entry: DlqEntry, attempt: int) -> list[tuple[str, bytes]]:
    """The headers of ``entry``'s re-injection number ``attempt`` (see the module docstring)."""
    added = [
        (ORIGIN_HEADERS[0], entry.topic),
        (ORIGIN_HEADERS[1], "" if entry.partition is None else str(entry.partition)),
        (ORIGIN_HEADERS[2], "" if entry.offset is None else str(entry.offset)),
        (SOURCE_HEADER, entry.position),
        (ATTEMPT_HEADER, str(attempt)),
    ]
    return list(entry.original_headers) + [(k, v.encode()) for k, v in added]


@dataclass(frozen=True, slots=True)
class RetryOrigin:
    """What the ingest role reads from a record of the retry topic."""

    topic: str
    partition: int
    offset: int | None
    source: str
    attempt: int
    #: the original headers, with the retry headers kept (a second failure carries them to the DLQ)
    headers: list[tuple[str, bytes]]


def parse_retry(headers: Sequence[tuple[str, bytes | str | None]] | None) -> RetryOrigin:
    """The origin of a retry-topic record; ValueError names a missing or malformed header."""
    found = {name: _text(raw) for name, raw in headers or () if name in _OURS}
    topic = found.get(ORIGIN_HEADERS[0], "")
    partition = _int(found.get(ORIGIN_HEADERS[1], ""))
    if not topic or partition is None:
        raise ValueError(f"retry record without the {ORIGIN_HEADERS[0]} and {ORIGIN_HEADERS[1]} headers")
    kept = [(n, raw.encode() if isinstance(raw, str) else (raw or b"")) for n, raw in headers or ()]
    return RetryOrigin(
        topic=topic,
        partition=partition,
        offset=_int(found.get(ORIGIN_HEADERS[2], "")),
        source=found.get(SOURCE_HEADER, ""),
        attempt=_int(found.get(ATTEMPT_HEADER, "")) or 0,
        headers=kept,
    )


def select(
    entries: Iterable[DlqEntry],
    *,
    since_ms: int | None = None,
    error_class: str | None = None,
    topic: str | None = None,
    limit: int | None = None,
) -> list[DlqEntry]:
    """The entries matching every given selector, in DLQ order, at most ``limit``."""
    out = []
    for e in entries:
        if since_ms is not None and e.timestamp_ms < since_ms:
            continue
        if error_class is not None and e.error_class != error_class:
            continue
        if topic is not None and e.topic != topic:
            continue
        out.append(e)
        if limit is not None and len(out) >= limit:
            break
    return out


def summary(entries: Iterable[DlqEntry]) -> list[tuple[str, str, int]]:
    """(error class, reason, count), most frequent first."""
    counts = Counter((e.error_class, e.reason) for e in entries)
    return [(c, r, n) for (c, r), n in sorted(counts.items(), key=lambda kv: (-kv[1], kv[0]))]


def latest_per_origin(entries: Iterable[DlqEntry]) -> dict[tuple[str, int | None, int | None], DlqEntry]:
    """Per original position, its latest DLQ record (an earlier one was re-injected and failed again)."""
    out: dict[tuple[str, int | None, int | None], DlqEntry] = {}
    for e in entries:
        seen = out.get(e.origin)
        if seen is None or (e.attempt, e.timestamp_ms, e.dlq_partition, e.dlq_offset) >= (
            seen.attempt,
            seen.timestamp_ms,
            seen.dlq_partition,
            seen.dlq_offset,
        ):
            out[e.origin] = e
    return out


@dataclass(frozen=True, slots=True)
class ReplayDecision:
    """What ``dlq replay`` does with one selected entry: re-inject it as ``attempt``, or refuse
    it (``refused`` says why)."""

    entry: DlqEntry
    attempt: int
    refused: str | None = None


def plan_replay(
    selected: Iterable[DlqEntry],
    every: Iterable[DlqEntry],
    *,
    max_attempts: int,
    sources: dict[str, int],
    retry_partitions: int,
) -> list[ReplayDecision]:
    """Decide each selected entry. ``every``: the whole DLQ (to find later records of the same
    origin); ``sources``: ingest source topic → partition count. Refused: an entry superseded by a
    later DLQ record of its origin (that one is replayed instead), one at ``max_attempts``, one
    not from an ingest source topic (a sink's DLQ record: replay that sink's group instead), and
    one whose source topic is partitioned unlike the retry topic (its retry partition would not
    be owned by the worker that owns its state)."""
    latest = latest_per_origin(every)
    out = []
    for e in selected:
        attempt = e.attempt + 1
        why = None
        newest = latest.get(e.origin)
        if newest is not None and newest.position != e.position:
            why = f"superseded by DLQ record {newest.position} of the same source position"
        elif e.attempt >= max_attempts:
            why = f"at the maximum of {max_attempts} attempts"
        elif e.topic not in sources:
            why = (
                f"not from an ingest source topic ({e.topic or 'no topic header'}, stage {e.stage or '-'}); "
                "a sink's record is replayed with `streamproc replay --role <sink>`"
            )
        elif e.partition is None or sources[e.topic] != retry_partitions:
            why = (
                f"{e.topic} has {sources[e.topic]} partitions, the retry topic {retry_partitions}: "
                "reset the ingest group to its offset instead (`streamproc replay --role ingest --to-offset`)"
            )
        out.append(ReplayDecision(e, attempt, why))
    return out
