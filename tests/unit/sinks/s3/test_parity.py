"""``streamproc parity`` without a network: URLs, object names, --since, usage errors (exit 2) —
the comparison of ``streamproc.sinks.s3.parity`` and the command of ``streamproc.cli.parity``
over a fake S3 client."""

from __future__ import annotations

import io
import json

import pytest

from streamproc.cli.parity import add_arguments, run_parity
from streamproc.errors import ConfigError
from streamproc.sinks.s3.parity import (
    S3Url,
    parse_object_name,
    parse_s3_url,
    parse_since,
)
from streamproc.sinks.s3.parity_compare import ParityReport
from tests.unit.sinks.s3.aws_errors import client_error


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
        ('{"n":1}-1700000000123', ('{"n":1}', 1700000000123, None)),
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
def test_usage_errors_exit_2_before_touching_s3(
    left: str, right: str, since: str | None, threshold: float, message: str
) -> None:
    out, err = io.StringIO(), io.StringIO()
    code = run_parity(left, right, since, threshold, False, out, s3_client=None, err=err)
    assert code == 2
    assert message in err.getvalue() and out.getvalue() == ""


def report(**kw) -> ParityReport:
    base = {
        "left": "s3://b/prod/x/",
        "right": "s3://b/dev/x/",
        "left_documents": 0,
        "right_documents": 0,
        "left_objects": 0,
        "right_objects": 0,
        "left_unrecognised": 0,
        "right_unrecognised": 0,
        "pairs": 0,
        "matches": 0,
        "mismatches": 0,
        "missing_left": 0,
        "missing_right": 0,
        "match_rate": 0.0,
        "threshold": 99.9,
        "since_ms": None,
    }
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
        "s3://b/prod/x",
        "s3://b/dev/x",
        None,
        99.9,
        True,
    )


# ----------------------------------------------------------------- comparison over a fake S3 client


TS = 1_700_000_000_123


class FakeS3:
    """Listing and GetObject over a dict; ETags as given (default: MD5 of the bytes, as S3 for
    single-part objects); ``fail_get`` maps a key prefix to the exception GetObject raises there."""

    def __init__(
        self,
        objects: dict[str, bytes],
        etags: dict[str, str] | None = None,
        fail_get: dict[str, Exception] | None = None,
    ) -> None:
        import hashlib

        self.objects = objects
        self.etags = {k: f'"{hashlib.md5(v).hexdigest()}"' for k, v in objects.items()} | (etags or {})
        self.fail_get = fail_get or {}
        self.gets: list[str] = []

    def get_paginator(self, name: str):
        assert name == "list_objects_v2"
        fake = self

        class Paginator:
            def paginate(self, Bucket: str, Prefix: str):
                keys = sorted(k for k in fake.objects if k.startswith(Prefix))
                yield {"Contents": [{"Key": k, "ETag": fake.etags[k], "Size": len(fake.objects[k])} for k in keys]}

        return Paginator()

    def get_object(self, Bucket: str, Key: str) -> dict:
        self.gets.append(Key)
        for prefix, exc in self.fail_get.items():
            if Key.startswith(prefix):
                raise exc
        return {"Body": io.BytesIO(self.objects[Key])}


def _parity(client: FakeS3, threshold: float = 99.9) -> tuple[int, dict, str]:
    out, err = io.StringIO(), io.StringIO()
    code = run_parity("s3://bkt/prod/x", "s3://bkt/dev/x", None, threshold, True, out, client, err=err)
    return code, (json.loads(out.getvalue()) if out.getvalue() else {}), err.getvalue()


def test_equal_etags_match_without_a_download() -> None:
    objs = {f"{env}/x/d{i}-{TS}": b'{"n":%d}' % i for env in ("prod", "dev") for i in range(5)}
    client = FakeS3(objs)
    code, result, _ = _parity(client)
    assert code == 0 and (result["pairs"], result["matches"], result["mismatches"]) == (5, 5, 0)
    assert client.gets == []


