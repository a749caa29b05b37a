"""Every error streamproc raises on purpose derives from :class:`StreamprocError`.

The tree, with the *error class* each carries (the value written to the DLQ header
``streamproc.error.class`` and used as a metric label)::

    StreamprocError
    ├── ConfigError            configuration  invalid settings or pipelines file (exit 2)
    ├── DecodeError            poison         no decoder accepts the message
    ├── ValidationFailed       invalid        a business rule rejected the event
    ├── ServiceUnavailable     transient      a broker or service cannot be reached
    └── SinkError                              (for the sinks of the next milestone)
        ├── RetriableSinkError transient
        ├── FatalSinkError     configuration
        └── SinkBackpressure   throttled

Messages never contain payload values: they name fields, formats and positions only.
"""

from __future__ import annotations

__all__ = [
    "StreamprocError",
    "ConfigError",
    "DecodeError",
    "ValidationFailed",
    "ServiceUnavailable",
    "SinkError",
    "RetriableSinkError",
    "FatalSinkError",
    "SinkBackpressure",
]


class StreamprocError(Exception):
    """Root of every deliberate streamproc error."""

    error_class = "error"


class ConfigError(StreamprocError):
    """Invalid configuration; the message names the file, the path inside it and the problem."""

    error_class = "configuration"


class DecodeError(StreamprocError):
    """The message is not any supported CDC format (poison)."""

    error_class = "poison"


class ValidationFailed(StreamprocError):
    """A validation rule rejected the event. ``reason`` names the rule and field, never the value."""

    error_class = "invalid"


class ServiceUnavailable(StreamprocError):
    """A required service (broker, S3, …) cannot be reached."""

    error_class = "transient"


class SinkError(StreamprocError):
    error_class = "sink"


class RetriableSinkError(SinkError):
    error_class = "transient"


class FatalSinkError(SinkError):
    error_class = "configuration"


class SinkBackpressure(SinkError):
    error_class = "throttled"

    def __init__(self, message: str, retry_after: float = 1.0) -> None:
        super().__init__(message)
        self.retry_after = retry_after
