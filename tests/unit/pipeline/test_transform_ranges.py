"""Dates outside the representable range stay recognisable, never become other dates; the
``unit`` of an ``iso_date`` step; decimals exact (issue 10 §0)."""

from __future__ import annotations

import pytest

from streamproc.config.pipelines import SourceSpec
from streamproc.pipeline.compiled import compile_source
from streamproc.pipeline.redact import partial_mask
from streamproc.pipeline.transform import epoch_unit, to_decimal, to_iso_date

YEAR_10000_MS = 253402300800000  # 10000-01-01T00:00:00Z in ms: what extjson keeps for such a $date
YEAR_10000_US = YEAR_10000_MS * 1000


@pytest.mark.parametrize(
    "value",
    [
        YEAR_10000_MS,  # was read as microseconds: 1978-01-12
        -62135596800001,  # one ms before year 1
        YEAR_10000_US,  # µs of year 10000 (PostgreSQL allows years up to 294276)
        str(YEAR_10000_MS),
        float(YEAR_10000_MS),
        10**30,
    ],
)
def test_out_of_range_epochs_are_left_unchanged_never_read_in_another_unit(value) -> None:
    assert to_iso_date(value) == value


def test_postgres_infinity_sentinels_stay_recognisable() -> None:
    """Debezium sends ±infinity timestamps as Long.MAX/Long.MIN (they were 2262 and 1677)."""
    assert to_iso_date(2**63 - 1) == "infinity"
    assert to_iso_date(-(2**63)) == "-infinity"
    assert to_iso_date(str(2**63 - 1)) == "infinity"


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        (253402300799999, "9999-12-31T23:59:59.999Z"),  # the last millisecond of year 9999
        (-62135596800000, "0001-01-01T00:00:00.000Z"),
        (99999999999, "5138-11-16T09:46:39.000Z"),  # seconds up to 1e11
        (100000000000, "1973-03-03T09:46:40.000Z"),  # milliseconds from 1e11
        (10**15, "2001-09-09T01:46:40.000Z"),  # microseconds from 1e15
        (10**18, "2001-09-09T01:46:40.000Z"),  # nanoseconds from 1e18
    ],
)
def test_the_magnitude_bands(value, expected) -> None:
    assert to_iso_date(value) == expected


def test_epoch_unit_bands() -> None:
    assert [epoch_unit(n) for n in (0, 10**11 - 1, 10**11, 10**15 - 1, 10**15, 10**18, -(10**15))] == [
        "s", "s", "ms", "ms", "us", "ns", "us",
    ]  # fmt: skip


def test_an_explicit_unit_removes_the_ambiguity() -> None:
    us_1975 = 157766400000000  # 1975-01-01 in µs: by magnitude a millisecond value of year 6969
    assert to_iso_date(us_1975) == "6969-06-02T00:00:00.000Z"
    assert to_iso_date(us_1975, unit="us") == "1975-01-01T00:00:00.000Z"
    assert to_iso_date(YEAR_10000_MS, unit="ms") == YEAR_10000_MS
    assert to_iso_date(1_700_000_000, unit="ms") == "1970-01-20T16:13:20.000Z"
    spec = SourceSpec.model_validate(
        {"entity": "e", "topic": "t", "transform": [{"iso_date": ["born", "seen"], "unit": "us"}]}
    )
    out = compile_source(spec, b"").transform_doc({"born": us_1975, "seen": [us_1975], "x": us_1975})
    assert out == {"born": "1975-01-01T00:00:00.000Z", "seen": ["1975-01-01T00:00:00.000Z"], "x": us_1975}


def test_unit_applies_to_iso_date_steps_only() -> None:
    with pytest.raises(ValueError, match="'unit' applies to an iso_date step only"):
        SourceSpec.model_validate({"entity": "e", "topic": "t", "transform": [{"lower": "a", "unit": "ms"}]})
    with pytest.raises(ValueError, match="unknown unit 'days'; expected one of s, ms, us, ns"):
        SourceSpec.model_validate({"entity": "e", "topic": "t", "transform": [{"iso_date": "a", "unit": "days"}]})


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("123456789012345678901234567890.01", "123456789012345678901234567890.01"),  # not rounded to 28 digits
        ("-0.000000000000000000000000000001", "-0.000000000000000000000000000001"),
        ("9" * 200, "9" * 200),
        ("1e100", "1" + "0" * 100),
    ],
)
def test_decimals_are_exact(value, expected) -> None:
    assert to_decimal(value) == expected


@pytest.mark.parametrize("value", ["9" * 201, "1e101", "1" * 800_000 + ".5", "NaN", "-Infinity", "sNaN"])
def test_decimals_beyond_the_limits_are_left_unchanged_and_cheap(value) -> None:
    assert to_decimal(value) is value


@pytest.mark.parametrize(
    "value",
    [
        {"inner": "a@mail.example.org", "more": ["PIIX-CANARY-secret"]},  # JSON text: was taken as an e-mail
        "x@y.tld-SECRET-part",
        "x@y.org,secret-part",
    ],
)
def test_partial_mask_keeps_a_tld_only_of_an_e_mail_shaped_string(value) -> None:
    masked = partial_mask(value)
    assert "SECRET" not in masked and "secret" not in masked and "CANARY" not in masked
    assert masked.endswith(str(value)[-2:] if isinstance(value, str) else "]}")