def test_different_etags_are_settled_by_the_bytes() -> None:
    """Multipart or SSE-KMS ETags differ for equal bytes: the hash decides; different sizes need no download."""
    objs = {
        f"prod/x/same-{TS}": b"{}",
        f"dev/x/same-{TS}": b"{}",  # different ETags, equal bytes: match
        f"prod/x/diff-{TS}": b'{"a":1}',
        f"dev/x/diff-{TS}": b'{"a":2}',  # equal size, different bytes
        f"prod/x/size-{TS}": b'{"a":1}',
        f"dev/x/size-{TS}": b'{"a":10}',  # different sizes
        f"prod/x/split-{TS}-0": b'{"a"',
        f"prod/x/split-{TS}-1": b":1}",
        f"dev/x/split-{TS}": b'{"a":1}',
    }
    client = FakeS3(objs, etags={f"dev/x/same-{TS}": '"abc-2"'})
    code, result, _ = _parity(client, threshold=50.0)
    assert code == 0 and (result["pairs"], result["matches"], result["mismatches"]) == (4, 2, 2)
    assert sorted(client.gets) == sorted(
        [
            f"prod/x/same-{TS}",
            f"dev/x/same-{TS}",
            f"prod/x/diff-{TS}",
            f"dev/x/diff-{TS}",
            f"prod/x/split-{TS}-0",
            f"prod/x/split-{TS}-1",
            f"dev/x/split-{TS}",
        ]
    )


def test_missing_etags_fall_back_to_the_bytes() -> None:
    objs = {f"prod/x/a-{TS}": b"{}", f"dev/x/a-{TS}": b"{}"}
    client = FakeS3(objs, etags={f"prod/x/a-{TS}": ""})
    code, result, _ = _parity(client)
    assert code == 0 and result["matches"] == 1 and len(client.gets) == 2


@pytest.mark.parametrize("side", ["prod", "dev"])
def test_a_vanished_object_names_its_side_and_is_no_missing_bucket(side: str) -> None:
    objs = {f"prod/x/a-{TS}": b'{"a":1}', f"dev/x/a-{TS}": b'{"a":2}'}
    client = FakeS3(objs, fail_get={f"{side}/": client_error("NoSuchKey", 404, "GetObject")})
    code, result, err = _parity(client)
    assert code == 1 and result == {}
    assert f"s3://bkt/{side}/x/: " in err and "does not exist" not in err and "NoSuchKey" in err
    assert "a-1700000000123" not in err  # no object key (a document id)


@pytest.mark.parametrize(
    ("exc", "code", "message"),
    [
        (client_error("NoSuchBucket", 404, "GetObject"), 2, "bucket 'bkt' does not exist"),
        (client_error("404", 404, "GetObject"), 1, "an object vanished between listing and reading (404)"),
        (client_error("InvalidRange", 416, "GetObject"), 1, "S3 answered InvalidRange"),
        (client_error("AccessDenied", 403, "GetObject"), 2, "access denied (AccessDenied)"),
        (client_error("InvalidToken", 400, "GetObject"), 2, "access denied (InvalidToken)"),
        (client_error("SlowDown", 503, "GetObject"), 1, "S3 answered SlowDown"),
    ],
)
def test_aws_failures_while_comparing_name_the_failing_side(exc: Exception, code: int, message: str) -> None:
    objs = {f"prod/x/a-{TS}": b'{"a":1}', f"dev/x/a-{TS}": b'{"a":2}'}
    got, _, err = _parity(FakeS3(objs, fail_get={"dev/": exc}))
    assert got == code and f"s3://bkt/dev/x/: {message}" in err


def test_a_bug_while_comparing_is_raised_not_reported() -> None:
    objs = {f"prod/x/a-{TS}": b'{"a":1}', f"dev/x/a-{TS}": b'{"a":2}'}
    with pytest.raises(TypeError):
        _parity(FakeS3(objs, fail_get={"dev/": TypeError("bug")}))
