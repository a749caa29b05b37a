"""The public names of the S3 sink modules exist, and the two sinks carry their names."""

from __future__ import annotations

from streamproc.sinks.s3.archive import S3ArchiveSink
from streamproc.sinks.s3.trigger import S3TriggerSink


def test_public_api() -> None:
    import streamproc.sinks.s3.archive
    import streamproc.sinks.s3.archive_format
    import streamproc.sinks.s3.aws
    import streamproc.sinks.s3.errors
    import streamproc.sinks.s3.js_json
    import streamproc.sinks.s3.layout
    import streamproc.sinks.s3.markers
    import streamproc.sinks.s3.parity
    import streamproc.sinks.s3.trigger

    assert S3TriggerSink.name == "s3" and S3ArchiveSink.name == "s3-archive"
    for mod in (
        streamproc.sinks.s3.aws,
        streamproc.sinks.s3.errors,
        streamproc.sinks.s3.trigger,
        streamproc.sinks.s3.archive,
        streamproc.sinks.s3.layout,
        streamproc.sinks.s3.markers,
        streamproc.sinks.s3.js_json,
        streamproc.sinks.s3.archive_format,
        streamproc.sinks.s3.parity,
    ):
        for name in mod.__all__:
            assert hasattr(mod, name), f"{mod.__name__}.{name}"
