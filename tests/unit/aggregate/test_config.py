"""The ``aggregations:`` section: strict models, every error naming file, path and problem (exit
2 from the CLI), and the compiled :class:`AggregationSpec`."""

from __future__ import annotations

import json
import textwrap
from pathlib import Path
from typing import Any

import pytest

from streamproc.aggregate import MetricSpec, WindowSpec
from streamproc.aggregate.spec import DAY_MS, WhereSpec
from streamproc.cli.main import main
from streamproc.config.loader import load_pipelines, parse_pipelines
from streamproc.errors import ConfigError, ExitCode

FILE = "pipes.yaml"
HEAD = """\
version: 1
sources:
  - {entity: charges, topic: t, key: [id]}
aggregations:
"""
BASE: dict[str, Any] = {
    "name": "a",
    "entity": "charges",
    "window": {"type": "tumbling", "size": "1h"},
    "metrics": {"n": {"count": "*"}},
}
OK = json.dumps(BASE)


def error_of(*entries: str, extra: str = "") -> str:
    text = HEAD + "".join(f"  - {e}\n" for e in entries) + extra
    with pytest.raises(ConfigError) as info:
        parse_pipelines(text, FILE)
    return str(info.value)


def with_(**keys: Any) -> str:
    """The OK entry with keys replaced or added, as JSON (which is YAML)."""
    return json.dumps({**BASE, **keys})


@pytest.mark.parametrize(
    ("entry", "message"),
    [
        (with_(name="Charges-1"), "aggregations[0].name: an aggregation name uses a-z, 0-9 and '_' only"),
        (with_(entity="nope"), "aggregations[0].entity: unknown entity 'nope' (not the entity of any source)"),
        (with_(mode="batch"), "aggregations[0].mode: unknown mode 'batch'; expected one of events, rows"),
        (
            with_(mode="rows"),
            "aggregations[0]: rows mode needs 'time': a field path of the row to bucket by (e.g. startDate)",
        ),
        (
            with_(mode="rows", time="startDate", emit="final"),
            "aggregations[0].emit: rows mode emits 'updates' (a row-time bucket has no watermark); "
            "'final' is for events mode",
        ),
        (
            with_(mode="rows", time="startDate", window={"type": "session", "gap": "1h"}),
            "aggregations[0].window: session windows are for events mode only (rows mode would need to "
            "split sessions on retraction)",
        ),
        (
            with_(window={"type": "session", "gap": "1h"}, emit="updates"),
            "aggregations[0].emit: session windows emit 'final' (sessions merge, so updates would name "
            "vanishing windows)",
        ),
        (
            with_(mode="rows", time="startDate", where={"op": ["insert"]}),
            "aggregations[0].where: 'op' applies to events mode; rows mode aggregates the current rows",
        ),
        (
            with_(window={"type": "tumbling", "size": "1 hour"}),
            "aggregations[0].window.size: invalid duration '1 hour'; expected a number and a unit: "
            "500ms, 30s, 10m, 1h, 1d",
        ),
        (with_(window={"type": "tumbling", "size": "0s"}), "aggregations[0].window.size: must be longer than 0"),
        (
            with_(window={"type": "hopping", "size": "1h"}),
            "aggregations[0].window: 'step' required for a hopping window",
        ),
        (
            with_(window={"type": "tumbling", "size": "1h", "gap": "1m"}),
            "aggregations[0].window: 'gap' does not apply to a tumbling window",
        ),
        (
            with_(window={"type": "hopping", "size": "1h", "step": "2h"}),
            "aggregations[0].window: 'step' must not be longer than 'size' (events would fall between windows)",
        ),
        (
            with_(window={"type": "tumbling", "size": "36h"}),
            "aggregations[0].window: a window longer than a day needs 'size' (and 'step') in whole days, e.g. 7d",
        ),
        (
            with_(window={"type": "weekly", "size": "1h"}),
            "aggregations[0].window.type: unknown window type 'weekly'; expected one of tumbling, hopping, session",
        ),
        (
            with_(timezone="Mars/Olympus"),
            "aggregations[0].timezone: unknown timezone 'Mars/Olympus'; expected an IANA name such as "
            "UTC or Europe/Berlin",
        ),
        (
            with_(metrics={"n": {"count": "*", "sum": "x"}}),
            "aggregations[0].metrics.n: a metric needs exactly one of count, sum, avg, min, max, count_distinct, top_k",
        ),
        (with_(metrics={"n": {"median": "x"}}), "aggregations[0].metrics.n: unknown key 'median'"),
        (with_(metrics={"n": {"sum": "*"}}), "aggregations[0].metrics: n: '*' (every input) applies to count only"),
        (
            with_(metrics={"N-1": {"count": "*"}}),
            "aggregations[0].metrics: metric name 'N-1' must start with a-z or '_' and use a-z, 0-9, '_'",
        ),
        (with_(metrics={}), "aggregations[0].metrics: Dictionary should have at least 1 item after validation, not 0"),
        (with_(metrics={"t": {"top_k": {"field": "sku"}}}), "aggregations[0].metrics.t.top_k.k: required key missing"),
        (
            with_(metrics={"t": {"top_k": {"field": "sku", "k": 0}}}),
            "aggregations[0].metrics.t.top_k.k: Input should be greater than or equal to 1",
        ),
        (
            with_(where={"field": "status"}),
            "aggregations[0].where: 'field' goes with 'in' or 'not_in' (and they with 'field')",
        ),
        (
            with_(where={"op": ["created"]}),
            "aggregations[0].where.op[0]: unknown operation 'created'; expected one of insert, update, "
            "replace, upsert, delete, snapshot, truncate",
        ),
        (
            with_(grace="-1s"),
            "aggregations[0].grace: invalid duration '-1s'; expected a number and a unit: 500ms, 30s, 10m, 1h, 1d",
        ),
        (
            with_(sinks=["s3"]),
            "aggregations[0].sinks[0]: unknown aggregate sink 's3'; expected one of warehouse, opensearch",
        ),
        (
            with_(sinks=["warehouse"]),
            "aggregations[0].sinks: 'warehouse' is named but the file has no sinks.warehouse section",
        ),
        (with_(group_by=["a", "a"]), "aggregations[0].group_by: names an entry twice"),
        (with_(retain="9999d"), "aggregations[0].retain: a duration is at most 3650d"),
        (with_(colour="red"), "aggregations[0]: unknown key 'colour'"),
    ],
)
def test_each_error_names_the_file_the_path_and_the_problem(entry: str, message: str) -> None:
    assert error_of(entry) == f"{FILE}: {message}"


