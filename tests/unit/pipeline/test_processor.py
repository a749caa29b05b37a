"""The per-message ingest pipeline (:class:`Processor`) against an in-memory state: what a
consumer of the clean topic, the DLQ and the metrics sees for each kind of input message."""

from __future__ import annotations

import json
import re
import uuid
from typing import Any

import pytest

from streamproc.cli.dryrun import DictState
from streamproc.config.loader import parse_pipelines
from streamproc.pipeline.processor import DeadLetter, Dropped, Emit, Processor, RawMessage, StateEntry
from streamproc.pipeline.redact import key_id
from streamproc.sources import Decoder

KEY = b"unit-test-redaction-key"
PREFIX = "clean"
USERS_TOPIC = "cdc.app.users"
ORDERS_TOPIC = "pg.public.orders"
PLACEHOLDER = "__debezium_unavailable_value"

CONFIG = r"""
version: 1
defaults:
  key: [_id]
sources:
  - entity: users
    topic: cdc.app.users
    namespace: app.users
    operations: [insert, update, replace, delete]
    event_types: {insert: user.created, update: user.updated, delete: user.deleted}
    validate:
      - {field: email, required: true, type: string, pattern: '^[^@\s]+@[^@\s]+$'}
      - {field: age, type: integer, min: 0}
    transform:
      - {lower: email}
      - {iso_date: dob}
    redact:
      - {path: email, mode: PARTIAL_MASK}
      - {path: phone, mode: PARTIAL_MASK}
      - {path: contacts.email, mode: PARTIAL_MASK}
      - {path: ssn, mode: REMOVE}
      - {path: password, mode: REMOVE}
      - {path: dob, mode: HASH}
      - {path: notes, mode: FULL_MASK}
  - entity: orders
    topic: pg.public.orders
    namespace: public.orders
    format: debezium-sql
    key: [id]
    validate:
      - {field: id, required: true, type: integer, min: 1}
      - {field: status, type: string, enum: [pending, paid, shipped]}
    redact:
      - {path: customer_email, mode: TOKENIZE}
"""


@pytest.fixture
def processor() -> Processor:
    spec = parse_pipelines(CONFIG, "unit.yaml")
    formats = {s.topic: s.format for s in spec.sources if s.format}
    key_fields = {s.topic: list(s.key) for s in spec.sources}
    return Processor(spec, Decoder(formats=formats, key_fields=key_fields), KEY, PREFIX)


@pytest.fixture
def state() -> DictState:
    return DictState()


def mongo(
    op: str,
    ord_: int,
    _id: str = "u1",
    *,
    after: dict | None = None,
    before: dict | None = None,
    set_: dict | None = None,
    unset: list[str] | None = None,
    ts: int = 1_700_000_000_000,
    db: str = "app",
    coll: str = "users",
    topic: str = USERS_TOPIC,
) -> RawMessage:
    """A Debezium MongoDB change record (documents as Extended JSON strings, like the connector)."""
    value: dict[str, Any] = {
        "op": op,
        "ts_ms": ts + 5,
        "before": json.dumps(before) if before is not None else None,
        "after": json.dumps(after) if after is not None else None,
        "source": {
            "version": "2.7.3.Final",
            "connector": "mongodb",
            "name": "cdc",
            "ts_ms": ts,
            "snapshot": "false",
            "db": db,
            "collection": coll,
            "ord": ord_,
        },
    }
    if set_ is not None or unset is not None:
        value["updateDescription"] = {
            "updatedFields": json.dumps(set_) if set_ else None,
            "removedFields": unset,
            "truncatedArrays": None,
        }
    key = json.dumps({"id": json.dumps(_id)}).encode()
    return RawMessage(topic, key, json.dumps(value).encode(), [("trace", b"t-1")], 0, ord_)


