"""Pure parts of ``streamproc parity``: URLs, object names, --since, usage errors (exit 2). No network."""

from __future__ import annotations

import io
import json

import pytest

from streamproc.errors import ConfigError
from streamproc.parity import (
    ParityReport,
    S3Url,
    add_arguments,
    parse_object_name,
    parse_s3_url,
    parse_since,
    run_parity,
)


def test_parse_s3_url() -> None:
    assert parse_s3_url("s3://bucket-a/prod/reservations") == S3Url("bucket-a", "prod/reservations/")
    assert parse_s3_url("s3://bucket-a/prod/reservations/") == S3Url("bucket-a", "prod/reservations/")
    assert parse_s3_url("s3://bucket-a") == S3Url("bucket-a", "")
    assert str(parse_s3_url("s3://bucket-a/dev/x")) == "s3://bucket-a/dev/x/"


@pytest.mark.parametrize("url", ["http://bucket/prod", "bucket/prod", "s3://", "s3://B/x", "s3:///prod"])
def test_bad_s3_urls(url: str) -> None:
    with pytest.raises(ConfigError):
        parse_s3_url(url)


@pytest.mark.parametrize(
    ("name", "parsed"),
    [
        ("65a1b2c3d4e5f60718293a4b-1700000000123", ("65a1b2c3d4e5f60718293a4b", 1700000000123, None)),
        ("65a1-1700000000123-0", ("65a1", 1700000000123, 0)),
        ("65a1-1700000000123-12", ("65a1", 1700000000123, 12)),
        ("user-42-1700000000123", ("user-42", 1700000000123, None)),
        ("user-42-1700000000123-3", ("user-42", 1700000000123, 3)),
        ("a-b-c-1700000000123", ("a-b-c", 1700000000123, None)),
        ("{\"n\":1}-1700000000123", ("{\"n\":1}", 1700000000123, None)),
    ],
)
def test_parse_object_name(name: str, parsed: tuple) -> None:
    assert parse_object_name(name) == parsed


@pytest.mark.parametrize("name", ["noseparator", "-1700000000123", "doc-abc", "doc-", "_streamproc/offsets/t/0"])
def test_names_that_are_not_trigger_objects(name: str) -> None:
    assert parse_object_name(name) is None


def test_parse_since() -> None:
    assert parse_since(None) is None
    assert parse_since("2023-11-14T22:13:20.123Z") == 1_700_000_000_123
    assert parse_since("2023-11-14T22:13:20.123") == 1_700_000_000_123  # naive = UTC
    assert parse_since("2023-11-14T23:13:20.123+01:00") == 1_700_000_000_123
    assert parse_since("2023-11-14") == 1_699_920_000_000
    with pytest.raises(ConfigError):
        parse_since("yesterday")


@pytest.mark.parametrize(
    ("left", "right", "since", "threshold", "message"),
    [
        ("bucket-a/prod/x", "s3://bucket-a/dev/x", None, 99.9, "not an s3:// URL"),
        ("s3://bucket-a/prod/x", "s3://Bad_Bucket/dev/x", None, 99.9, "not a valid bucket name"),
        ("s3://bucket-a/prod/x", "s3://bucket-a/dev/x", "soon", 99.9, "--since"),
        ("s3://bucket-a/prod/x", "s3://bucket-a/dev/x", None, 120.0, "--threshold"),
    ],
)
def test_usage_errors_exit_2_before_touching_s3(left: str, right: str, since: str | None, threshold: float,
                                                message: str) -> None:
    out, err = io.StringIO(), io.StringIO()
    code = run_parity(left, right, since, threshold, False, out, s3_client=None, err=err)
    assert code == 2
    assert message in err.getvalue() and out.getvalue() == ""


def report(**kw) -> ParityReport:
    base = dict(left="s3://b/prod/x/", right="s3://b/dev/x/", left_documents=0, right_documents=0, left_objects=0,
                right_objects=0, left_unrecognised=0, right_unrecognised=0, pairs=0, matches=0, mismatches=0,
                missing_left=0, missing_right=0, match_rate=0.0, threshold=99.9, since_ms=None)
    return ParityReport(**{**base, **kw})


def test_pass_needs_pairs_and_the_threshold() -> None:
    assert report(pairs=10, matches=10, match_rate=100.0).passed
    assert report(pairs=1000, matches=999, match_rate=99.9).passed
    assert not report(pairs=1000, matches=998, match_rate=99.8).passed
    assert not report().passed  # nothing compared
    doc = report(pairs=4, matches=3, mismatches=1, match_rate=75.0).to_json()
    assert doc["passed"] is False and doc["match_rate"] == 75.0
    json.dumps(doc)


def test_arguments() -> None:
    import argparse

    p = argparse.ArgumentParser()
    add_arguments(p)
    args = p.parse_args(["--left", "s3://b/prod/x", "--right", "s3://b/dev/x", "--json"])
    assert (args.left, args.right, args.since, args.threshold, args.as_json) == (
        "s3://b/prod/x", "s3://b/dev/x", None, 99.9, True)
