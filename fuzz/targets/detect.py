"""Fuzz target: auto-detection (``streamproc.sources.detect``) through ``Decoder.decode(fmt=None)``.

Input: one framed record (:func:`fuzz.harness.split_record`) of any format, a control record
(transaction marker, heartbeat), a tombstone (value ``~``) or anything else; the detected
format's decoder then runs as in the worker.
"""

from __future__ import annotations

from fuzz.harness import decoder_target
from fuzz.mutator import record_mutator
from streamproc.sources import Decoder

__all__ = ["test_one_input", "custom_mutator"]

custom_mutator = record_mutator

test_one_input = decoder_target(Decoder(), None, "cdc.inventory.customers")
