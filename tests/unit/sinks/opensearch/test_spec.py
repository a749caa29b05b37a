"""The ``sinks.opensearch`` section (``streamproc.config.sink_opensearch``): what it rejects when
the configuration is loaded, and the shipped section."""

from __future__ import annotations

import pytest
from pydantic import ValidationError

from streamproc.config.sink_opensearch import OpenSearchSpec


@pytest.mark.parametrize(
    ("template", "message"),
    [
        ("logs/{entity}", "literal text"),
        ("{entity} index", "literal text"),
        ("{database}", "must contain {collection} or {entity}"),
        ("{db}_{collection}", "unknown field {db}"),
        ("{entity:>10}", "no format spec"),
        ("_{entity}", "must not start"),
        ("{entity", "not a valid format string"),
    ],
)
def test_bad_index_templates_are_rejected_at_config_time(template: str, message: str) -> None:
    with pytest.raises(ValidationError, match=message.replace("{", r"\{").replace("}", r"\}")):
        OpenSearchSpec(index_template=template)


@pytest.mark.parametrize(
    ("ism", "message"),
    [
        ({"rollover_min_age": "one day"}, "rollover_min_age"),
        ({"rollover_min_size": "big"}, "rollover_min_size"),
        ({"rollover_min_age": None, "rollover_min_size": None}, "at least one"),
        ({"delete_after_days": 0}, "delete_after_days"),
    ],
)
def test_bad_ism_settings_are_rejected(ism: dict, message: str) -> None:
    with pytest.raises(ValidationError, match=message):
        OpenSearchSpec(ism=ism)


def test_ism_entities_must_be_written_by_the_sink() -> None:
    with pytest.raises(ValidationError, match="ism.entities lists events"):
        OpenSearchSpec(entities=["users"], ism={"entities": ["events"]})


def test_shipped_pipelines_config_section_parses(repo_root) -> None:
    import yaml

    raw = yaml.safe_load((repo_root / "config" / "pipelines.yaml").read_text())
    spec = OpenSearchSpec.model_validate(raw["sinks"]["opensearch"])
    assert spec.index_template == "{database}_{collection}"
