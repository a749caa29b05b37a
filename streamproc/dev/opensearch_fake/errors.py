"""The error of the fake OpenSearch: an error response as OpenSearch words it."""

from __future__ import annotations

from typing import Any

__all__ = ["FakeError"]


class FakeError(Exception):
    """An OpenSearch error response: HTTP status, error type and reason (as OpenSearch words it).

    Raised anywhere in the fake; the HTTP layer answers it with :meth:`body` and a bulk item
    carries :meth:`item_error`. ``extra`` holds the additional fields OpenSearch puts beside the
    type and reason (``index``, ``caused_by``, ``resource.id``…).
    """

    def __init__(self, status: int, etype: str, reason: str, **extra: Any) -> None:
        super().__init__(reason)
        self.status = status
        self.etype = etype
        self.reason = reason
        self.extra = extra

    def error(self) -> dict[str, Any]:
        root = self.item_error()
        return {"root_cause": [root], **root}

    def body(self) -> dict[str, Any]:
        return {"error": self.error(), "status": self.status}

    def item_error(self) -> dict[str, Any]:
        return {"type": self.etype, "reason": self.reason, **self.extra}
