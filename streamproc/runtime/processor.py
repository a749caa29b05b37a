"""The pipeline :class:`~streamproc.pipeline.processor.Processor` as the worker and ``dry-run`` build
it from the settings: the decoder of every source topic, with the schema registry when one is set.

Faust-free: ``streamproc dry-run`` imports it and must never load Faust.

Two checks live here because every worker, however started (``streamproc worker``/``dev``,
``faust -A streamproc.app``), builds its processor through :func:`build_processor`: the public
development key is accepted only on the embedded broker (:func:`redaction_key`), and the
schema-registry URL, a secret, is never echoed when the client refuses it (:func:`schema_registry`).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from streamproc.config.pipelines import PipelinesSpec
from streamproc.config.settings import Settings
from streamproc.errors import ConfigError
from streamproc.pipeline.processor import Processor

if TYPE_CHECKING:
    from confluent_kafka.schema_registry import SchemaRegistryClient

__all__ = ["build_processor", "check_dev_key", "redaction_key", "schema_registry"]


def check_dev_key(settings: Settings, *, offline: bool = False) -> None:
    """Allow what dev mode allows (the public development key, a key shorter than 32 bytes) only
    where it protects nothing real: ``offline`` (``dry-run``: output to stdout only), on the
    embedded broker, or with ``--allow-dev-key``. Otherwise a ConfigError, within a few seconds
    even when the broker does not answer (:func:`streamproc.runtime.admin.check_dev_key_broker`)."""
    weak = settings.weak_redaction_key()
    if offline or settings.dev_key_allowed or weak is None:
        return
    from streamproc.runtime.admin import check_dev_key_broker

    protocol = {"security.protocol": settings.kafka_security.protocol}  # only PLAINTEXT can be embedded
    check_dev_key_broker(settings.kafka_bootstrap, protocol, what=weak)


def redaction_key(settings: Settings, *, offline: bool = False) -> bytes:
    """:meth:`Settings.redaction_key`, after :func:`check_dev_key`."""
    check_dev_key(settings, offline=offline)
    return settings.redaction_key()


def schema_registry(settings: Settings) -> SchemaRegistryClient | None:
    """The schema-registry client of ``STREAMPROC_SCHEMA_REGISTRY_URL``, or None when unset. A URL
    the client refuses is a ConfigError that does not show it (it may carry credentials)."""
    if settings.schema_registry_url is None:
        return None
    from confluent_kafka.schema_registry import SchemaRegistryClient

    try:
        return SchemaRegistryClient({"url": settings.schema_registry_url.get_secret_value()})
    except (ValueError, TypeError) as exc:
        raise ConfigError(
            f"STREAMPROC_SCHEMA_REGISTRY_URL: the schema-registry client refused it ({type(exc).__name__}; "
            "the value is not shown)"
        ) from None


def build_processor(
    settings: Settings, spec: PipelinesSpec, fmt: str | None = None, *, offline: bool = False
) -> Processor:
    """The pipeline shared by the worker and ``dry-run``; ``fmt`` fixes every message's wire format;
    ``offline`` (``dry-run``) allows the development key without asking which broker is configured."""
    from streamproc.sources import Decoder

    registry = schema_registry(settings)
    formats: dict[str, str] = {}
    key_fields: dict[str, list[str]] = {}
    for src in spec.sources:
        for topic in src.source_topics(settings.source_topic_prefix):
            if src.format:
                formats[topic] = src.format
            key_fields[topic] = list(src.key or ())  # always set once the file is loaded
    decoder = Decoder(
        formats=formats, schema_registry=registry, key_fields=key_fields, max_depth=settings.limits.max_depth
    )
    from streamproc.pipeline.limits import Limits

    limits = Limits(**settings.limits.model_dump())
    key = redaction_key(settings, offline=offline)
    return Processor(spec, decoder, key, settings.topic_prefix, fmt=fmt, limits=limits)
