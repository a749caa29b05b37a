"""The pipeline :class:`~streamproc.pipeline.processor.Processor` as the worker and ``dry-run`` build
it from the settings: the decoder of every source topic, with the schema registry when one is set.

Faust-free: ``streamproc dry-run`` imports it and must never load Faust.
"""

from __future__ import annotations

from streamproc.config.pipelines import PipelinesSpec
from streamproc.config.settings import Settings
from streamproc.pipeline.processor import Processor

__all__ = ["build_processor"]


def build_processor(settings: Settings, spec: PipelinesSpec, fmt: str | None = None) -> Processor:
    """The pipeline shared by the worker and ``dry-run``; ``fmt`` fixes every message's wire format."""
    from streamproc.sources import Decoder

    registry = None
    if settings.schema_registry_url:
        from confluent_kafka.schema_registry import SchemaRegistryClient

        registry = SchemaRegistryClient({"url": settings.schema_registry_url})
    formats: dict[str, str] = {}
    key_fields: dict[str, list[str]] = {}
    for src in spec.sources:
        for topic in src.source_topics(settings.source_topic_prefix):
            if src.format:
                formats[topic] = src.format
            key_fields[topic] = list(src.key or ())  # always set once the file is loaded
    decoder = Decoder(formats=formats, schema_registry=registry, key_fields=key_fields)
    return Processor(spec, decoder, settings.redaction_key(), settings.topic_prefix, fmt=fmt)
