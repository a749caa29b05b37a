"""Every corpus file decodes with its format fixed, and is auto-detected when it carries an
envelope; plus decoded values of many files (doc quirks of NOTES §0 are not asserted)."""

from __future__ import annotations

import pytest

from streamproc.cli.dump import to_json_line
from streamproc.errors import DecodeError
from streamproc.model import ChangeEvent, Op, Skip
from streamproc.sources import Decoder

from ._support import PLACEHOLDER_ERRORS, corpus_names, dumps, format_of, strict_json

#: plain documents with no envelope or marker: recognisable only with the format fixed
NOT_DETECTABLE = {
    "aws_dms__map_record_to_document__1",
    "debezium_mongodb_unwrap__array_document_encoding__1",
    "debezium_mongodb_unwrap__create__1",
    "debezium_mongodb_unwrap__flatten_struct__1",
    "debezium_mongodb_unwrap__update__1",
    "debezium_mongodb_unwrap__update__2",
    "debezium_postgres_unwrap__update__1",
    "mongo_kafka__formatter_defaultjson__1",
    "mongo_kafka__formatter_extendedjson__1",
    "mongo_kafka__formatter_simplifiedjson__1",
    "mongo_kafka__full_document_only__1",
}


def test_category_lists_name_existing_files() -> None:
    names = set(corpus_names())
    if not names:
        pytest.skip("CDC corpus not found")
    assert names >= PLACEHOLDER_ERRORS
    assert names >= NOT_DETECTABLE


def test_fixed_format_decodes_or_skips(corpus, decoder: Decoder, corpus_name: str) -> None:
    rec = corpus(corpus_name)
    fmt = format_of(corpus_name)
    if corpus_name in PLACEHOLDER_ERRORS:
        with pytest.raises(DecodeError, match="^mongo-kafka: 'clusterTime' is not a BSON timestamp$"):
            decoder.decode_json(rec["topic"], rec["key"], rec["value"], fmt=fmt)
        return
    result = decoder.decode_json(rec["topic"], rec["key"], rec["value"], fmt=fmt)
    assert isinstance(result, (ChangeEvent, Skip))
    assert result.format == fmt


def test_auto_detection(corpus, decoder: Decoder, corpus_name: str) -> None:
    rec = corpus(corpus_name)
    fmt = format_of(corpus_name)
    if corpus_name in NOT_DETECTABLE:
        with pytest.raises(DecodeError, match="set the format for topic"):
            decoder.decode_json(rec["topic"], rec["key"], rec["value"])
        return
    if corpus_name in PLACEHOLDER_ERRORS:
        with pytest.raises(DecodeError, match="^mongo-kafka: "):
            decoder.decode_json(rec["topic"], rec["key"], rec["value"])
        return
    auto = decoder.decode_json(rec["topic"], rec["key"], rec["value"])
    fixed = decoder.decode_json(rec["topic"], rec["key"], rec["value"], fmt=fmt)
    assert auto.format == fmt
    assert auto.to_json() == fixed.to_json()


def test_wire_bytes_match_parsed_json(corpus, decoder: Decoder, corpus_name: str) -> None:
    rec = corpus(corpus_name)
    if corpus_name in PLACEHOLDER_ERRORS:
        return
    fmt = format_of(corpus_name)
    key = None if rec["key"] is None else dumps(rec["key"])
    value = None if rec["value"] is None else dumps(rec["value"])
    via_bytes = decoder.decode(rec["topic"], key, value, fmt=fmt)
    via_json = decoder.decode_json(rec["topic"], rec["key"], rec["value"], fmt=fmt)
    assert via_bytes.to_json() == via_json.to_json()


def test_output_is_strict_json(corpus, decoder: Decoder, corpus_name: str) -> None:
    rec = corpus(corpus_name)
    if corpus_name in PLACEHOLDER_ERRORS:
        return
    result = decoder.decode_json(rec["topic"], rec["key"], rec["value"], fmt=format_of(corpus_name))
    assert strict_json(to_json_line(result.to_json())) == result.to_json()


def _decode(corpus, name: str, **kwargs) -> ChangeEvent | Skip:
    rec = corpus(name)
    return Decoder().decode_json(rec["topic"], rec["key"], rec["value"], fmt=format_of(name), **kwargs)


# --- Debezium MongoDB -------------------------------------------------------------------


