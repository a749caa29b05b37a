"""The pipelines file: schema, defaults, topics and error messages."""

from __future__ import annotations

import textwrap

import pytest

from streamproc.config.loader import parse_pipelines
from streamproc.config.pipelines import PipelinesSpec, SourceSpec
from streamproc.errors import ConfigError
from streamproc.model import Op
from streamproc.pipeline.vocabulary import DEFAULT_OPERATIONS, RedactMode

FILE = "config/test-pipelines.yaml"


def parse(text: str) -> PipelinesSpec:
    return parse_pipelines(textwrap.dedent(text), FILE)


def error_of(text: str) -> str:
    with pytest.raises(ConfigError) as info:
        parse(text)
    return str(info.value)


MINIMAL = """
version: 1
sources:
  - entity: users
    topic: cdc.db.users
    key: [_id]
"""


def test_minimal_file_gets_documented_defaults():
    spec = parse(MINIMAL)
    (src,) = spec.sources
    assert src.entity == "users"
    assert src.ops == frozenset(DEFAULT_OPERATIONS)
    assert not src.accepts(Op.TRUNCATE)
    assert src.format is None and src.key == ["_id"]
    assert src.source_topics() == ["cdc.db.users"]
    assert src.validation == [] and src.transform == [] and src.redact == []


def test_full_source_is_parsed_into_typed_models():
    spec = parse(
        """
        version: 1
        sources:
          - entity: users
            topic: cdc.Facilitron_common.users
            namespace: Facilitron_common.users
            format: debezium-mongodb
            key: [_id]
            operations: [insert, delete]
            event_types: {insert: user.created}
            validate:
              - {field: email, required: true, type: string, pattern: '@'}
              - {field: iops, type: number, min: 0, max: 10.5}
              - {field: status, enum: [active, 1, true, null]}
              - {field: name, min_length: 1, max_length: 5}
            transform:
              - {rename: {from: firstName, to: first_name}}
              - {drop: [internalNotes, debug]}
              - {iso_date: createdAt}
              - {decimal: amount}
              - {upper: currency}
              - {lower: email}
            redact:
              - {path: email, mode: PARTIAL_MASK}
              - {path: ssn, mode: REMOVE}
        """
    )
    src = spec.sources[0]
    assert src.format == "debezium-mongodb"
    assert src.ops == {Op.INSERT, Op.DELETE}
    assert not src.accepts("update")
    assert src.validation[1].min == 0 and src.validation[1].max == 10.5
    assert src.validation[2].enum == ["active", 1, True, None]
    assert [t.kind for t in src.transform] == ["rename", "drop", "iso_date", "decimal", "upper", "lower"]
    assert src.transform[0].rename.from_ == "firstName"
    assert src.transform[1].drop == ["internalNotes", "debug"]
    assert src.transform[2].iso_date == ["createdAt"]
    assert src.redact[1].mode is RedactMode.REMOVE


def test_defaults_apply_unless_overridden():
    spec = parse(
        """
        version: 1
        defaults: {operations: [insert, update], key: [_id], format: debezium-mongodb}
        sources:
          - {entity: a, topic: t.a}
          - {entity: b, topic: t.b, operations: [delete], key: [id], format: debezium-sql}
        """
    )
    a, b = spec.sources
    assert a.ops == {Op.INSERT, Op.UPDATE} and a.key == ["_id"] and a.format == "debezium-mongodb"
    assert b.ops == {Op.DELETE} and b.key == ["id"] and b.format == "debezium-sql"


def test_event_type_configured_or_entity_past_tense():
    spec = parse(
        """
        version: 1
        defaults: {key: [_id]}
        sources:
          - {entity: users, topic: t, event_types: {insert: user.created, replace: user.updated}}
        """
    )
    src = spec.sources[0]
    assert src.event_type(Op.INSERT) == "user.created"
    assert src.event_type("replace") == "user.updated"
    assert [src.event_type(op) for op in ("update", "delete", "snapshot", "upsert", "truncate")] == [
        "users.updated",
        "users.deleted",
        "users.snapshot",
        "users.upserted",
        "users.truncated",
    ]
    assert SourceSpec.model_validate({"entity": "x", "topic": "t"}).event_type("replace") == "x.replaced"


