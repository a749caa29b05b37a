"""A source's validate/transform/redact steps, compiled once for the hot path.

Order in the ingest stage: ``validate`` (source field names) → dedupe → ``transform`` →
``redact`` (field names after transforms). Every method returns new objects and never
mutates its input; untouched subtrees are shared, not copied.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from streamproc.errors import ConfigError
from streamproc.model import Op, Update
from streamproc.pipeline.redact import Redactor
from streamproc.pipeline.transform import Transformer
from streamproc.pipeline.validate import Validator
from streamproc.pipeline.vocabulary import RedactMode

if TYPE_CHECKING:
    from streamproc.config.pipelines import SourceSpec

__all__ = ["CompiledSource", "compile_source"]


class CompiledSource:
    __slots__ = ("spec", "entity", "ops", "_validator", "_transformer", "_redactor")

    def __init__(self, spec: SourceSpec, redaction_key: bytes) -> None:
        self.spec = spec
        self.entity = spec.entity
        self.ops: frozenset[Op] = spec.ops
        self._validator = Validator(spec.validation, [spec.severity(r) for r in spec.validation])
        self._transformer = Transformer(spec.transform)
        self._redactor = Redactor(spec.redact, redaction_key)

    def accepts(self, op: Op | str) -> bool:
        """Whether the source keeps events of ``op`` (others are dropped as "filtered")."""
        return Op(op) in self.ops

    def event_type(self, op: Op | str) -> str:
        return self.spec.event_type(op)

    def validate(self, doc: dict[str, Any], *, partial: bool) -> tuple[str, ...]:
        """Raise :class:`~streamproc.pipeline.validate.RuleFailed` (``"<field>: <problem>"``) for
        an ``error`` rule; return the names of the failing ``warn`` rules."""
        return self._validator.validate(doc, partial=partial)

    def validate_update(self, update: Update) -> tuple[str, ...]:
        """``validate(update.set, partial=True)``, plus: no required field unset or set to null."""
        return self._validator.validate_update(update)

    def transform_doc(self, doc: dict[str, Any]) -> dict[str, Any]:
        return self._transformer.transform_doc(doc)

    def transform_update(self, update: Update) -> Update:
        return self._transformer.transform_update(update)

    def redact_doc(self, doc: dict[str, Any]) -> dict[str, Any]:
        return self._redactor.redact_doc(doc)

    def redact_update(self, update: Update) -> Update:
        return self._redactor.redact_update(update)

    def redact_key(self, key: dict[str, Any]) -> dict[str, Any]:
        return self._redactor.redact_key(key)

    def clean_doc(self, doc: dict[str, Any]) -> dict[str, Any]:
        """``redact_doc(transform_doc(doc))``."""
        return self._redactor.redact_doc(self._transformer.transform_doc(doc))

    def clean_update(self, update: Update) -> Update:
        """``redact_update(transform_update(update))``."""
        return self._redactor.redact_update(self._transformer.transform_update(update))


def compile_source(spec: SourceSpec, redaction_key: bytes) -> CompiledSource:
    """Compile ``spec``; HASH and TOKENIZE rules need a non-empty ``redaction_key``."""
    if not isinstance(redaction_key, (bytes, bytearray)):
        raise ConfigError("redaction key must be bytes")
    keyed = any(r.mode in (RedactMode.HASH, RedactMode.TOKENIZE) for r in spec.redact)
    if keyed and not redaction_key:
        raise ConfigError(f"source '{spec.entity}' uses HASH or TOKENIZE redaction but the redaction key is empty")
    return CompiledSource(spec, bytes(redaction_key))
