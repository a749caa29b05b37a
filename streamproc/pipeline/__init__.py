"""The pure ingest steps: route → validate → dedupe/order → transform → redact → merge.

No I/O and no framework: :class:`~streamproc.pipeline.processor.Processor` runs one message
through them against a state store the caller provides. The configuration types are only
annotations here (the models live in :mod:`streamproc.config`); the words they share are in
:mod:`~streamproc.pipeline.vocabulary`.
"""

__all__: list[str] = []
