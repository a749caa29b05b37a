"""Audit records of operator actions (``replay --execute``, ``dlq replay --execute``) and of the
outcomes of re-injected DLQ records: one JSON object, logged as one line and written to the
compacted ``<prefix>.audit`` topic under a unique key, so compaction keeps every action.

An audit record names who (user and host), what (the action and its arguments), when (UTC, ISO
with milliseconds) and, for an offset reset, each partition's offset before and after. It never
holds a payload, a key or a secret: the callers pass positions, names and counts only."""

from __future__ import annotations

import getpass
import os
import socket
import uuid
from datetime import UTC, datetime
from typing import Any

from streamproc.jsonutil import dumps

__all__ = ["AuditRecord", "who", "now_iso", "OUTCOME_ACTION"]

#: the action under which the ingest role reports the outcome of a re-injected DLQ record
OUTCOME_ACTION = "dlq retry outcome"


def who() -> dict[str, str]:
    """The operator: the login name (``USER``/``LOGNAME``, else the account) and the host name."""
    try:
        user = getpass.getuser()
    except (KeyError, OSError):  # no passwd entry (a container's arbitrary uid)
        user = f"uid {os.getuid()}"
    return {"user": user, "host": socket.gethostname()}


def now_iso(now: datetime | None = None) -> str:
    when = (now or datetime.now(UTC)).astimezone(UTC)
    return when.isoformat(timespec="milliseconds").replace("+00:00", "Z")


class AuditRecord:
    """One audit entry: ``action`` (``replay``, ``dlq replay``, ``dlq retry outcome``) and its
    ``details`` (JSON-able: names, positions, counts)."""

    def __init__(
        self, action: str, details: dict[str, Any], *, actor: dict[str, str] | None = None, when: str | None = None
    ) -> None:
        self.action = action
        self.details = details
        self.actor = actor if actor is not None else who()
        self.when = when or now_iso()
        self.id = uuid.uuid4().hex

    def as_dict(self) -> dict[str, Any]:
        return {"id": self.id, "action": self.action, "who": self.actor, "when": self.when, **self.details}

    def key(self) -> bytes:
        """Unique per record: compaction of the audit topic never drops an earlier action."""
        return f"{self.action}/{self.when}/{self.id}".encode()

    def value(self) -> bytes:
        return dumps(self.as_dict())

    def line(self) -> str:
        """The log line: ``audit {json}``."""
        return "audit " + self.value().decode()
