"""streamproc: a change-data-capture processor on Kafka and Faust."""

from __future__ import annotations

from streamproc.errors import ConfigError, DecodeError, StreamprocError, ValidationFailed
from streamproc.model import ChangeEvent, Op, Skip, Update

__version__ = "0.1.0"

__all__ = [
    "__version__",
    "ChangeEvent",
    "Op",
    "Skip",
    "Update",
    "StreamprocError",
    "ConfigError",
    "DecodeError",
    "ValidationFailed",
]
