"""The pipeline modules' public surface, which app.py, the CLI and sinks build on."""

from __future__ import annotations

import inspect

from streamproc.config import pipelines as spec
from streamproc.pipeline import compiled, paths, redact, transform, validate


def test_exported_names_exist():
    for module in (compiled, paths, redact, spec, transform, validate):
        for name in module.__all__:
            assert hasattr(module, name), f"{module.__name__}.{name}"


def test_public_signatures():
    assert str(inspect.signature(spec.parse_pipelines)) == "(text: 'str', source_name: 'str') -> 'PipelinesSpec'"
    assert str(inspect.signature(compiled.compile_source)) == (
        "(spec: 'SourceSpec', redaction_key: 'bytes') -> 'CompiledSource'"
    )
    assert list(inspect.signature(spec.PipelinesSpec.match).parameters) == ["self", "topic", "namespace"]
    assert inspect.signature(spec.PipelinesSpec.topics).parameters["default_prefix"].default == "cdc"
    validate_params = inspect.signature(compiled.CompiledSource.validate).parameters
    assert validate_params["partial"].kind is inspect.Parameter.KEYWORD_ONLY
    for method in (
        "transform_doc",
        "transform_update",
        "redact_doc",
        "redact_update",
        "redact_key",
        "validate_update",
        "accepts",
        "event_type",
    ):
        assert callable(getattr(compiled.CompiledSource, method))
