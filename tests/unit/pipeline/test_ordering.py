"""Equal positions told apart by content (issue 10 §0): every change of a MongoDB transaction
carries the commit's clusterTime, so two updates of one document in one transaction have equal
positions; the second is a further change, not a duplicate. A redelivery is still a duplicate."""

from __future__ import annotations

import json
from typing import Any

import pytest

from streamproc.cli.dryrun import DictState
from streamproc.config.loader import parse_pipelines
from streamproc.model import ChangeEvent, Op, Update
from streamproc.pipeline.ordering import MAX_HASHES, StateEntry, change_hash, kept_position, verdict
from streamproc.pipeline.processor import Dropped, Emit, Processor, RawMessage
from streamproc.sources import Decoder

KEY = b"ordering-test-redaction-key-0123456789ab"
CONFIG = """
version: 1
defaults: {key: [_id]}
sources:
  - entity: users
    topic: cdc.app.users
    namespace: app.users
  - entity: items
    topic: mk.app.items
    namespace: app.items
    format: mongo-kafka
"""


@pytest.fixture
def processor() -> Processor:
    spec = parse_pipelines(CONFIG, "ordering.yaml")
    decoder = Decoder(formats={"mk.app.items": "mongo-kafka"}, key_fields={s.topic: ["_id"] for s in spec.sources})
    return Processor(spec, decoder, KEY, "clean")


def debezium(op: str, *, ts: int = 1_700_000_000_000, ord_: int = 1, after=None, set_=None) -> RawMessage:
    """Debezium MongoDB without transaction metadata: position (clusterTime ms, ord, 0)."""
    value: dict[str, Any] = {
        "op": op,
        "ts_ms": 1_700_000_009_999,  # the connector's own clock: differs on a re-send
        "before": None,
        "after": json.dumps(after) if after is not None else None,
        "source": {"connector": "mongodb", "ts_ms": ts, "db": "app", "collection": "users", "ord": ord_},
    }
    if set_ is not None:
        value["updateDescription"] = {"updatedFields": json.dumps(set_), "removedFields": None, "truncatedArrays": None}
    return RawMessage("cdc.app.users", json.dumps({"id": '"u1"'}).encode(), json.dumps(value).encode())


def mongo_kafka(token: str, set_: dict[str, Any]) -> RawMessage:
    """mongo-kafka change stream documents: equal clusterTime, different resume tokens."""
    value = {
        "_id": {"_data": token},
        "operationType": "update",
        "clusterTime": {"$timestamp": {"t": 1_700_000_000, "i": 7}},
        "ns": {"db": "app", "coll": "items"},
        "documentKey": {"_id": "i1"},
        "updateDescription": {"updatedFields": set_, "removedFields": []},
    }
    return RawMessage("mk.app.items", json.dumps({"_id": "i1"}).encode(), json.dumps(value).encode())


def after_of(outcome: Any) -> dict[str, Any]:
    assert type(outcome) is Emit, outcome
    return json.loads(outcome.value)["after"]


def test_two_updates_of_one_transaction_are_both_applied_in_partition_order(processor: Processor) -> None:
    state = DictState()
    after_of(processor.process(debezium("c", after={"_id": "u1", "status": "new"}, ord_=1), state))
    first = debezium("u", set_={"status": "pending"}, ord_=2)
    second = debezium("u", set_={"status": "approved", "by": "x"}, ord_=2)  # same clusterTime and ord
    out1 = processor.process(first, state)
    assert after_of(out1)["status"] == "pending"
    out2 = processor.process(second, state)
    assert json.loads(out1.value)["position"] == json.loads(out2.value)["position"]  # the premise
    final = after_of(out2)
    assert final == {"_id": "u1", "status": "approved", "by": "x"}  # the committed final state
    # redelivery of the whole transaction: both are duplicates, the state keeps the final document
    assert processor.process(first, state) == Dropped("duplicate", "users")
    assert processor.process(second, state) == Dropped("duplicate", "users")
    (entry,) = [StateEntry.decode(v) for v in state.values()]
    assert entry.doc == final and entry.hashes is not None and len(entry.hashes) == 2


def test_a_connector_resend_with_another_envelope_time_is_still_a_duplicate(processor: Processor) -> None:
    state = DictState()
    msg = debezium("c", after={"_id": "u1"}, ord_=1)
    after_of(processor.process(msg, state))
    resent = json.loads(msg.value)
    resent["ts_ms"] += 60_000  # only the connector's processing time differs
    again = RawMessage(msg.topic, msg.key, json.dumps(resent).encode())
    assert processor.process(again, state) == Dropped("duplicate", "users")


