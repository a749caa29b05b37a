"""The S3 sinks: trigger-compatible objects with SQS messages, the Avro archive, their progress
markers, and shadow-mode parity."""

__all__: list[str] = []