def pg(op: str, lsn: int, *, after: dict | None = None, before: dict | None = None, row_id: int = 7) -> RawMessage:
    value = {
        "op": op,
        "before": before,
        "after": after,
        "source": {
            "version": "2.7.3.Final",
            "connector": "postgresql",
            "name": "pg",
            "ts_ms": 1_700_000_000_000,
            "db": "shop",
            "schema": "public",
            "table": "orders",
            "lsn": lsn,
        },
        "ts_ms": 1_700_000_000_100,
    }
    return RawMessage(ORDERS_TOPIC, json.dumps({"id": row_id}).encode(), json.dumps(value).encode(), [], 0, lsn)


def user_doc(**extra: Any) -> dict[str, Any]:
    doc = {"_id": "u1", "email": "Jane.Doe@Example.com", "name": "Jane", "age": 41}
    doc.update(extra)
    return doc


def emitted(outcome: Any) -> tuple[Emit, dict[str, Any]]:
    assert type(outcome) is Emit, outcome
    return outcome, json.loads(outcome.value)


# --------------------------------------------------------------------------- happy path


def test_insert_emits_a_clean_event_keyed_by_the_entity_key(processor, state):
    out, value = emitted(processor.process(mongo("c", 1, after=user_doc()), state))
    assert out.topic == "clean.events.users"
    assert out.entity == "users" and out.op == "insert"
    assert json.loads(out.key) == {"_id": "u1"}
    assert value == {
        "entity": "users",
        "event_type": "user.created",
        "op": "insert",
        "namespace": "app.users",
        "key": {"_id": "u1"},
        "position": [1_700_000_000_000, 1, 0],
        "ts_ms": 1_700_000_000_000,
        "format": "debezium-mongodb",
        "key_id": key_id(KEY),
        "complete": True,
        "before": None,
        "after": {"_id": "u1", "email": "j*******@e******.com", "name": "Jane", "age": 41},
        "update": None,
    }
    assert dict(out.headers) == {
        "op": b"insert",
        "entity": b"users",
        "event_type": b"user.created",
        "source_position": b"[1700000000000,1,0]",
        "source_ts_ms": b"1700000000000",
        "streamproc.key_id": key_id(KEY).encode(),
    }
    assert json.loads(dict(out.headers)["source_position"]) == value["position"]


def test_same_message_again_is_dropped_as_duplicate(processor, state):
    msg = mongo("c", 1, after=user_doc())
    emitted(processor.process(msg, state))
    before = dict(state)
    dropped = processor.process(msg, state)
    assert dropped == Dropped("duplicate", "users")
    assert dict(state) == before  # a duplicate changes nothing


def test_older_position_after_newer_is_dropped_as_stale(processor, state):
    emitted(processor.process(mongo("c", 1, after=user_doc()), state))
    emitted(processor.process(mongo("u", 3, set_={"name": "Newer"}), state))
    stale = processor.process(mongo("u", 2, set_={"name": "Older"}), state)
    assert stale == Dropped("stale", "users")
    # the stale change did not leak into the stored document: the next update builds on "Newer"
    _, value = emitted(processor.process(mongo("u", 4, set_={"age": 42}), state))
    assert value["after"]["name"] == "Newer" and value["after"]["age"] == 42


def test_positions_are_per_key(processor, state):
    emitted(processor.process(mongo("c", 5, "u1", after=user_doc()), state))
    # an older position of *another* document is not stale
    _, value = emitted(processor.process(mongo("c", 2, "u2", after=user_doc(_id="u2")), state))
    assert value["key"] == {"_id": "u2"}