MATCHING = """
version: 1
defaults: {key: [_id]}
sources:
  - {entity: by_topic, topic: cdc.shared}
  - {entity: by_namespace, namespace: db.orders}
  - {entity: by_both, topic: cdc.shared, namespace: db.users}
  - {entity: other_both, topic: cdc.other, namespace: db.orders}
  - {entity: ns_only, namespace: db.items}
"""


def test_topics_lists_explicit_topics_and_prefixed_namespaces_once():
    spec = parse(MATCHING)
    assert spec.topics() == ["cdc.shared", "cdc.db.orders", "cdc.other", "cdc.db.items"]
    assert spec.topics(default_prefix="raw") == ["cdc.shared", "raw.db.orders", "cdc.other", "raw.db.items"]


# ------------------------------------------------------------------------- errors


def test_unknown_key_names_file_path_and_key():
    msg = error_of(
        """
        version: 1
        sources:
          - entity: users
            topic: t
            validate:
              - {field: email, requird: true}
        """
    )
    assert msg == f"{FILE}: sources[0].validate[0]: unknown key 'requird'"


def test_bad_redaction_mode_lists_the_allowed_modes():
    msg = error_of(
        """
        version: 1
        sources:
          - entity: users
            topic: t
            redact:
              - {path: email, mode: FULL_MASK}
              - {path: ssn, mode: MASKED}
        """
    )
    assert msg == (
        f"{FILE}: sources[0].redact[1].mode: unknown redaction mode 'MASKED'; "
        "expected one of REMOVE, HASH, PARTIAL_MASK, FULL_MASK, TOKENIZE"
    )


@pytest.mark.parametrize(
    ("snippet", "where", "problem"),
    [
        (
            "{entity: u, topic: t, format: avro}",
            "sources[0].format",
            "unknown format 'avro'; expected one of debezium-mongodb",
        ),
        (
            "{entity: u, topic: t, operations: [insert, created]}",
            "sources[0].operations[1]",
            "unknown operation 'created'",
        ),
        (
            "{entity: u, topic: t, event_types: {inserted: x}}",
            "sources[0].event_types.inserted",
            "unknown operation 'inserted'",
        ),
        (
            "{entity: u, topic: t, validate: [{field: a, type: str}]}",
            "sources[0].validate[0].type",
            "unknown type 'str'",
        ),
        ("{entity: u, topic: t, validate: [{field: a, min: '5'}]}", "sources[0].validate[0].min", "expected a number"),
        (
            "{entity: u, topic: t, validate: [{field: a, pattern: '('}]}",
            "sources[0].validate[0]",
            "invalid regular expression",
        ),
        (
            "{entity: u, topic: t, validate: [{field: a, type: string, min: 1}]}",
            "sources[0].validate[0]",
            "min/max apply to numbers",
        ),
        (
            "{entity: u, topic: t, validate: [{field: a, min: 5, max: 1}]}",
            "sources[0].validate[0]",
            "min is greater than max",
        ),
        ("{entity: u, topic: t, validate: [{field: a}]}", "sources[0].validate[0]", "needs at least one of"),
        (
            "{entity: u, topic: t, validate: [{field: 'a..b', required: true}]}",
            "sources[0].validate[0].field",
            "invalid path",
        ),
        ("{entity: u, topic: t, transform: [{drop: a, lower: b}]}", "sources[0].transform[0]", "exactly one of"),
        (
            "{entity: u, topic: t, transform: [{rename: {from: a.b, to: c}}]}",
            "sources[0].transform[0].rename",
            "parent path",
        ),
        (
            "{entity: u, topic: t, transform: [{rename: {from: a, to: b}}], redact: [{path: a, mode: HASH}]}",
            "sources[0]",
            "transform[0] renames",
        ),
        (
            "{entity: u, topic: t, transform: [{rename: {from: c, to: d}}], redact: [{path: c.email, mode: HASH}]}",
            "sources[0]",
            "redact[0].path names a field that transform[0] renames",
        ),
        ("{entity: u}", "sources[0]", "needs 'topic' or 'namespace'"),
        ("{entity: 'bad name', topic: t}", "sources[0].entity", "letters, digits"),
        ("{entity: u, namespace: nodot}", "sources[0].namespace", "expected '<database>.<collection>'"),
        (
            "{entity: u, topic: t, key: [id], redact: [{path: id, mode: REMOVE}]}",
            "sources[0].redact[0]",
            "cannot REMOVE key field 'id'",
        ),
    ],
)
def test_schema_errors_name_path_and_problem(snippet, where, problem):
    msg = error_of(f"version: 1\ndefaults: {{key: [_id]}}\nsources:\n  - {snippet}\n")
    assert msg.startswith(f"{FILE}: {where}: ")
    assert problem in msg


