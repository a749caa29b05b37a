"""The decode-free pipeline ``streamproc parity --config`` applies to a trigger-side document:
the compiled validation, transforms and redaction of the entity's source, as the worker's
processor (:func:`~streamproc.runtime.processor.build_processor`) holds them, with the
redaction key from the settings. Faust-free.

A trigger wrote ``fullDocument || documentKey``: a document whose fields are exactly the
source's key fields is a delete's document key, and gets only the key's redaction (the worker
neither validates nor transforms a delete). Any other document is validated as a full
document: a failing ``error`` rule, a missing key field or a failing transform is what the
worker would send to the DLQ, named by the rule (``key:<field>``, ``transform``).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from streamproc.errors import ConfigError, StreamprocError, ValidationFailed
from streamproc.pipeline.validate import RuleFailed
from streamproc.runtime.processor import build_processor
from streamproc.sinks.s3.parity_classes import Piped, Pipeline

if TYPE_CHECKING:
    from streamproc.config.pipelines import PipelinesSpec
    from streamproc.config.settings import Settings
    from streamproc.pipeline.compiled import CompiledSource
    from streamproc.pipeline.processor import Processor

__all__ = ["entity_of", "parity_pipeline", "pipeline_of"]


def entity_of(spec: PipelinesSpec, collection: str, entity: str | None = None) -> str:
    """``entity`` if given (it must have a source), else the entity whose trigger collection
    (``sinks.s3_trigger.entities.<entity>.collection``, default the entity name) is ``collection``."""
    names = [s.entity for s in spec.sources]
    if entity is not None:
        if entity not in names:
            raise ConfigError(f"--entity '{entity}': no source of the pipelines file has this entity")
        return entity
    trig = spec.sinks.s3_trigger
    for name in names:
        if (trig.collection(name) if trig is not None else name) == collection:
            return name
    raise ConfigError(
        f"the left side's last path segment '{collection}' is no trigger collection of the pipelines "
        "file; name the source with --entity"
    )


def pipeline_of(compiled: CompiledSource, key_fields: list[str]) -> Pipeline:
    """The function :func:`~streamproc.sinks.s3.parity_compare.compare` applies to left documents."""
    keys = set(key_fields)

    def run(doc: Any) -> Piped:
        if not isinstance(doc, dict):
            return Piped(doc)
        missing = [k for k in key_fields if k not in doc]
        if missing:
            return Piped(rule=f"key:{missing[0]}")
        if set(doc) == keys:  # a delete: documentKey
            return Piped(compiled.redact_key(doc))
        try:
            compiled.validate(doc, partial=False)
        except RuleFailed as exc:
            return Piped(rule=exc.rule)
        except ValidationFailed:
            return Piped(rule="validation")
        try:
            return Piped(compiled.clean_doc(doc))
        except (StreamprocError, ValueError, TypeError, KeyError, RecursionError):
            return Piped(rule="transform")

    return run


def parity_pipeline(
    settings: Settings, spec: PipelinesSpec, entity: str, processor: Processor | None = None
) -> Pipeline:
    """The pipeline of ``entity`` built as the worker builds it (offline: the development key is
    accepted, nothing leaves this process but the report); ``processor``: one built already."""
    processor = processor or build_processor(settings, spec, offline=True)
    compiled = processor.compiled(entity)
    src = spec.source(entity)
    if compiled is None or src is None:
        raise ConfigError(f"entity '{entity}': no source of the pipelines file")
    return pipeline_of(compiled, list(src.key or ()))
