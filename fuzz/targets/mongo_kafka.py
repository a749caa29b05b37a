"""Fuzz target: ``streamproc.sources.mongo_kafka`` — MongoDB Kafka source connector change stream documents.

Input: one framed record (``topic LF key LF value``, :func:`fuzz.harness.split_record`)
decoded by the :class:`~streamproc.sources.Decoder` with the format fixed to ``mongo-kafka``;
the decoder's own JSON, Connect-envelope and StringConverter handling runs as in the worker.
"""

from __future__ import annotations

from fuzz.harness import decoder_target
from fuzz.mutator import record_mutator
from streamproc.sources import Decoder

__all__ = ["test_one_input", "custom_mutator"]

custom_mutator = record_mutator

test_one_input = decoder_target(Decoder(), "mongo-kafka", "mongo.inventory.customers")
