"""Dead-letter records: the original key, value and headers byte-for-byte, plus Kafka Connect
style ``__connect.errors.*`` headers and ``streamproc.error.class``. The DLQ holds raw payloads
and is as sensitive as the raw change topics."""

from __future__ import annotations

from streamproc.pipeline.processor import DeadLetter, RawMessage

__all__ = ["dlq_headers", "ERROR_CLASS_HEADER"]

ERROR_CLASS_HEADER = "streamproc.error.class"


def dlq_headers(msg: RawMessage, dl: DeadLetter, connector: str) -> list[tuple[str, bytes]]:
    extra = [
        ("__connect.errors.topic", msg.topic),
        ("__connect.errors.partition", str(msg.partition)),
        ("__connect.errors.offset", "" if msg.offset is None else str(msg.offset)),
        ("__connect.errors.connector.name", connector),
        ("__connect.errors.stage", dl.stage.upper()),
        ("__connect.errors.class.name", "streamproc.pipeline.Processor"),
        ("__connect.errors.exception.class.name", f"streamproc.errors.{dl.exception}"),
        ("__connect.errors.exception.message", dl.reason),
        (ERROR_CLASS_HEADER, dl.error_class),
    ]
    return list(msg.headers) + [(k, v.encode()) for k, v in extra]