def test_lower_positions_stay_stale(processor: Processor) -> None:
    state = DictState()
    after_of(processor.process(debezium("c", after={"_id": "u1"}, ord_=5), state))
    assert processor.process(debezium("u", set_={"a": 1}, ord_=4), state) == Dropped("stale", "users")


def test_mongo_kafka_equal_cluster_time_different_resume_token(processor: Processor) -> None:
    state = DictState()
    outs = [processor.process(mongo_kafka(t, {"n": n}), state) for n, t in enumerate(["82A1", "82A2"])]
    assert [type(o) for o in outs] == [Emit, Emit]
    assert [json.loads(o.value)["update"]["set"] for o in outs] == [{"n": 0}, {"n": 1}]
    assert json.loads(outs[0].value)["position"] == json.loads(outs[1].value)["position"]  # the premise
    assert processor.process(mongo_kafka("82A1", {"n": 0}), state) == Dropped("duplicate", "items")


def test_entries_written_before_hashes_keep_their_meaning(processor: Processor) -> None:
    """An old entry ({"p", "d", "x"}, no "h"): an equal position is a duplicate, as it was."""
    state = DictState()
    old_key = b"users\x00" + json.dumps({"_id": "u1"}, separators=(",", ":")).encode()
    state[old_key] = json.dumps({"p": [1_700_000_000_000, 2, 0], "d": {"_id": "u1", "v": 1}, "x": False}).encode()
    entry = StateEntry.decode(state[old_key])
    assert entry.hashes is None and entry.doc == {"_id": "u1", "v": 1}
    assert processor.process(debezium("u", set_={"v": 2}, ord_=2), state) == Dropped("duplicate", "users")
    out = processor.process(debezium("u", set_={"v": 3}, ord_=3), state)
    assert after_of(out) == {"_id": "u1", "v": 3}
    assert StateEntry.decode(state[old_key]).hashes is not None  # rewritten in the new format


def test_state_entry_round_trip_and_old_format() -> None:
    e = StateEntry((1, 2), {"a": 1}, False, ("aa", "bb"))
    assert StateEntry.decode(e.encode()) == e
    legacy = StateEntry((1, 2), None, True)
    assert b'"h"' not in legacy.encode() and StateEntry.decode(legacy.encode()) == legacy


def ev(op: Op = Op.UPDATE, **kw: Any) -> ChangeEvent:
    return ChangeEvent("debezium-mongodb", op, "app.users", {"_id": 1}, **kw)


def test_change_hash_covers_content_not_position_or_time() -> None:
    a = ev(update=Update({"s": 1}), position=(1, 2), ts_ms=5)
    assert change_hash(a) == change_hash(ev(update=Update({"s": 1}), position=(9, 9), ts_ms=6))
    assert change_hash(a) != change_hash(ev(update=Update({"s": 2}), position=(1, 2)))
    assert change_hash(a) != change_hash(ev(update=Update({"s": 1}, ("t",)), position=(1, 2)))
    assert change_hash(a) != change_hash(ev(Op.REPLACE, after={"s": 1}, position=(1, 2)))


def test_verdict_rules_and_the_hash_cap() -> None:
    prev = StateEntry((5,), None, False, ("h1",))
    assert verdict((4,), "x", prev) == ("stale", None)
    assert verdict((6,), "x", prev) == (None, ("x",))
    assert verdict((5,), "h1", prev) == ("duplicate", None)
    assert verdict((5,), "h2", prev) == (None, ("h1", "h2"))
    assert verdict((5, 1), "h2", prev) == (None, ("h2",))  # other shape: never compared
    assert verdict((), None, prev) == (None, None)
    full = StateEntry((5,), None, False, tuple(f"h{n}" for n in range(MAX_HASHES)))
    _, kept = verdict((5,), "new", full)
    assert kept is not None and len(kept) == MAX_HASHES and kept[-1] == "new" and "h0" not in kept


def test_an_offset_fallback_never_resets_a_keys_source_order() -> None:
    """A change without source order (``(offset,)``) after source positions is applied, but the
    state keeps the source position and its hashes, so a redelivery or an older change after it is
    still dropped; a longer (source) position after a fallback replaces it."""
    source = StateEntry((1_767_225_601_000, 11, 0), {"a": 1}, False, ("h1",))
    assert kept_position((7,), ("h2",), source) == ((1_767_225_601_000, 11, 0), ("h1",))
    assert verdict((1_767_225_601_000, 11, 0), "h1", source) == ("duplicate", None)
    fallback = StateEntry((7,), {"a": 1}, False, ("h2",))
    assert kept_position((1_767_225_601_000, 12, 0), ("h3",), fallback) == ((1_767_225_601_000, 12, 0), ("h3",))
    assert kept_position((8,), ("h4",), fallback) == ((8,), ("h4",))
    assert kept_position((8,), ("h4",), None) == ((8,), ("h4",))