def test_mongodb_create_with_connect_envelope(corpus) -> None:
    ev = _decode(corpus, "debezium_mongodb__create__1")
    assert ev.op is Op.INSERT
    assert ev.namespace == "inventory.customers"
    assert ev.key == {"_id": 1004}
    assert ev.after == {"_id": 1004, "first_name": "Anne", "last_name": "Kretchmar", "email": "annek@noanswer.org"}
    assert ev.before is None and ev.update is None
    assert ev.position == (1558965508000, 31, 0)
    assert ev.ts_ms == 1558965508000


def test_mongodb_create_objectid_key_and_nested_oids(corpus) -> None:
    ev = _decode(corpus, "debezium_mongodb__create__2")
    assert ev.key == {"_id": "596e275826f08b2730779e1f"}
    assert ev.after["_id"] == "596e275826f08b2730779e1f"
    assert ev.after["aggregateid"] == "b2730779e1f596e275826f08"
    assert ev.after["payload"]["_id"] == "da8d6de63b7745ff8f4457db"
    assert ev.after["payload"]["lineItems"][1]["totalPrice"] == 29.99


def test_mongodb_update_with_pre_image(corpus) -> None:
    ev = _decode(corpus, "debezium_mongodb__update__1")
    assert ev.op is Op.UPDATE
    assert ev.key == {"_id": 1004}
    assert ev.before["first_name"] == "unknown"
    assert ev.after["first_name"] == "Anne Marie"
    assert ev.update.to_json() == {"set": {"first_name": "Anne Marie"}, "unset": []}
    assert ev.position == (1558965508000, 1, 0)


def test_mongodb_update_full_document_without_before(corpus) -> None:
    ev = _decode(corpus, "debezium_mongodb__update__2")
    assert ev.op is Op.UPDATE and ev.before is None
    assert ev.after["_id"] == 1004
    assert ev.update.set == {"first_name": "Anne Marie"}


def test_mongodb_legacy_oplog_patch(corpus) -> None:
    ev = _decode(corpus, "debezium_mongodb__update__3")
    assert ev.op is Op.UPDATE
    assert ev.after is None
    assert ev.update.to_json() == {"set": {"first_name": "Anne Marie"}, "unset": []}
    assert ev.key == {"_id": 1004}


def test_mongodb_deletes(corpus) -> None:
    with_pre_image = _decode(corpus, "debezium_mongodb__delete__1")
    assert with_pre_image.op is Op.DELETE
    assert with_pre_image.before["first_name"] == "Anne Marie"
    assert with_pre_image.after is None
    legacy = _decode(corpus, "debezium_mongodb__delete__2")
    assert legacy.op is Op.DELETE
    assert legacy.before is None and legacy.after is None
    assert legacy.key == {"_id": 1004}


def test_mongodb_snapshot_fragment_uses_offset_as_position(corpus) -> None:
    ev = _decode(corpus, "debezium_mongodb__read__1")
    assert ev.op is Op.SNAPSHOT
    assert ev.after == {"field1": "newvalue1", "field2": "newvalue1"}
    assert ev.namespace == "inventory.customers"
    assert ev.position == () and ev.ts_ms is None
    assert _decode(corpus, "debezium_mongodb__read__1", offset=42).position == (42,)


@pytest.mark.parametrize(
    ("name", "fmt", "reason"),
    [
        ("debezium_mongodb__tombstone__1", "debezium-mongodb", "tombstone"),
        ("debezium_postgres__tombstone__1", "debezium-sql", "tombstone"),
        ("debezium_mongodb__txn_begin__1", "debezium-mongodb", "transaction"),
        ("debezium_mongodb__txn_end__1", "debezium-mongodb", "transaction"),
        ("debezium_postgres__txn_begin__1", "debezium-sql", "transaction"),
        ("debezium_postgres__txn_end__1", "debezium-sql", "transaction"),
        ("debezium_postgres__message__1", "debezium-sql", "message"),
        ("debezium_postgres__message__2", "debezium-sql", "message"),
        ("aws_dms__control_create_table__1", "dms", "control"),
        ("aws_dms__control_create_table__2", "dms", "control"),
        ("aws_dms__control_drop_table__1", "dms", "control"),
    ],
)
def test_auto_detected_skips(corpus, decoder: Decoder, name: str, fmt: str, reason: str) -> None:
    rec = corpus(name)
    assert decoder.decode_json(rec["topic"], rec["key"], rec["value"]) == Skip(fmt, reason)


# --- Debezium PostgreSQL ----------------------------------------------------------------