def test_partial_update_after_insert_carries_the_merged_full_document(processor, state):
    emitted(processor.process(mongo("c", 1, after=user_doc(address={"city": "Oslo", "zip": "0150"})), state))
    out, value = emitted(
        processor.process(mongo("u", 2, set_={"name": "Janet", "address.city": "Bergen"}, unset=["age"]), state)
    )
    assert out.op == "update"
    assert value["event_type"] == "user.updated"
    assert value["complete"] is True
    assert value["after"] == {
        "_id": "u1",
        "email": "j*******@e******.com",
        "name": "Janet",
        "address": {"city": "Bergen", "zip": "0150"},
    }
    assert value["before"] == {
        "_id": "u1",
        "email": "j*******@e******.com",
        "name": "Jane",
        "age": 41,
        "address": {"city": "Oslo", "zip": "0150"},
    }
    assert value["update"] == {"set": {"name": "Janet", "address.city": "Bergen"}, "unset": ["age"]}


def test_partial_update_without_known_document_is_incomplete(processor, state):
    _, value = emitted(processor.process(mongo("u", 2, "unseen", set_={"name": "X"}), state))
    assert value["complete"] is False
    assert value["after"] is None and value["before"] is None
    assert value["update"] == {"set": {"name": "X"}, "unset": []}
    assert value["key"] == {"_id": "unseen"}


def test_delete_carries_the_last_known_document_as_before(processor, state):
    emitted(processor.process(mongo("c", 1, after=user_doc()), state))
    emitted(processor.process(mongo("u", 2, set_={"name": "Janet"}), state))
    out, value = emitted(processor.process(mongo("d", 3), state))
    assert out.op == "delete" and value["op"] == "delete"
    assert value["event_type"] == "user.deleted"
    assert value["after"] is None
    assert value["before"] == {"_id": "u1", "email": "j*******@e******.com", "name": "Janet", "age": 41}
    assert dict(out.headers)["op"] == b"delete"
    # a partial update arriving after the delete cannot be merged into the deleted document
    _, late = emitted(processor.process(mongo("u", 4, set_={"name": "Ghost"}), state))
    assert late["complete"] is False and late["after"] is None and late["before"] is None


def test_tombstone_after_delete_is_filtered(processor, state):
    key = json.dumps({"id": json.dumps("u1")}).encode()
    assert processor.process(RawMessage(USERS_TOPIC, key, None), state) == Dropped("filtered", None, "tombstone")


def test_reinsert_after_delete_starts_a_fresh_document(processor, state):
    emitted(processor.process(mongo("c", 1, after=user_doc()), state))
    emitted(processor.process(mongo("d", 2), state))
    _, value = emitted(processor.process(mongo("c", 3, after=user_doc(name="Again")), state))
    assert value["before"] is None and value["after"]["name"] == "Again"


# --------------------------------------------------------------------------- redaction / PII


def canaries() -> dict[str, str]:
    tag = uuid.uuid4().hex
    return {
        "email": f"CANARY-email-{tag}@canary.test",
        "phone": f"CANARY-phone-{tag}",
        "ssn": f"CANARY-ssn-{tag}",
        "password": f"CANARY-password-{tag}",
        "dob": "1984-02-29",  # hashed: the ISO date itself must not appear
        "notes": f"CANARY-notes-{tag}",
        "contact": f"CANARY-contact-{tag}@canary.test",
        "update_email": f"CANARY-newmail-{tag}@canary.test",
        "update_ssn": f"CANARY-newssn-{tag}",
        "update_contact": f"CANARY-newcontact-{tag}@canary.test",
    }


def canary_stream(c: dict[str, str]) -> list[RawMessage]:
    doc = user_doc(
        email=c["email"],
        phone=c["phone"],
        ssn=c["ssn"],
        password=c["password"],
        dob={"$date": "1984-02-29T00:00:00Z"},
        notes=c["notes"],
        contacts=[{"name": "Bob", "email": c["contact"]}],
    )
    return [
        mongo("c", 1, after=doc),
        mongo(
            "u",
            2,
            set_={
                "email": c["update_email"],
                "ssn": c["update_ssn"],
                "contacts.0.email": c["update_contact"],
                "password": c["password"],
            },
        ),
        mongo("u", 3, after={**doc, "notes": c["notes"]}, set_={"notes": c["notes"]}),  # full + partial
        mongo("d", 4, before=doc),
    ]


