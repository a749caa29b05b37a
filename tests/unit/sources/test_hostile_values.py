"""Wrong values (issue 10 §0): exact decimals, dates outside the calendar kept recognisable,
strict JSON only (no NaN/Infinity floats), TOAST column names never split on dots."""

from __future__ import annotations

import base64
import decimal
import math
from typing import Any

import pytest

from streamproc.cli.dump import to_json_line
from streamproc.errors import DecodeError
from streamproc.model import Op
from streamproc.sources import Decoder
from streamproc.sources.avro import AvroDecoder
from streamproc.sources.connect import decimal_string

from ._support import FakeRegistry, dumps, frame, strict_json

PG = "pg.public.t"
PLACEHOLDER = "__debezium_unavailable_value"


def connect(fields: list[dict[str, Any]], after: dict[str, Any], op: str = "c") -> bytes:
    row = {"type": "struct", "fields": fields}
    payload = {"op": op, "after": after, "source": {"connector": "postgresql", "lsn": 9}}
    return dumps({"schema": {"type": "struct", "fields": [dict(row, field="after")]}, "payload": payload})


def b64(n: int) -> str:
    return base64.b64encode(n.to_bytes(n.bit_length() // 8 + 1, "big", signed=True)).decode()


def exact(n: int, scale: int) -> str:
    with decimal.localcontext(decimal.Context(prec=2000)):
        return format(decimal.Decimal(n).scaleb(-scale), "f")


# --- decimals are exact ----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("n", "scale"),
    [
        (1234567890123456789012345678901, 2),  # 31 digits: a 28-digit context made it …790
        (-98765432109876543210987654321098765, 10),
        (5, 3),
        (-5, 3),
        (0, 2),
        (0, 0),
        (12, -2),
        (10**999 - 1, 500),
    ],
)
def test_connect_decimals_are_exact(decoder: Decoder, n: int, scale: int) -> None:
    fields = [
        {
            "field": "amt",
            "type": "bytes",
            "name": "org.apache.kafka.connect.data.Decimal",
            "parameters": {"scale": str(scale)},
        }
    ]
    ev = decoder.decode(PG, None, connect(fields, {"amt": b64(n)}))
    assert ev.after == {"amt": exact(n, scale)}
    assert decimal_string(b64(n), scale) == exact(n, scale)


def test_the_issue_example_keeps_its_cents(decoder: Decoder) -> None:
    n = 123456789012345678901234567890123456789  # "…789.01" with scale 2 → 39 digits
    fields = [
        {"field": "amt", "type": "bytes", "name": "org.apache.kafka.connect.data.Decimal", "parameters": {"scale": "2"}}
    ]
    assert decoder.decode(PG, None, connect(fields, {"amt": b64(n)})).after == {
        "amt": "1234567890123456789012345678901234567.89"
    }
    vsd = [{"field": "v", "type": "struct", "name": "io.debezium.data.VariableScaleDecimal", "fields": []}]
    ev = decoder.decode(PG, None, connect(vsd, {"v": {"scale": 2, "value": b64(n)}}))
    assert ev.after == {"v": "1234567890123456789012345678901234567.89"}


def test_avro_decimals_are_exact_and_bounded() -> None:
    schema = {
        "type": "record",
        "name": "r",
        "fields": [{"name": "d", "type": {"type": "bytes", "logicalType": "decimal", "precision": 40, "scale": 2}}],
    }
    plain = {"type": "record", "name": "r", "fields": [{"name": "d", "type": "bytes"}]}
    reg = FakeRegistry()
    sid = reg.add(schema)
    n = 123456789012345678901234567890123456789
    data = frame(sid, plain, {"d": n.to_bytes(17, "big", signed=True)})
    assert AvroDecoder(reg).decode(data) == {"d": "1234567890123456789012345678901234567.89"}
    with pytest.raises(DecodeError, match="more than 1000 digits"):
        AvroDecoder(reg).decode(frame(sid, plain, {"d": b"\x01" * 5000}))


# --- dates outside the calendar stay recognisable --------------------------------------------

MICRO = "io.debezium.time.MicroTimestamp"
NANO = "io.debezium.time.NanoTimestamp"
MILLI = "io.debezium.time.Timestamp"


@pytest.mark.parametrize(
    ("name", "value", "expected"),
    [
        (MICRO, 9223372036825200000, "infinity"),  # PostgreSQL infinity, older connectors
        (MICRO, -9223372036832400000, "-infinity"),
        (MICRO, 2**63 - 1, "infinity"),  # newer connectors: Long.MAX_VALUE / MIN_VALUE
        (MICRO, -(2**63), "-infinity"),
        (NANO, 9223372036825200000, "infinity"),  # as ns this would be a date in 2262
        (NANO, -9223372036832400000, "-infinity"),  # … and 1677
        (MILLI, 253402300800000, 253402300800000),  # year 10000: the integer, not 1978
        (MILLI, -62135596800001, -62135596800001),  # before year 1
        (MICRO, 253402300799999999, "9999-12-31T23:59:59.999999Z"),
        ("io.debezium.time.Date", 2932897, 2932897),  # 10000-01-01 in days
        ("io.debezium.time.MicroTime", 86_400_000_001, 86_400_000_001),  # past 24:00
        ("io.debezium.time.MicroTime", 86_400_000_000, "24:00:00.000000"),
    ],
)
def test_out_of_range_times_are_never_other_dates(decoder: Decoder, name: str, value: int, expected: Any) -> None:
    ev = decoder.decode(PG, None, connect([{"field": "t", "type": "int64", "name": name}], {"t": value}))
    assert ev.after == {"t": expected}


def test_avro_timestamps_outside_the_calendar_stay_integers() -> None:
    """fastavro itself fails on them (OverflowError), which made a valid record poison."""
    schema = {
        "type": "record",
        "name": "r",
        "fields": [
            {"name": "t", "type": {"type": "long", "logicalType": "timestamp-millis"}},
            {"name": "u", "type": {"type": "long", "logicalType": "timestamp-micros"}},
        ],
    }
    plain = {"type": "record", "name": "r", "fields": [{"name": "t", "type": "long"}, {"name": "u", "type": "long"}]}
    reg = FakeRegistry()
    sid = reg.add(schema)
    value = AvroDecoder(reg).decode(frame(sid, plain, {"t": 253402300800000, "u": 1_000_001}))
    assert value == {"t": 253402300800000, "u": "1970-01-01T00:00:01.000001Z"}


def test_extended_json_dates_outside_the_calendar_stay_milliseconds(decoder: Decoder) -> None:
    after = '{"_id": 1, "a": {"$date": {"$numberLong": "253402300800000"}}, "b": {"$date": 253402300800000}}'
    value = {"op": "c", "after": after, "source": {"connector": "mongodb", "ts_ms": 1000, "ord": 1}}
    assert decoder.decode("cdc.db.c", None, dumps(value)).after == {
        "_id": 1,
        "a": 253402300800000,
        "b": 253402300800000,
    }


# --- strict JSON: non-finite numbers are spelled, never floats --------------------------------


def finite_everywhere(value: Any) -> bool:
    if isinstance(value, float):
        return math.isfinite(value)
    if isinstance(value, dict):
        return all(finite_everywhere(v) for v in value.values())
    if isinstance(value, list):
        return all(finite_everywhere(v) for v in value)
    return True


def test_non_finite_numbers_from_every_path_become_strings(decoder: Decoder) -> None:
    events = [
        decoder.decode(
            PG, None, b'{"op":"c","after":{"a":NaN,"b":Infinity,"c":-Infinity,"d":1e400,"e":-1e999},"source":{"lsn":1}}'
        ),
        decoder.decode_json(
            PG,
            None,
            {
                "op": "c",
                "after": {"a": math.nan, "b": math.inf, "c": -math.inf, "d": 1e308 * 10, "e": -1e308 * 10},
                "source": {"lsn": 1},
            },
        ),
    ]
    after = (
        '{"_id": 1, "a": {"$numberDouble": "NaN"}, "b": {"$numberDouble": "Infinity"},'
        ' "c": {"$numberDouble": "-Infinity"}, "d": Infinity, "e": -Infinity}'
    )
    events.append(
        decoder.decode(
            "cdc.db.c",
            None,
            dumps({"op": "c", "after": after, "source": {"connector": "mongodb", "ts_ms": 1, "ord": 1}}),
        )
    )
    for ev in events:
        assert {k: ev.after[k] for k in "abcde"} == {
            "a": "NaN",
            "b": "Infinity",
            "c": "-Infinity",
            "d": "Infinity",
            "e": "-Infinity",
        }
        assert finite_everywhere(ev.to_json())
        assert strict_json(to_json_line(ev.to_json())) == ev.to_json()


def test_avro_non_finite_doubles_and_floats_become_strings() -> None:
    schema = {
        "type": "record",
        "name": "r",
        "fields": [
            {"name": "d", "type": "double"},
            {"name": "f", "type": "float"},
            {"name": "l", "type": {"type": "array", "items": "double"}},
        ],
    }
    reg = FakeRegistry()
    sid = reg.add(schema)
    value = AvroDecoder(reg).decode(frame(sid, schema, {"d": math.inf, "f": math.nan, "l": [-math.inf, 1.5]}))
    assert value == {"d": "Infinity", "f": "NaN", "l": ["-Infinity", 1.5]}


# --- TOAST partial updates: column names are literal keys ------------------------------------


def test_a_toast_partial_update_with_plain_columns_is_still_partial(decoder: Decoder) -> None:
    value = {"op": "u", "after": {"id": 1, "notes": PLACEHOLDER, "status": "paid"}, "source": {"lsn": 2}}
    ev = decoder.decode_json(PG, {"id": 1}, value)
    assert ev.op is Op.UPDATE and ev.after is None and ev.update is not None
    assert ev.update.set == {"id": 1, "status": "paid"}


@pytest.mark.parametrize("fmt", ["debezium-sql", "debezium-sql-flat"])
def test_a_dotted_column_in_a_toast_partial_update_is_never_split(decoder: Decoder, fmt: str) -> None:
    row = {"id": 1, "notes": PLACEHOLDER, "contact.email": "x@example.org"}
    value = (
        {"op": "u", "after": row, "source": {"lsn": 2}} if fmt == "debezium-sql" else {**row, "__op": "u", "__lsn": 2}
    )
    with pytest.raises(DecodeError) as info:
        decoder.decode_json(PG, {"id": 1}, value, fmt=fmt)
    assert "REPLICA IDENTITY FULL" in str(info.value) and "example" not in str(info.value)


def test_a_dotted_column_in_a_full_row_stays_one_literal_key(decoder: Decoder) -> None:
    ev = decoder.decode_json(PG, {"id": 1}, {"op": "u", "after": {"id": 1, "contact.email": "x"}, "source": {"lsn": 2}})
    assert ev.after == {"id": 1, "contact.email": "x"} and ev.update is None


def test_a_malformed_object_id_is_kept_exactly(decoder: Decoder) -> None:
    after = '{"_id": {"$oid": "NotHex"}, "o": {"$oid": "65A1B2C3D4E5F60718293A4B"}}'
    value = {"op": "c", "after": after, "source": {"connector": "mongodb", "ts_ms": 1, "ord": 1}}
    assert decoder.decode("cdc.db.c", None, dumps(value)).after == {"_id": "NotHex", "o": "65a1b2c3d4e5f60718293a4b"}
