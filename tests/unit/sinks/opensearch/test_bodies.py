"""What ``streamproc opensearch init`` installs (``streamproc.sinks.opensearch.bodies``): the
indices of the entities, index templates and the ISM policy."""

from __future__ import annotations

from streamproc.config.sink_opensearch import OpenSearchSpec
from streamproc.sinks.opensearch.bodies import (
    entity_indices,
    index_template_body,
    ism_policy_body,
    rollover_template_body,
)
from tests.unit.sinks.opensearch.records import SPEC


def test_entity_indices_follow_the_entities_setting() -> None:
    spec = OpenSearchSpec(entities=["users"])
    assert entity_indices(spec, {"users": "app.users", "orders": "public.orders"}) == {"users": "app_users"}
    assert entity_indices(SPEC, {"users": "app.users", "orders": "public.orders"}) == {
        "orders": "public_orders",
        "users": "app_users",
    }


def test_index_template_maps_strings_as_keyword_with_text_and_at_fields_as_dates() -> None:
    body = index_template_body(SPEC, ["app_users", "public_orders"])
    assert body["index_patterns"] == ["app_users", "public_orders"]
    mappings = body["template"]["mappings"]
    templates = [next(iter(t.values())) for t in mappings["dynamic_templates"]]
    strings = templates[-1]
    assert strings["match_mapping_type"] == "string"
    assert strings["mapping"]["type"] == "keyword"
    assert strings["mapping"]["fields"] == {"text": {"type": "text"}}
    dates = [t for t in templates if t["mapping"]["type"] == "date"]
    assert {t["match"] for t in dates} == {"*_at", "*At"}
    assert {t["match_mapping_type"] for t in dates} == {"string", "long"}
    assert mappings["date_detection"] is False
    rolled = rollover_template_body(SPEC, "app_events")
    assert rolled["index_patterns"] == ["app_events-*"]
    assert rolled["template"]["settings"]["plugins.index_state_management.rollover_alias"] == "app_events"
    assert rolled["priority"] > body["priority"]


def test_ism_policy_rolls_over_and_deletes_after_n_days() -> None:
    spec = OpenSearchSpec(ism={"delete_after_days": 7, "rollover_min_size": "5gb", "rollover_min_age": "12h"})
    policy = ism_policy_body(spec, ["app_events"])["policy"]
    hot, delete = policy["states"]
    assert policy["default_state"] == "hot"
    assert hot["actions"] == [{"rollover": {"min_index_age": "12h", "min_size": "5gb"}}]
    assert hot["transitions"] == [{"state_name": "delete", "conditions": {"min_index_age": "7d"}}]
    assert delete["actions"] == [{"delete": {}}]
    assert policy["ism_template"] == [{"index_patterns": ["app_events-*"], "priority": 100}]
    assert "ism_template" not in ism_policy_body(spec, [])["policy"]  # attached to nothing by default