def scan(blob: bytes, c: dict[str, str]) -> list[str]:
    text = blob.decode("utf-8", "replace").lower()
    leaks = [name for name, value in c.items() if value.lower() in text]
    if "1984" in text:
        leaks.append("dob (year)")
    return leaks


def test_redacted_fields_never_reach_value_key_or_headers(processor, state):
    c = canaries()
    outs = [processor.process(m, state) for m in canary_stream(c)]
    assert [type(o) for o in outs] == [Emit, Emit, Emit, Emit]
    for out in outs:
        blob = out.key + out.value + b"".join(k.encode() + v for k, v in out.headers)
        assert scan(blob, c) == [], f"{out.op} event leaks"
    insert = json.loads(outs[0].value)["after"]
    assert "ssn" not in insert and "password" not in insert
    assert re.fullmatch(r"c\*+@c\*+\.test", insert["email"])
    assert insert["phone"].startswith("*") and insert["phone"].endswith(c["phone"][-2:])
    assert re.fullmatch(r"hmac-sha256:[0-9a-f]{8}:[0-9a-f]{64}", insert["dob"])
    assert insert["notes"] == "****"
    assert re.fullmatch(r"C\*+@c\*+\.test", insert["contacts"][0]["email"])  # not lower-cased: no transform
    update = json.loads(outs[1].value)
    assert set(update["update"]["set"]) == {"email", "contacts.0.email"}
    assert update["after"]["contacts"][0]["email"] == update["update"]["set"]["contacts.0.email"]
    assert "ssn" not in update["after"]
    # the HASH of the same date is stable across events, so consumers can still join on it
    assert json.loads(outs[2].value)["after"]["dob"] == insert["dob"]


def test_state_holds_no_pii(processor, state):
    c = canaries()
    for m in canary_stream(c)[:3]:
        processor.process(m, state)
    assert state, "the processor stored nothing"
    for skey, raw in state.items():
        assert scan(skey, c) == [] and scan(raw, c) == []
        entry = StateEntry.decode(raw)
        assert entry.doc is not None and entry.doc["email"].startswith("c*")
        assert "ssn" not in entry.doc and "password" not in entry.doc


def test_partial_update_redacts_nested_array_element_paths(processor, state):
    emitted(
        processor.process(mongo("c", 1, after=user_doc(contacts=[{"email": "a@b.org"}, {"email": "c@d.org"}])), state)
    )
    _, value = emitted(processor.process(mongo("u", 2, set_={"contacts.1": {"email": "Zed@Q.org"}}), state))
    assert value["update"]["set"] == {"contacts.1": {"email": "Z**@Q.org"}}
    assert value["after"]["contacts"] == [{"email": "a@b.org"}, {"email": "Z**@Q.org"}]
    assert "Zed" not in json.dumps(value)


# --------------------------------------------------------------------------- filtering and routing


def test_operation_not_listed_is_filtered(processor, state):
    # snapshot ("r") is not in the users source's operations
    assert processor.process(mongo("r", 1, after=user_doc()), state) == Dropped("filtered", "users", "operation")
    assert not state


def test_unrouted_namespace_is_filtered(processor, state):
    other = mongo("c", 1, after=user_doc(), coll="sessions")  # same topic, namespace app.sessions
    assert processor.process(other, state) == Dropped("filtered", None, "unrouted")
    elsewhere = mongo("c", 1, after=user_doc(), db="other", coll="things", topic="cdc.other.things")
    assert processor.process(elsewhere, state) == Dropped("filtered", None, "unrouted")
    assert not state


@pytest.mark.parametrize("value", [b"\x00\x01garbage-not-json", b'{"op":"c","after":"{\\"_id\\": ', b"", b"[1,2]"])
def test_poison_goes_to_the_dlq(processor, state, value):
    out = processor.process(RawMessage(USERS_TOPIC, b'{"id":"\\"u1\\""}', value), state)
    assert type(out) is DeadLetter
    assert out.error_class == "poison" and out.stage == "decode" and out.exception == "DecodeError"
    assert not state


