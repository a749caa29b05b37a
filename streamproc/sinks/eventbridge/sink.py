"""The EventBridge sink (role ``eventbridge``): boto3 ``events.put_events`` around ``plan.py``.

One entry per clean event of the configured entities, sent in requests of at most 10 entries and
256 KB. PutEvents answers per entry: an entry that failed with ``ThrottlingException`` or
``InternalException`` is sent again (only those entries) with backoff, a few rounds within one
``write()``; any other per-entry error is permanent and the record goes to the DLQ with the error
code (never the message, which may quote the entry). An entry above 256 KB goes to the DLQ or,
with ``oversize: s3-pointer``, its full Detail is written to S3 first and the entry carries the
pointer. A failure of a whole request (the endpoint unreachable, a 5xx, throttling) raises the
runner's retriable errors; the entries a failed ``write()`` already delivered are remembered, so the
runner's retry of the same batch does not send them again. After a crash a batch is redelivered
and its entries are sent again with the same ``eventId`` (consumers drop repeats).
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from botocore.config import Config
from botocore.exceptions import ClientError

from streamproc.errors import FatalSinkError, RetriableSinkError, SinkBackpressure, SinkError
from streamproc.sinks.base import SinkBatch, SinkRecord
from streamproc.sinks.eventbridge.plan import Entry, Rejected, actions, batches, pointer_key, resolve
from streamproc.sinks.s3.aws import AwsSink, fail_once, make_client
from streamproc.sinks.s3.errors import classify_error, code_status, raise_for, worst_error

if TYPE_CHECKING:
    from streamproc.config.settings import AwsSettings
    from streamproc.config.sink_eventbridge import EventBridgeSpec

__all__ = ["EventBridgeSink", "RETRIED_CODES"]

log = logging.getLogger("streamproc.sink.eventbridge")

#: Per-entry error codes of PutEvents that a later attempt may pass.
RETRIED_CODES = frozenset({"ThrottlingException", "InternalException", "InternalFailure", "ServiceUnavailable"})
_MISSING_BUS = frozenset({"ResourceNotFoundException"})

Key = tuple[str, int, int]


def _key(r: SinkRecord) -> Key:
    return (r.topic, r.partition, r.offset)


class EventBridgeSink(AwsSink):
    """PutEvents per clean event (see the module docstring and docs/SINKS-EVENTBRIDGE.md)."""

    name = "eventbridge"

    def __init__(
        self,
        spec: EventBridgeSpec,
        aws: AwsSettings,
        *,
        events_endpoint: str | None = None,
        create_missing: bool = False,
        config: Config | None = None,
        concurrency: int = 8,
        entry_retry_rounds: int = 4,
        entry_retry_initial: float = 0.1,
        clients: Mapping[str, Any] | None = None,
    ) -> None:
        super().__init__(aws, create_missing=create_missing, config=config, concurrency=concurrency, clients=clients)
        self.spec = spec
        self.bus = spec.bus or "default"
        self.bucket = spec.pointer.bucket if spec.pointer is not None else ""
        self.events_endpoint = events_endpoint
        self.entry_retry_rounds = entry_retry_rounds
        self.entry_retry_initial = entry_retry_initial
        # outcome per entry of a batch being retried (None: delivered; else the failure's reason and
        # class, reported again since the runner drops a failed attempt's failures); cleared when a
        # write completes, so it never holds more than one batch
        self._settled: dict[Key, tuple[str, str] | None] = {}

    def client(self, service: str) -> Any:
        if service == "events" and service not in self._clients and self.events_endpoint:
            aws = self.aws.model_copy(update={"endpoint_url": self.events_endpoint})
            self._clients[service] = make_client(service, aws, self.config)
        return super().client(service)

    def wants(self, record: SinkRecord) -> bool:
        return self.spec.wants(record.entity)

    def plan(self, records: list[SinkRecord]) -> list[dict[str, Any]]:
        return [a for r in records if self.wants(r) for a in actions(self.spec, r)]

    async def start(self) -> None:
        events = await self.call(self.client, "events")  # building a client reads SDK models: not on the loop
        try:
            await self.call(events.describe_event_bus, Name=self.bus)
        except Exception as exc:  # noqa: BLE001 - raise_for re-raises anything that is not botocore's
            missing = isinstance(exc, ClientError) and code_status(exc)[0] in _MISSING_BUS
            if not (missing and self.create_missing and not self.bus.startswith("arn:")):
                why = "does not exist; create it or fix sinks.eventbridge.bus" if missing else "cannot be used"
                raise_for(exc, "DescribeEventBus", FatalSinkError(f"DescribeEventBus: event bus '{self.bus}' {why}"))
            try:
                await self.call(events.create_event_bus, Name=self.bus)
            except Exception as exc2:  # noqa: BLE001 - raise_for re-raises anything that is not botocore's
                raise_for(exc2, "CreateEventBus", FatalSinkError(f"cannot create event bus '{self.bus}'"))
            log.info("%s: created event bus %s", self.name, self.bus)
        if self.spec.oversize == "s3-pointer":
            await self.check_bucket()

    def _plan_all(self, records: list[SinkRecord]) -> list[tuple[Entry | Rejected | None, Entry | None]]:
        return [resolve(self.spec, r) for r in records]

    async def write(self, batch: SinkBatch) -> None:
        records = []
        for r in batch.records:
            if not self.wants(r):
                continue
            if _key(r) in self._settled:
                failure = self._settled[_key(r)]
                if failure is not None:
                    fail_once(batch, r, *failure)
            else:
                records.append(r)
        todo: list[Entry] = []
        oversize: list[tuple[Entry, Entry]] = []
        for item, original in await self.call(self._plan_all, records):
            if isinstance(item, Rejected):
                fail_once(batch, item.record, item.reason, item.error_class)
            elif item is not None:
                todo.append(item)
                if original is not None:
                    oversize.append((item, original))
        if oversize:
            await self._put_details(batch, oversize)
            failed = {id(f.record) for f in batch.failures}
            todo = [e for e in todo if id(e.record) not in failed]
        errors = [e for e in await asyncio.gather(*(self._send(batch, b) for b in batches(todo))) if e is not None]
        if errors:
            raise worst_error(errors)  # type: ignore[misc]
        self._settled.clear()
        log.debug("%s: %d entries sent", self.name, len(todo))

    async def _put_details(self, batch: SinkBatch, pairs: list[tuple[Entry, Entry]]) -> None:
        items = [(pointer_key(self.spec, orig), orig.detail.encode(), "application/json") for _, orig in pairs]
        results = await self.put_many(items)
        errors = [r for r in results if isinstance(r, SinkError)]
        if errors:
            raise worst_error(errors)  # type: ignore[misc]
        for (small, _), res in zip(pairs, results, strict=True):
            if res is None:
                fail_once(batch, small.record, f"S3 rejected the oversize detail of entity '{small.record.entity}'")

    async def _send(self, batch: SinkBatch, entries: list[Entry]) -> SinkError | None:
        """One request's entries, then only the failed ones again (retried codes) with backoff."""
        pending = entries
        codes: set[str] = set()
        for round_ in range(self.entry_retry_rounds + 1):
            if round_:
                await asyncio.sleep(self.entry_retry_initial * 2 ** (round_ - 1))
            retry, error = await self._put(batch, pending)
            if error is not None or not retry:
                return error
            pending = [e for e, _ in retry]
            codes = {c for _, c in retry}
        what = f"PutEvents: {len(pending)} entries kept failing ({', '.join(sorted(codes))})"
        if "ThrottlingException" in codes:
            return SinkBackpressure(what, retry_after=1.0)
        return RetriableSinkError(what)

    def _settle(self, batch: SinkBatch, record: SinkRecord, failure: tuple[str, str] | None) -> None:
        """Record the outcome of ``record``'s entry (``None``: delivered; else reason and class)."""
        self._settled[_key(record)] = failure
        if failure is not None:
            fail_once(batch, record, *failure)

    async def _put(self, batch: SinkBatch, entries: list[Entry]) -> tuple[list[tuple[Entry, str]], SinkError | None]:
        """PutEvents once: (entries to retry with their codes, the error of the whole request)."""
        events = self.client("events")
        try:
            resp = await self.call(events.put_events, Entries=[e.request() for e in entries])
        except Exception as exc:  # noqa: BLE001 - classify_error re-raises anything that is not botocore's
            if isinstance(exc, ClientError) and code_status(exc)[0] in _MISSING_BUS:
                return [], FatalSinkError(f"PutEvents: event bus '{self.bus}' does not exist")
            err = classify_error(exc, "PutEvents")
            if err is not None:
                return [], err
            code = code_status(exc)[0] if isinstance(exc, ClientError) else type(exc).__name__
            for e in entries:  # the whole request was refused as invalid: nothing a retry fixes
                self._settle(batch, e.record, (f"EventBridge refused the request ({code or 'invalid'})", "permanent"))
            return [], None
        results = resp.get("Entries") or []
        if len(results) != len(entries):
            return [], RetriableSinkError("PutEvents: the answer does not list every entry")
        retry: list[tuple[Entry, str]] = []
        for e, res in zip(entries, results, strict=True):
            code = str(res.get("ErrorCode") or "")
            if not code:
                self._settle(batch, e.record, None)
            elif code in RETRIED_CODES:
                retry.append((e, code))
            else:
                self._settle(batch, e.record, (f"EventBridge rejected the entry ({code})", "permanent"))
        return retry, None
