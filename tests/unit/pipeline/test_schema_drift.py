"""Schema drift: top-level fields and JSON types per entity, bounded, kept in the batch state."""

from __future__ import annotations

from typing import Any

from streamproc.pipeline.schema_drift import Change, DriftBatch, EntitySchema, is_schema_key, json_type, schema_key


class State(dict[bytes, bytes]):
    """The batch state's interface: get/set on the current ``partition``."""

    partition = 0

    def get(self, key: bytes) -> bytes | None:  # type: ignore[override]
        return dict.get(self, bytes([self.partition]) + key)

    def set(self, key: bytes, value: bytes) -> None:
        self[bytes([self.partition]) + key] = value
        self.writes = getattr(self, "writes", 0) + 1


def kinds(changes: list[Change]) -> list[tuple[str, str, tuple[str, ...]]]:
    return [(c.kind, c.field, c.types) for c in changes]


def test_json_types() -> None:
    values: list[Any] = [None, True, 1, 1.5, "s", [], {}]
    assert [json_type(v) for v in values] == ["null", "boolean", "number", "number", "string", "array", "object"]


def test_the_first_document_is_the_baseline_then_new_fields_and_type_changes_count_once() -> None:
    state = State()
    drift = DriftBatch(state, max_fields=10)
    assert drift.observe("users", {"_id": "a", "age": 3, "note": None}) == []
    assert kinds(drift.observe("users", {"_id": "b", "age": "3", "vip": True})) == [
        ("type_change", "age", ("number", "string")),
        ("new_field", "vip", ("boolean",)),
    ]
    assert drift.observe("users", {"_id": "c", "age": "4", "vip": False}) == []  # once
    assert drift.observe("users", {"note": "x"}) == []  # a type after null only: learned silently
    assert kinds(drift.observe("users", {"note": 5})) == [("type_change", "note", ("string", "number"))]
    assert drift.observe("users", {"age": None}) == []  # null never counts
    assert drift.observe("users", None) == []
    assert kinds(drift.observe("owners", {"x": 1})) == []  # another entity, its own baseline


def test_the_schema_is_stored_in_the_state_and_read_back_by_the_next_batch() -> None:
    state = State()
    DriftBatch(state, 10).observe("users", {"a": 1})
    DriftBatch(state, 10).observe("users", {"a": 1, "b": 2})
    stored = EntitySchema.decode(state.get(schema_key("users")) or b"")
    assert stored.fields == {"a": {"number"}, "b": {"number"}}
    assert DriftBatch(state, 10).observe("users", {"b": 3}) == []  # a later batch knows b
    state.partition = 1  # each source partition keeps its own schema (it moves with the partition)
    assert DriftBatch(state, 10).observe("users", {"a": 1, "c": 1}) == []  # a baseline of partition 1
    assert is_schema_key(schema_key("users")) and not is_schema_key(b'users\x00{"_id":"x"}')


def test_a_batch_reads_each_schema_once_and_writes_only_when_it_learned() -> None:
    state = State()
    reads = 0
    get = state.get

    def counting(key: bytes) -> bytes | None:
        nonlocal reads
        reads += 1
        return get(key)

    state.get = counting  # type: ignore[method-assign]
    drift = DriftBatch(state, 10)
    for i in range(100):
        drift.observe("users", {"_id": str(i), "n": i})
    assert reads == 1 and state.writes == 1


def test_the_cap_bounds_the_fields_and_is_reported_once() -> None:
    state = State()
    drift = DriftBatch(state, max_fields=3)
    drift.observe("users", {"a": 1, "b": 1})
    assert kinds(drift.observe("users", {"c": 1, "d": 1, "e": 1})) == [
        ("new_field", "c", ("number",)),
        ("capped", "", ()),
    ]
    assert drift.observe("users", {"f": 1}) == []
    assert kinds(drift.observe("users", {"a": "x"})) == [("type_change", "a", ("number", "string"))]
    stored = EntitySchema.decode(state.get(schema_key("users")) or b"")
    assert set(stored.fields) == {"a", "b", "c"} and stored.capped


def test_long_names_are_cut_and_values_never_reported() -> None:
    drift = DriftBatch(State(), 10)
    drift.observe("users", {"a": "secret-value"})
    (change,) = drift.observe("users", {"x" * 500: "secret-value"})
    assert len(change.field) <= 121 and "secret" not in repr(change)


def test_an_unreadable_stored_schema_is_a_new_baseline() -> None:
    assert EntitySchema.decode(b"not json") == EntitySchema()
    assert EntitySchema.decode(b'{"fields": 3}') == EntitySchema()
