"""The :class:`Decoder`: wire bytes or parsed JSON → ``ChangeEvent`` | ``Skip``.

Format resolution per message: the ``fmt`` argument, else the topic's entry in ``formats``,
else auto-detection (:mod:`streamproc.sources.detect`).

Pipeline: value ``None`` → skip ``tombstone`` (the format guessed from the key unless fixed);
bytes starting with 0x00 → Confluent Avro (needs ``schema_registry``); other bytes → JSON
(``b""`` is poison, not a tombstone); ``{"schema", "payload"}`` envelopes are unwrapped and a
value that is a JSON *string* holding a JSON object (StringConverter) is parsed; then the
format's decoder runs. Poison raises :class:`DecodeError` whose message never contains payload
values (nor a ``$``-key of the input); anything unexpected a decoder trips over on malformed
input is reported the same way, and no exception chain of a library is kept.

Strictness (:mod:`.jsontext`): every JSON text is UTF-8 without lone surrogates and nests at most
``max_depth`` levels (default :data:`~streamproc.sources.jsontext.MAX_DEPTH`); non-finite numbers
become ``"NaN"``/``"Infinity"``/``"-Infinity"``. :meth:`Decoder.decode_json` applies the same
rules to the parsed values it is given. So every event holds strict JSON only.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any

from streamproc.errors import DecodeError
from streamproc.model import ChangeEvent, Skip
from streamproc.sources.avro import MAGIC, AvroDecoder
from streamproc.sources.common import Message, json_error_where
from streamproc.sources.connect import unwrap
from streamproc.sources.detect import detect, guess_tombstone_format
from streamproc.sources.jsontext import MAX_DEPTH, JSONLimitError, check_plain, parse_json
from streamproc.sources.registry import DECODERS, check_format

if TYPE_CHECKING:
    from confluent_kafka.schema_registry import SchemaRegistryClient

__all__ = ["Decoder"]

# ArithmeticError: decimal/float conversions; RecursionError: a nesting limit missed somewhere.
_SAFETY_NET = (KeyError, TypeError, ValueError, AttributeError, IndexError, ArithmeticError, RecursionError)


def _json_string(value: Any, what: str, max_depth: int) -> Any:
    """A JSON string whose text is a JSON object or array → the parsed value; else unchanged."""
    if type(value) is str and value[:1] in ("{", "["):
        try:
            return parse_json(value, max_depth)
        except JSONLimitError as exc:
            raise DecodeError(f"{what} refused: {exc}") from None
        except ValueError:
            return value
    return value


class Decoder:
    """Decode CDC messages of every supported format (see :mod:`streamproc.sources`)."""

    __slots__ = ("_formats", "_key_fields", "_avro", "_max_depth")

    def __init__(
        self,
        formats: Mapping[str, str] | None = None,
        schema_registry: SchemaRegistryClient | None = None,
        key_fields: Mapping[str, Sequence[str]] | None = None,
        *,
        max_depth: int = MAX_DEPTH,
    ) -> None:
        """``max_depth``: the nesting limit of every JSON text read (envelope and schema included)."""
        self._formats = {topic: check_format(fmt) for topic, fmt in (formats or {}).items()}
        self._key_fields = {topic: tuple(fields) for topic, fields in (key_fields or {}).items()}
        self._avro = AvroDecoder(schema_registry, max_depth) if schema_registry is not None else None
        self._max_depth = max_depth

    def decode(
        self,
        topic: str,
        key: bytes | None,
        value: bytes | None,
        headers: Sequence[tuple[str, bytes]] | None = None,
        *,
        fmt: str | None = None,
        offset: int | None = None,
    ) -> ChangeEvent | Skip:
        """Decode one Kafka record from its raw key/value bytes (``headers`` are not used yet)."""
        key_obj = self._load_key(key)
        value_obj = None if value is None else self._load_value(value)
        return self._decode(topic, key_obj, value_obj, fmt, offset)

    def decode_json(
        self,
        topic: str,
        key: Any,
        value: Any,
        *,
        fmt: str | None = None,
        offset: int | None = None,
    ) -> ChangeEvent | Skip:
        """Decode a record whose key/value are already parsed JSON (``None`` = absent); they are
        held to the same rules as parsed text (nesting limit, no lone surrogates, finite numbers)."""
        try:
            key = check_plain(key, self._max_depth)
            value = check_plain(value, self._max_depth)
        except JSONLimitError as exc:
            raise DecodeError(f"value refused: {exc}") from None
        return self._decode(topic, key, value, fmt, offset)

    def _load_value(self, data: bytes) -> Any:
        if not data:
            raise DecodeError("value is empty (0 bytes); a tombstone has no value at all")
        first = data[0]
        if first == MAGIC:
            return self._load_avro(data, "value")
        try:
            return parse_json(data, self._max_depth)
        except JSONLimitError as exc:
            raise DecodeError(f"value refused: {exc}") from None
        except ValueError as exc:
            raise DecodeError(
                f"value is not JSON ({json_error_where(exc)}) and not Confluent Avro "
                f"(magic byte 0x{first:02x}, {len(data)} bytes)"
            ) from None

    def _load_key(self, data: bytes | None) -> Any:
        if not data:
            return None
        if data[0] == MAGIC:
            return self._load_avro(data, "key")
        try:
            return parse_json(data, self._max_depth)
        except JSONLimitError as exc:
            raise DecodeError(f"key refused: {exc}") from None
        except ValueError:
            try:
                return bytes(data).decode("utf-8")
            except UnicodeDecodeError:
                return None

    def _load_avro(self, data: bytes, what: str) -> Any:
        if self._avro is None:
            raise DecodeError(
                f"{what} looks like Confluent Avro (magic byte 0x00, {len(data)} bytes) "
                "but no schema registry is configured"
            )
        return self._avro.decode(bytes(data), what)

    def _decode(self, topic: str, key: Any, value: Any, fmt: str | None, offset: int | None) -> ChangeEvent | Skip:
        if fmt is None:
            fmt = self._formats.get(topic)
        elif fmt not in DECODERS:
            check_format(fmt)
        key, key_schema = unwrap(key)
        key = _json_string(key, "key", self._max_depth)
        if value is None:
            return Skip(fmt or guess_tombstone_format(key, key_schema), "tombstone")
        value, schema = unwrap(value)
        if value is None:
            return Skip(fmt or guess_tombstone_format(key, key_schema), "tombstone")
        value = _json_string(value, "value", self._max_depth)
        msg = Message(topic, key, key_schema, value, schema, offset, self._key_fields.get(topic), self._max_depth)
        try:
            if fmt is None:
                found = detect(msg)
                if isinstance(found, Skip):
                    return found
                fmt = found
            return DECODERS[fmt](msg)
        except DecodeError:
            raise
        except _SAFETY_NET as exc:
            raise DecodeError(f"{fmt or 'format detection'}: malformed message ({type(exc).__name__})") from None
