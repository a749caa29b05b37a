"""Progress markers of the S3 sinks (``streamproc.sinks.s3.markers``): encoding and keys."""

from __future__ import annotations

import pytest

from streamproc.sinks.s3.markers import Marker, archive_marker_key, trigger_marker_key


def test_marker_round_trip_and_keys() -> None:
    m = Marker(41, ("a", "b"))
    assert Marker.decode(m.encode()) == m
    assert Marker.decode(b'{"offset": 3}') == Marker(3)
    with pytest.raises(ValueError):
        Marker.decode(b"garbage")
    assert trigger_marker_key("prod/", "t", 2) == "prod/_streamproc/offsets/t/2"
    assert trigger_marker_key("", "t", 2) == "_streamproc/offsets/t/2"
    assert archive_marker_key("archive", "t", 0) == "_streamproc/archive-offsets/archive/t/0"
