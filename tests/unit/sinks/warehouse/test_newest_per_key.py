"""One staged row per key: the highest position, and of equal positions the later in the batch."""

from __future__ import annotations

from typing import Any

from streamproc.sinks.base import SinkRecord
from streamproc.sinks.warehouse.rows import PlannedRow
from streamproc.sinks.warehouse.sink import newest_per_key


def _row(key: Any, position: tuple[int, ...], label: str) -> PlannedRow:
    record = SinkRecord(
        topic="t",
        partition=0,
        offset=0,
        entity="orders",
        op="update",
        event_type="x",
        namespace="shop.orders",
        key={"id": key},
        position=position,
        ts_ms=None,
        doc={"id": key, "label": label},
        before=None,
        complete=True,
    )
    return PlannedRow(record=record, table=None, op="upsert", values=(label,))  # type: ignore[arg-type]


def labels(rows: list[PlannedRow]) -> list[str]:
    return [r.values[0] for r in rows]


def test_the_highest_position_wins_whatever_the_order() -> None:
    rows = [_row(1, (5,), "new"), _row(1, (3,), "old"), _row(2, (1,), "only")]
    assert labels(newest_per_key(rows)) == ["new", "only"]


def test_of_equal_positions_the_later_row_wins() -> None:
    rows = [_row(1, (7, 2), "first"), _row(2, (1,), "other"), _row(1, (7, 2), "second"), _row(1, (7, 1), "older")]
    assert labels(newest_per_key(rows)) == ["second", "other"]


def test_keys_are_told_apart_by_every_field_and_value_type() -> None:
    rows = [_row(1, (1,), "int"), _row("1", (1,), "str"), _row(1, (2,), "int2")]
    assert labels(newest_per_key(rows)) == ["int2", "str"]
