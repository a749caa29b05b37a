"""Fuzz target: ``streamproc.sources.flat`` — records flattened by Debezium's SMTs
(ExtractNewDocumentState for MongoDB, ExtractNewRecordState for relational sources).

Input: one framed record (:func:`fuzz.harness.split_record`), decoded twice over: as
``debezium-mongodb-flat`` and as ``debezium-sql-flat``.
"""

from __future__ import annotations

from fuzz.harness import decoder_target
from fuzz.mutator import record_mutator
from streamproc.sources import Decoder

__all__ = ["test_one_input", "custom_mutator"]

custom_mutator = record_mutator

_mongo = decoder_target(Decoder(), "debezium-mongodb-flat", "fulfillment.inventory.customers")
_sql = decoder_target(Decoder(), "debezium-sql-flat", "dbserver1.inventory.customers")


def test_one_input(data: bytes) -> None:
    _mongo(data)
    _sql(data)
