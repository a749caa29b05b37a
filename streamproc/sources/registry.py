"""Format name → decoder function, and format-name validation.

Every name in :data:`streamproc.model.FORMATS` has exactly one decoder here; a decoder takes a
:class:`~streamproc.sources.common.Message` and returns a ``ChangeEvent`` or a ``Skip``, or
raises ``DecodeError``.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from types import MappingProxyType

from streamproc.errors import ConfigError
from streamproc.model import FORMATS, ChangeEvent, Skip
from streamproc.sources import debezium_mongo, debezium_sql, dms, flat, mongo_kafka
from streamproc.sources.common import Message

__all__ = ["DECODERS", "DecodeFn", "check_format", "get_decoder"]

DecodeFn = Callable[[Message], "ChangeEvent | Skip"]

DECODERS: Mapping[str, DecodeFn] = MappingProxyType(
    {
        debezium_mongo.FORMAT: debezium_mongo.decode,
        flat.MONGO_FORMAT: flat.decode_mongo,
        debezium_sql.FORMAT: debezium_sql.decode,
        flat.SQL_FORMAT: flat.decode_sql,
        mongo_kafka.FORMAT: mongo_kafka.decode,
        dms.FORMAT: dms.decode,
    }
)
assert set(DECODERS) == set(FORMATS), "every format needs exactly one decoder"


def check_format(name: str) -> str:
    """Return ``name`` if it is a known format, else raise :class:`ConfigError` (exit code 2)."""
    if name not in DECODERS:
        raise ConfigError(f"unknown format {name!r}; expected one of: {', '.join(FORMATS)}")
    return name


def get_decoder(name: str) -> DecodeFn:
    return DECODERS[check_format(name)]