def test_missing_entity_is_reported():
    msg = error_of("version: 1\nsources:\n  - {topic: cdc.db.users}\n")
    assert msg == f"{FILE}: sources[0].entity: required key missing"


def test_duplicate_entities_and_ambiguous_sources_are_rejected():
    msg = error_of(
        """
        version: 1
        defaults: {key: [_id]}
        sources:
          - {entity: users, topic: a}
          - {entity: users, topic: b}
          - {entity: other, topic: a}
        """
    )
    assert f"{FILE}: sources[1].entity: duplicate entity 'users' (already used by sources[0])" in msg
    assert f"{FILE}: sources[2]: same topic/namespace as sources[0]" in msg


def test_every_problem_is_reported_on_its_own_line():
    msg = error_of(
        """
        version: 1
        sources:
          - {entity: a, topic: t, mode: x}
          - {topic: u}
        """
    )
    assert msg.splitlines() == [
        f"{FILE}: sources[0]: unknown key 'mode'",
        f"{FILE}: sources[1].entity: required key missing",
    ]


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("version: 1\nsources: [\n", "invalid YAML at line 3, column 1"),
        ("version: 1\nsources:\n  - entity: a\n   topic: t\n", "invalid YAML at line 4"),
        ("version: 1\nversion: 1\nsources: []\n", "invalid YAML at line 2, column 1: duplicate key 'version'"),
        ("", "the file is empty"),
        ("- a\n- b\n", "the top level must be a mapping"),
        ("version: 2\nsources: [{entity: a, topic: t}]\n", "version: unsupported version 2; expected 1"),
        ("version: 1\nsources: [{entity: a, topic: t}]\n", "sources[0]: 'key' is not set here nor in 'defaults'"),
        ("sources: [{entity: a, topic: t}]\n", "version: required key missing"),
        ("version: 1\nsources: []\n", "sources: "),
    ],
)
def test_file_level_errors(text, expected):
    with pytest.raises(ConfigError) as info:
        parse_pipelines(text, FILE)
    assert str(info.value).startswith(f"{FILE}: ")
    assert expected in str(info.value)


def test_error_messages_do_not_echo_arbitrary_values():
    secret = "sk_live_THIS_MUST_NOT_LEAK_0123456789"
    for snippet in (
        f"{{entity: u, topic: t, validate: [{{field: a, min: '{secret}'}}]}}",
        f"{{entity: u, topic: t, event_types: {{insert: [{secret}]}}}}",
        f"{{entity: u, topic: t, key: '{secret}'}}",
        f"{{entity: u, topic: '{secret} x'}}",
        f"{{entity: u, topic: t, redact: [{{path: a, mode: '{secret * 3}'}}]}}",
    ):
        msg = error_of(f"version: 1\nsources:\n  - {snippet}\n")
        assert secret not in msg, msg
        assert msg.startswith(FILE)


def test_sink_sections_must_name_known_entities():
    text = """
        version: 1
        sources:
          - {entity: users, topic: cdc.db.users, key: [_id]}
        sinks:
          s3_trigger: {bucket: b-bucket, entities: {users: {}, userz: {}}}
          opensearch: {entities: [users]}
          warehouse: {entities: {ownerz: {}}}
    """
    with pytest.raises(ConfigError) as info:
        parse(text)
    msg = str(info.value)
    assert "sinks.s3_trigger.entities: unknown entity 'userz'" in msg
    assert "sinks.warehouse.entities: unknown entity 'ownerz'" in msg
    assert "'users'" not in msg
    ok = parse(text.replace("userz: {}", "").replace("ownerz", "users"))
    assert set(ok.sinks.s3_trigger.entities) == {"users"}