def test_names_are_unique() -> None:
    assert error_of(OK, OK) == f"{FILE}: aggregations[1].name: duplicate name 'a' (already used by aggregations[0])"


def test_the_cli_exits_2(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = tmp_path / "bad.yaml"
    path.write_text(HEAD + f"  - {with_(timezone='Nowhere/City')}\n")
    empty = tmp_path / "in.jsonl"
    empty.write_text("")
    assert main(["dry-run", "--config", str(path), str(empty)]) == ExitCode.USAGE
    err = capsys.readouterr().err
    assert f"{path}: aggregations[0].timezone: unknown timezone 'Nowhere/City'" in err
    assert "Traceback" not in err


def test_compiled_spec() -> None:
    text = HEAD + textwrap.indent(
        textwrap.dedent(
            """\
            - name: by_day
              entity: charges
              mode: rows
              time: start.date
              window: {type: hopping, size: 2d, step: 1d}
              timezone: Europe/Berlin
              group_by: [facility.id]
              where: {field: status, not_in: [cancelled]}
              metrics:
                n: {count: "*"}
                top: {top_k: {field: "items[].sku", k: 10, weight: items.quantity}}
              retain: 90d
            """
        ),
        "  ",
    )
    [s] = parse_pipelines(text, FILE).aggregation_specs()
    assert (s.name, s.entity, s.mode, s.time, s.timezone, s.emit) == (
        "by_day",
        "charges",
        "rows",
        ("start", "date"),
        "Europe/Berlin",
        "updates",
    )
    assert s.window == WindowSpec("hopping", size_ms=2 * DAY_MS, step_ms=DAY_MS)
    assert s.group_by == (("facility", "id"),) and s.group_names == ("facility.id",)
    assert s.where == WhereSpec(field=("status",), not_in=("cancelled",))
    assert s.metrics == (
        MetricSpec("n", "count"),
        MetricSpec("top", "top_k", ("items", "sku"), 10, ("items", "quantity")),
    )
    assert (s.retain_ms, s.grace_ms, s.every_ms, s.idle_close_ms) == (90 * DAY_MS, 0, 1_000, 60_000)


def test_the_shipped_examples_load() -> None:
    shipped = load_pipelines(Path(__file__).resolve().parents[3] / "config" / "pipelines.yaml")
    names = [s.name for s in shipped.aggregation_specs()]
    assert names == ["charges_per_hour", "reservations_per_day", "orders_per_minute"]
