"""Decoders for CDC wire formats → :class:`~streamproc.model.ChangeEvent` | :class:`~streamproc.model.Skip`.

Formats (``streamproc.model.FORMATS``)
--------------------------------------
``debezium-mongodb``       Debezium MongoDB connector envelope (change streams and legacy oplog)
``debezium-mongodb-flat``  … after the ExtractNewDocumentState SMT
``debezium-sql``           Debezium relational envelope (PostgreSQL; shared by other connectors)
``debezium-sql-flat``      … after the ExtractNewRecordState SMT
``mongo-kafka``            MongoDB Kafka source connector change stream documents
``dms``                    AWS DMS JSON (Kafka/Kinesis targets)

Each may arrive as JSON (with or without a Kafka Connect ``{"schema", "payload"}`` envelope,
or as a JSON string holding the document) or as Confluent-framed Avro (magic byte 0 + schema
id, decoded with the configured schema registry). Extended JSON, Connect logical types and
Avro types become plain JSON once, here. Per-format rules live in each module's docstring:
:mod:`.debezium_mongo`, :mod:`.debezium_sql`, :mod:`.flat`, :mod:`.mongo_kafka`, :mod:`.dms`,
:mod:`.extjson`, :mod:`.connect`, :mod:`.avro`, :mod:`.jsontext`.

How the format is chosen
------------------------
``Decoder.decode(..., fmt=F)`` wins over the per-topic ``formats`` mapping, which wins over
per-message auto-detection (:mod:`.detect`): cheap key-membership checks recognise the
Debezium envelope (``op`` + ``source``/``after``/``before``; MongoDB when the connector says so
or the documents are strings), mongo-kafka (``operationType``), DMS (``metadata.record-type``),
Debezium transaction markers and heartbeats (skipped), and flattened records carrying SMT
markers (``__deleted``, ``__op``, ``__source_ts_ms``, ``__lsn``, ``__collection``, ``__table``…).
A tombstone (value ``None``) is skipped with a format guessed from its key. A plain document
without any marker cannot be told apart from the others: it raises ``DecodeError`` asking to
set the format for its topic (full-document-only mongo-kafka output, flattened records without
markers, DMS object-mapping fragments). Bytes that are neither JSON nor Confluent Avro, empty
values (``b""``), JSON scalars/arrays and truncated JSON are poison (``DecodeError``).

Hostile input
-------------
JSON is read strictly (:mod:`.jsontext`): invalid UTF-8, lone surrogates, nesting beyond
``max_depth`` and numbers of more than 1,000 digits are poison; NaN/±Infinity become the
strings ``"NaN"``/``"Infinity"``/``"-Infinity"``, so events are strict JSON. Decimals are exact
and bounded, out-of-range times never become other dates (:mod:`.connect`), and Avro schemas
that would crash or stall fastavro are refused (:mod:`.avro_schema`). A ``DecodeError`` names
the kind of problem and any limit, never a value or a key of the input, and keeps no exception
chain of a library.
"""

from __future__ import annotations

from streamproc.model import FORMATS
from streamproc.sources.common import parse_json
from streamproc.sources.decoder import Decoder
from streamproc.sources.extjson import to_plain
from streamproc.sources.registry import check_format

__all__ = ["Decoder", "FORMATS", "check_format", "parse_json", "to_plain"]