def test_postgres_create_with_schema(corpus) -> None:
    ev = _decode(corpus, "debezium_postgres__create__1")
    assert ev.op is Op.INSERT
    assert ev.namespace == "public.customers"
    assert ev.after == {"id": 1, "first_name": "Anne", "last_name": "Kretchmar", "email": "annek@noanswer.org"}
    assert ev.position == (24023128,)
    assert ev.ts_ms == 1559033904863


def test_postgres_real_capture(corpus) -> None:
    ev = _decode(corpus, "debezium_postgres__create__2")
    assert ev.namespace == "inventory.customers"
    assert ev.after["id"] == 1005
    assert ev.position == (34466480,)
    assert ev.ts_ms == 1733906311010


def test_postgres_update_and_delete_with_default_identity(corpus) -> None:
    upd = _decode(corpus, "debezium_postgres__update__1")
    assert upd.op is Op.UPDATE and upd.before == {"id": 1} and upd.after["first_name"] == "Anne Marie"
    assert upd.update is None
    dele = _decode(corpus, "debezium_postgres__delete__1")
    assert dele.op is Op.DELETE and dele.before == {"id": 1} and dele.after is None
    assert dele.position == (46523128,)


def test_postgres_toast_placeholder_becomes_partial_update(corpus) -> None:
    ev = _decode(corpus, "debezium_postgres__update__2")
    assert ev.op is Op.UPDATE
    assert ev.after is None
    assert ev.update.to_json() == {
        "set": {"id": 1004, "first_name": "Dana", "last_name": "Kretchmar", "email": "annek@noanswer.org"},
        "unset": [],
    }
    assert "__debezium_unavailable_value" not in to_json_line(ev.to_json())


def test_postgres_truncate(corpus) -> None:
    ev = _decode(corpus, "debezium_postgres__truncate__1")
    assert ev.op is Op.TRUNCATE
    assert ev.key == {} and ev.before is None and ev.after is None
    assert ev.namespace == "public.customers"


def test_postgres_snapshots(corpus) -> None:
    first = _decode(corpus, "debezium_postgres__read__1")
    assert first.op is Op.SNAPSHOT and first.after["id"] == 1001 and first.position == (33816576,)
    abbreviated = _decode(corpus, "debezium_postgres__read__2", offset=7)
    assert abbreviated.op is Op.SNAPSHOT and abbreviated.namespace == "inventory.products"
    assert abbreviated.position == (7,)


# --- flattened ------------------------------------------------------------------------


def test_sql_flat_rewritten_delete_with_string_flag(corpus) -> None:
    ev = _decode(corpus, "debezium_postgres_unwrap__delete__1")
    assert ev.op is Op.DELETE
    assert ev.before == {"pk": 2, "cola": None}
    assert ev.after is None
    assert ev.namespace == "public.customers"


def test_sql_flat_metadata_fields(corpus) -> None:
    ev = _decode(corpus, "debezium_postgres_unwrap__create__1")
    assert ev.op is Op.INSERT
    assert ev.namespace == "public.MY_TABLE"
    assert ev.position == (123456789,)
    assert ev.ts_ms == 123456789
    assert ev.after == {}


def test_sql_flat_without_markers_is_upsert(corpus) -> None:
    ev = _decode(corpus, "debezium_postgres_unwrap__update__1")
    assert ev.op is Op.UPSERT
    assert ev.after == {"field1": "newvalue1", "field2": "newvalue2"}


def test_mongo_flat_partial_update_from_unset(corpus) -> None:
    ev = _decode(corpus, "debezium_mongodb_unwrap__update__2")
    assert ev.op is Op.UPDATE
    assert ev.after is None
    assert ev.update.to_json() == {"set": {}, "unset": ["a"]}


def test_mongo_flat_full_document_is_upsert(corpus) -> None:
    ev = _decode(corpus, "debezium_mongodb_unwrap__flatten_struct__1")
    assert ev.op is Op.UPSERT
    assert ev.key == {"_id": 1}
    assert ev.after == {"_id": 1, "a_b": 1, "a_c": "none", "d": 100}


def test_mongo_flat_namespace_from_collection_marker(corpus) -> None:
    ev = _decode(corpus, "debezium_mongodb_unwrap__add_fields__1")
    assert ev.namespace == "inventory.my-collection"


# --- mongo-kafka -------------------------------------------------------------------------


