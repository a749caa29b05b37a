"""The ``sinks.eventbridge`` section of config/pipelines.yaml.

:class:`EventBridgeSpec` configures the EventBridge sink (``streamproc.sinks.eventbridge``): which
entities it distributes, the bus and the ``Source`` prefix of its entries, and what happens to an
entry above the 256 KB PutEvents limit. ``bus`` and ``source_prefix`` may also come from the
settings (``STREAMPROC_EVENTBRIDGE__BUS``, ``STREAMPROC_EVENTBRIDGE__SOURCE_PREFIX``), which win
over the file; :meth:`EventBridgeSpec.resolved` applies them.
"""

from __future__ import annotations

import re
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

__all__ = ["EventBridgeSpec", "PointerSpec", "DEFAULT_BUS", "DEFAULT_SOURCE_PREFIX", "bus_problem", "source_problem"]

_STRICT = ConfigDict(extra="forbid")
DEFAULT_BUS = "default"
DEFAULT_SOURCE_PREFIX = "streamproc"
# EventBridge: a bus name or ARN; Source: letters, digits, '.', '-', '_', '/' (no "aws." prefix).
_BUS = re.compile(r"^(arn:aws[\w-]*:events:[\w-]+:\d{12}:event-bus/)?[\w.\-/]{1,256}$")
_SOURCE = re.compile(r"^[A-Za-z0-9][\w.\-/]{0,200}$")


def bus_problem(bus: str) -> str | None:
    """What is wrong with an event bus name or ARN (naming no value), or ``None``."""
    return None if _BUS.match(bus) else "not an event bus name or ARN (letters, digits, '.', '-', '_', '/')"


def source_problem(prefix: str) -> str | None:
    """What is wrong with a Source prefix (naming no value), or ``None``."""
    if _SOURCE.match(prefix) and not prefix.startswith("aws."):
        return None
    return "letters, digits, '.', '-', '_', '/', not starting with 'aws.'"


class PointerSpec(BaseModel):
    """Where ``oversize: s3-pointer`` writes the detail of an entry above the limit."""

    model_config = _STRICT

    bucket: str = Field(min_length=3, max_length=63)
    prefix: str = Field(default="eventbridge-oversize", description="Key prefix of the detail objects.")


class EventBridgeSpec(BaseModel):
    """One PutEvents entry per clean event of ``entities`` (see docs/SINKS-EVENTBRIDGE.md)."""

    model_config = _STRICT

    entities: list[str] = Field(min_length=1)
    bus: str | None = Field(default=None, description=f"Event bus name or ARN; default: '{DEFAULT_BUS}'.")
    source_prefix: str | None = Field(
        default=None, description=f"Source = <source_prefix>.<entity>; default: '{DEFAULT_SOURCE_PREFIX}'."
    )
    oversize: Literal["dlq", "s3-pointer"] = "dlq"
    pointer: PointerSpec | None = None

    @model_validator(mode="after")
    def _check(self) -> EventBridgeSpec:
        if self.bus is not None and (why := bus_problem(self.bus)):
            raise ValueError(f"bus: {why}")
        if self.source_prefix is not None and (why := source_problem(self.source_prefix)):
            raise ValueError(f"source_prefix: {why}")
        if self.oversize == "s3-pointer" and self.pointer is None:
            raise ValueError("oversize: s3-pointer needs a 'pointer: {bucket: ..., prefix: ...}'")
        if self.oversize == "dlq" and self.pointer is not None:
            raise ValueError("'pointer' applies to oversize: s3-pointer only")
        return self

    def resolved(self, bus: str | None = None, source_prefix: str | None = None) -> EventBridgeSpec:
        """This section with the settings' ``bus``/``source_prefix`` (when set) over the file's,
        and the defaults for what neither sets."""
        return self.model_copy(
            update={
                "bus": bus or self.bus or DEFAULT_BUS,
                "source_prefix": source_prefix or self.source_prefix or DEFAULT_SOURCE_PREFIX,
            }
        )

    def wants(self, entity: str) -> bool:
        return entity in self.entities

    def source(self, entity: str) -> str:
        return f"{self.source_prefix or DEFAULT_SOURCE_PREFIX}.{entity}"
