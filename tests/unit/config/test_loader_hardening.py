"""The pipelines loader on hostile or unusual files (issue 10 §0): a non-UTF-8 file, YAML merge
keys, characters YAML refuses, warehouse errors without pydantic internals, and no
non-injective mask on a key field. Every problem is a ConfigError naming file, path and problem,
exit 2 from the CLI, never a traceback."""

from __future__ import annotations

import textwrap
from pathlib import Path

import pytest

from streamproc.cli.main import main
from streamproc.config.loader import load_pipelines, parse_pipelines
from streamproc.errors import ConfigError, ExitCode

FILE = "pipes.yaml"
SECRET = "s3cr3t-VALUE-must-not-show"


def error_of(text: str) -> str:
    with pytest.raises(ConfigError) as info:
        parse_pipelines(textwrap.dedent(text), FILE)
    return str(info.value)


# ------------------------------------------------------------------ encoding


def test_a_non_utf8_file_names_the_file_and_the_byte_offset(tmp_path: Path) -> None:
    path = tmp_path / "latin1.yaml"
    head = b"version: 1\nsources:\n  - {entity: a, topic: t, key: [id]}\n# caf"
    path.write_bytes(head + b"\xe9 " + SECRET.encode() + b"\n")
    with pytest.raises(ConfigError) as info:
        load_pipelines(path)
    assert (
        str(info.value)
        == f"{path}: not UTF-8 text: invalid byte at offset {len(head)} (line 4); save the file as UTF-8"
    )


def test_the_cli_exits_2_with_the_message_not_a_traceback(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = tmp_path / "bad.yaml"
    path.write_bytes(b"version: 1\n\xff\xfe" + SECRET.encode() + b"\n")
    empty = tmp_path / "in.jsonl"
    empty.write_text("")
    assert main(["dry-run", "--config", str(path), str(empty)]) == ExitCode.USAGE
    err = capsys.readouterr().err
    assert err.startswith(f"streamproc: configuration error: {path}: not UTF-8 text: invalid byte at offset 11")
    assert "Traceback" not in err and SECRET not in err


def test_a_character_yaml_refuses_is_reported_with_its_offset() -> None:
    msg = error_of("version: 1\nsources: []\n# \x07\n")
    assert msg == f"{FILE}: invalid YAML: a character YAML does not allow at offset 25"


def test_a_directory_is_not_a_file(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="is a directory"):
        load_pipelines(tmp_path)


# ------------------------------------------------------------------ YAML merge keys


MERGED = """
version: 1
x-person: &person
  key: [_id]
  operations: [insert, update]
  redact: [{path: email, mode: HASH}]
x-extra: &extra
  validate: [{field: email, type: string}]
sources:
  - <<: *person
    entity: users
    topic: cdc.app.users
  - <<: [*person, *extra]
    entity: owners
    topic: cdc.app.owners
    operations: [insert]
"""


def test_merge_keys_are_supported_and_keys_beside_them_override() -> None:
    spec = parse_pipelines(MERGED, FILE)
    users, owners = spec.sources
    assert users.key == ["_id"] == owners.key
    assert sorted(o.value for o in users.ops) == ["insert", "update"]
    assert sorted(o.value for o in owners.ops) == ["insert"]  # written beside <<: wins
    assert [r.path for r in owners.redact] == ["email"] and [v.field for v in owners.validation] == ["email"]


def test_duplicate_keys_are_still_refused_beside_a_merge() -> None:
    msg = error_of(
        """
        version: 1
        x-base: &base {key: [_id]}
        sources:
          - <<: *base
            entity: a
            topic: t
            topic: u
        """
    )
    assert "duplicate key 'topic'" in msg and msg.startswith(f"{FILE}: invalid YAML at line 8")


def test_a_merge_of_a_non_mapping_is_a_clear_yaml_error() -> None:
    msg = error_of("version: 1\nsources:\n  - <<: [1, 2]\n    entity: a\n")
    assert msg.startswith(f"{FILE}: invalid YAML at line") and "merging" in msg
    assert "tag:yaml.org" not in msg


def test_other_top_level_keys_are_still_unknown() -> None:
    assert error_of("version: 1\nbase: {}\nsources: [{entity: a, topic: t, key: [id]}]\n") == (
        f"{FILE}: unknown key 'base'"
    )


# ------------------------------------------------------------------ warehouse errors


def test_warehouse_errors_show_file_paths_not_pydantic_internals() -> None:
    msg = error_of(
        """
        version: 1
        defaults: {key: [_id]}
        sources: [{entity: users, topic: t}]
        sinks:
          warehouse:
            entities:
              users:
                columns: {"a.b": integer, c: {type: nosuch}, d: nosuch}
                deletes: maybe
        """
    )
    lines = msg.splitlines()
    assert f"{FILE}: sinks.warehouse.entities.users.columns.c.type: Input should be 'text'" in msg
    assert f"{FILE}: sinks.warehouse.entities.users.columns.d: Input should be 'text'" in msg
    assert f"{FILE}: sinks.warehouse.entities.users.columns.d: Input should be a valid dictionary" in lines
    assert f"{FILE}: sinks.warehouse.entities.users.deletes: Input should be 'soft' or 'hard'" in lines
    for internal in ("dict[", "function-after", "literal[", "WarehouseColumn", "Input should be 'all'"):
        assert internal not in msg, msg
    assert "nosuch" not in msg and "maybe" not in msg


def test_a_wrong_shape_for_entities_names_both_choices() -> None:
    msg = error_of(
        """
        version: 1
        defaults: {key: [_id]}
        sources: [{entity: users, topic: t}]
        sinks: {warehouse: {entities: some}}
        """
    )
    assert msg.splitlines() == [
        f"{FILE}: sinks.warehouse.entities: Input should be a valid dictionary",
        f"{FILE}: sinks.warehouse.entities: Input should be 'all'",
    ]


# ------------------------------------------------------------------ key fields and masks


@pytest.mark.parametrize("mode", ["REMOVE", "PARTIAL_MASK", "FULL_MASK"])
@pytest.mark.parametrize("path", ["email", "email.domain", "*", "*.x"])
def test_a_key_field_may_not_get_a_non_injective_mask(mode: str, path: str) -> None:
    msg = error_of(
        f"""
        version: 1
        sources:
          - {{entity: users, topic: t, key: [email],
             redact: [{{path: name, mode: HASH}}, {{path: '{path}', mode: {mode}}}]}}
        """
    )
    assert msg == (
        f"{FILE}: sources[0].redact[1]: cannot {mode} key field 'email' (distinct keys would share one "
        "dedupe state and one target record); use HASH or TOKENIZE"
    )


@pytest.mark.parametrize("mode", ["HASH", "TOKENIZE"])
def test_keyed_modes_on_a_key_field_and_masks_elsewhere_are_fine(mode: str) -> None:
    spec = parse_pipelines(
        f"""
version: 1
sources:
  - entity: users
    topic: t
    key: [email, tenant]
    redact:
      - {{path: email, mode: {mode}}}
      - {{path: tenants, mode: FULL_MASK}}
      - {{path: contact.email, mode: PARTIAL_MASK}}
""",
        FILE,
    )
    assert len(spec.sources[0].redact) == 3


def test_shipped_config_still_loads() -> None:
    spec = load_pipelines(Path(__file__).resolve().parents[3] / "config" / "pipelines.yaml")
    assert len(spec.sources) == 8