def test_mongo_kafka_string_payload_capture(corpus) -> None:
    ev = _decode(corpus, "mongo_kafka__insert__1")
    assert ev.op is Op.INSERT
    assert ev.namespace == "Tutorial1.orders"
    assert ev.key == {"_id": "63496b5280d076018b330536"}
    assert ev.after == {"_id": "63496b5280d076018b330536", "order_id": 1, "item": "coffee"}
    assert ev.position == (1665755987, 2)
    assert ev.ts_ms == 1665755987015


def test_mongo_kafka_iso_walltime(corpus) -> None:
    ev = _decode(corpus, "mongo_kafka__insert__2")
    assert ev.ts_ms == 1665680783409
    assert ev.position == (1650809557, 2)


def test_mongo_kafka_delete(corpus) -> None:
    ev = _decode(corpus, "mongo_kafka__delete__1")
    assert ev.op is Op.DELETE and ev.before is None and ev.after is None
    assert ev.namespace == "CDCTutorial.Source"
    assert ev.position == (1631108282, 1)
    assert ev.ts_ms == 1631108282000


def test_mongo_kafka_copy_existing_is_snapshot(corpus) -> None:
    ev = _decode(corpus, "mongo_kafka__copy_existing__1")
    assert ev.op is Op.SNAPSHOT
    assert ev.key == {"_id": 1}
    assert ev.after["last_viewed"] == "2021-10-31T20:30:00.245Z"
    assert ev.position == (0, 0)
    assert ev.namespace == "shopping.customers"


def test_mongo_kafka_formatters_decode_to_the_same_document(corpus) -> None:
    default = _decode(corpus, "mongo_kafka__formatter_defaultjson__1")
    extended = _decode(corpus, "mongo_kafka__formatter_extendedjson__1")
    simplified = _decode(corpus, "mongo_kafka__formatter_simplifiedjson__1")
    assert (
        default.after
        == extended.after
        == {
            "_id": "5f15aab12435743f9bd126a4",
            "w": ["12345.6789", 23.53],
            "x": "SSBsb3ZlIGZvcm1hdHRpbmch",
            "y": "2023-05-11T08:27:07.000Z",
            "z": {"a": False, "b": 87, "c": "hello world"},
        }
    )
    assert {k: v for k, v in simplified.after.items() if k != "y"} == {
        k: v for k, v in default.after.items() if k != "y"
    }
    assert default.op is Op.UPSERT and default.key == {"_id": "5f15aab12435743f9bd126a4"}


def test_mongo_kafka_full_document_only(corpus) -> None:
    ev = _decode(corpus, "mongo_kafka__full_document_only__1", offset=3)
    assert ev.op is Op.UPSERT
    assert ev.namespace == "Tutorial1.orders"
    assert ev.after["order_id"] == 2
    assert ev.position == (3,)


# --- AWS DMS ------------------------------------------------------------------------------


def test_dms_insert_with_transaction_details(corpus) -> None:
    ev = _decode(corpus, "aws_dms__insert__1")
    assert ev.op is Op.INSERT
    assert ev.namespace == "sbtest.sbtest_x"
    assert ev.key == {"id": 100000161}
    assert ev.position == (1572562435000000,)  # commit-timestamp µs: transaction ids are not commit order
    assert ev.ts_ms == 1572562435000  # commit-timestamp, not the message build time


def test_dms_delete_and_update(corpus) -> None:
    dele = _decode(corpus, "aws_dms__delete__1")
    assert dele.op is Op.DELETE and dele.after is None
    assert dele.before["orderId"] == 1
    upd = _decode(corpus, "aws_dms__update__1")
    assert upd.op is Op.UPDATE and upd.after["amount"] == "20" and upd.before is None
    assert upd.ts_ms == 1590834887209


def test_dms_key_fields_configuration(corpus) -> None:
    rec = corpus("aws_dms__insert__2")
    dec = Decoder(key_fields={"dms-blog": ["orderId"]})
    assert dec.decode_json(rec["topic"], rec["key"], rec["value"]).key == {"orderId": 1}
    assert Decoder().decode_json(rec["topic"], rec["key"], rec["value"]).key == {}


def test_dms_object_mapping_fragment_with_format_fixed(corpus) -> None:
    ev = _decode(corpus, "aws_dms__map_record_to_document__1")
    assert ev.op is Op.UPSERT
    assert ev.after == {
        "_doc": {"FirstName": "Randy", "LastName": "Marsh", "StoreId": "5", "DateOfBirth": "02/29/1988"}
    }
