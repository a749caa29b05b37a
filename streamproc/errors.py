"""Every error streamproc raises on purpose derives from :class:`StreamprocError`.

The tree, with the *error class* each carries (the value written to the DLQ header
``streamproc.error.class`` and used as a metric label)::

    StreamprocError
    ├── ConfigError            configuration  invalid settings or pipelines file
    ├── DecodeError            poison         no decoder accepts the message
    ├── ValidationFailed       invalid        a business rule rejected the event
    ├── ServiceUnavailable     transient      a broker or service cannot be reached
    └── SinkError              sink           a sink could not write a batch
        ├── RetriableSinkError transient
        ├── FatalSinkError     configuration
        └── SinkBackpressure   throttled

Messages never contain payload values: they name fields, formats and positions only.

:class:`ExitCode` lists every exit status: a command ends with ``USAGE`` (2) on a
:class:`ConfigError` and ``FAILURE`` (1) on any other :class:`StreamprocError`; a worker whose
batch failed stops with ``CONFIG`` (78) when a sink's configuration is wrong (:class:`ConfigError`,
:class:`FatalSinkError`) and with ``SOFTWARE`` (70) otherwise.
"""

from __future__ import annotations

import enum
import os

__all__ = [
    "ExitCode",
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


class ExitCode(enum.IntEnum):
    """The exit statuses of ``streamproc`` and its worker processes."""

    OK = 0
    #: a command failed at run time (a :class:`StreamprocError` other than a configuration error)
    FAILURE = 1
    #: a usage or configuration error of a command (argparse uses 2 as well)
    USAGE = 2
    #: the worker stopped on a failed batch or an unexpected error (``os.EX_SOFTWARE``)
    SOFTWARE = os.EX_SOFTWARE
    #: a sink's configuration is wrong and the worker stopped (``os.EX_CONFIG``)
    CONFIG = os.EX_CONFIG
    #: interrupted (Ctrl-C; 128 + SIGINT)
    INTERRUPTED = 130


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