def test_rule_violation_goes_to_the_dlq_naming_the_field_not_the_value(processor, state):
    secret = f"not-an-email-{uuid.uuid4().hex}"
    out = processor.process(mongo("c", 1, after=user_doc(email=secret)), state)
    assert type(out) is DeadLetter
    assert out.error_class == "invalid" and out.stage == "validate"
    assert "email" in out.reason
    assert secret not in out.reason and secret.lower() not in out.reason
    assert not state  # rejected events leave no state behind


def test_invalid_partial_update_is_rejected_and_does_not_change_the_document(processor, state):
    emitted(processor.process(mongo("c", 1, after=user_doc()), state))
    bad = processor.process(mongo("u", 2, set_={"age": -3}), state)
    assert type(bad) is DeadLetter and bad.error_class == "invalid" and bad.reason.startswith("age")
    unset_required = processor.process(mongo("u", 3, unset=["email"]), state)
    assert type(unset_required) is DeadLetter and "email" in unset_required.reason
    _, value = emitted(processor.process(mongo("u", 4, set_={"name": "Ok"}), state))
    assert value["after"]["age"] == 41 and value["after"]["email"] == "j*******@e******.com"


def test_missing_key_field_goes_to_the_dlq(processor, state):
    value = {
        "op": "c",
        "after": json.dumps({"email": "a@b.c"}),
        "before": None,
        "source": {"connector": "mongodb", "ts_ms": 1, "db": "app", "collection": "users", "ord": 1},
    }
    out = processor.process(RawMessage(USERS_TOPIC, None, json.dumps(value).encode()), state)
    assert type(out) is DeadLetter and out.error_class == "invalid" and "_id" in out.reason


# --------------------------------------------------------------------------- relational source


def test_toast_placeholder_update_keeps_the_stored_column(processor, state):
    row = {"id": 7, "status": "pending", "customer_email": "Buyer@Shop.example", "notes_blob": "x" * 3000}
    _, ins = emitted(processor.process(pg("c", 100, after=row), state))
    assert ins["after"]["notes_blob"] == "x" * 3000
    assert ins["after"]["customer_email"].startswith("tok_")
    toasted = {"id": 7, "status": "paid", "customer_email": "Buyer@Shop.example", "notes_blob": PLACEHOLDER}
    out, upd = emitted(processor.process(pg("u", 200, after=toasted), state))
    assert out.op == "update" and upd["op"] == "update"
    assert upd["complete"] is True
    assert upd["after"] == {
        "id": 7,
        "status": "paid",
        "customer_email": ins["after"]["customer_email"],
        "notes_blob": "x" * 3000,
    }
    assert upd["before"] == ins["after"]
    assert PLACEHOLDER not in out.value.decode()
    assert json.loads(out.key) == {"id": 7}
    assert dict(out.headers)["source_position"] == b"[200]"


def test_toast_placeholder_update_without_stored_row_is_incomplete(processor, state):
    toasted = {"id": 9, "status": "paid", "notes_blob": PLACEHOLDER}
    out, upd = emitted(processor.process(pg("u", 300, after=toasted, row_id=9), state))
    assert upd["complete"] is False and upd["after"] is None
    assert upd["update"]["set"] == {"id": 9, "status": "paid"}
    assert PLACEHOLDER not in out.value.decode()


def test_relational_duplicate_by_lsn(processor, state):
    msg = pg("c", 100, after={"id": 7, "status": "pending"})
    emitted(processor.process(msg, state))
    assert processor.process(msg, state) == Dropped("duplicate", "orders")
    assert processor.process(pg("u", 50, after={"id": 7, "status": "paid"}), state) == Dropped("stale", "orders")
