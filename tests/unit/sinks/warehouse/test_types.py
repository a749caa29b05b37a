"""Value conversion of the warehouse sink (``streamproc.sinks.warehouse.types``): column types,
dialect limits, position encoding."""

from __future__ import annotations

from datetime import UTC, date, datetime
from decimal import Decimal

import pytest

from streamproc.sinks.warehouse.types import DUCKDB, POSTGRES, ConversionError, convert, encode_position


@pytest.mark.parametrize(
    "value, type_, expected",
    [
        ("42", "bigint", 42),
        (42.0, "bigint", 42),
        (-(2**63), "bigint", -(2**63)),
        (2**31 - 1, "integer", 2**31 - 1),
        ("1.25", "double", 1.25),
        ("12345678901234567890.123", "numeric", Decimal("12345678901234567890.123")),
        (0.1, "numeric", Decimal("0.1")),
        ("yes", "boolean", True),
        (0, "boolean", False),
        ("2024-05-01T10:00:00+02:00", "timestamptz", datetime(2024, 5, 1, 8, tzinfo=UTC)),
        ("2024-05-01T10:00:00Z", "timestamptz", datetime(2024, 5, 1, 10, tzinfo=UTC)),
        (1_700_000_000_000, "timestamptz", datetime(2023, 11, 14, 22, 13, 20, tzinfo=UTC)),
        ("2024-05-01T10:00:00+02:00", "timestamp", datetime(2024, 5, 1, 8)),
        ("2024-05-01", "date", date(2024, 5, 1)),
        ("2024-05-01T23:30:00-02:00", "date", date(2024, 5, 2)),
        ({"a": [1, 2]}, "jsonb", '{"a":[1,2]}'),
        (12, "text", "12"),
        ({"b": 1}, "text", '{"b":1}'),
        ("6F9619FF-8B86-D011-B42D-00CF4FC964FF", "uuid", "6f9619ff-8b86-d011-b42d-00cf4fc964ff"),
        (None, "bigint", None),
    ],
)
def test_convert_accepts_values_of_the_column_type(value, type_, expected) -> None:
    assert convert(value, type_) == expected


@pytest.mark.parametrize(
    "value, type_",
    [
        ("abc-secret", "bigint"),
        (True, "bigint"),
        (2**63, "bigint"),
        (2**31, "integer"),
        (1.5, "integer"),
        ("not-a-number-secret", "double"),
        ("NaN", "double"),
        ("12,5-secret", "numeric"),
        ("Infinity", "numeric"),
        ("maybe-secret", "boolean"),
        ("yesterday-secret", "timestamptz"),
        ("secret-date", "date"),
        (20240501, "date"),
        ("nul\x00secret", "text"),
        ({"k": "nul\x00secret"}, "jsonb"),
        ("secret-uuid", "uuid"),
    ],
)
def test_convert_rejects_without_naming_the_value(value, type_) -> None:
    with pytest.raises(ConversionError) as info:
        convert(value, type_)
    assert "secret" not in str(info.value)


def test_numeric_limits_follow_the_dialect() -> None:
    big = "1" * 30
    assert convert(big, "numeric", POSTGRES) == Decimal(big)
    with pytest.raises(ConversionError, match="28 integer digits"):
        convert(big, "numeric", DUCKDB)
    assert convert({"k": "a\x00b"}, "jsonb", DUCKDB) == '{"k":"a\\u0000b"}'


POSITIONS = [
    (1,),
    (1, 0),
    (1, 2),
    (2,),
    (1_700_000_000_000, 3, 1),
    (1_700_000_000_000, 12, 0),
    (2**64 - 1,),
    (0, 2**100),
]


def test_position_encoding_orders_like_the_tuples() -> None:
    encoded = sorted(POSITIONS, key=encode_position)
    assert encoded == sorted(POSITIONS)
    assert encode_position((5, 2)) == [5, 2]


@pytest.mark.parametrize("bad", [(), (True,), (2**127,), ("1",)])
def test_positions_that_cannot_be_compared_are_refused(bad) -> None:
    with pytest.raises(ConversionError):
        encode_position(bad)
