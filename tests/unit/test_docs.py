"""The doc tables that mirror code are what ``python -m streamproc.cli.docgen --write`` generates:
the settings of docs/CONFIGURATION.md, the command and exit-code tables of README.md."""

from __future__ import annotations

import argparse
import enum
import shutil
from pathlib import Path

import pytest
from pydantic import Field

from streamproc.cli import docgen
from streamproc.cli.main import build_parser
from streamproc.config.settings import Settings

ROOT = Path(__file__).resolve().parents[2]
FIX = "run `python -m streamproc.cli.docgen --write` and review the diff"


def _tables(path: str) -> dict[str, docgen.Table]:
    return {b.name: b.table() for b in docgen.BLOCKS if b.path == path}


@pytest.mark.parametrize("path", sorted({b.path for b in docgen.BLOCKS}))
def test_generated_tables_match_the_code(path: str) -> None:
    text = (ROOT / path).read_text(encoding="utf-8")
    new, problems = docgen.generate(text, _tables(path))
    assert problems == []
    assert new == text, f"{path}: a generated table drifted from the code; {FIX}"


def test_every_setting_and_command_has_a_row() -> None:
    configuration = (ROOT / "docs/CONFIGURATION.md").read_text(encoding="utf-8")
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    assert "| `STREAMPROC_REDACTION__KEY` | secret | unset |" in configuration
    assert "| `STREAMPROC_SINK__CREATE_MISSING` | boolean | `false` |" in configuration
    for command in ("worker", "dev", "decode", "dry-run", "parity", "opensearch init", "demo"):
        assert f"| `streamproc {command}` |" in readme
    for code in (0, 1, 2, 70, 78, 130):
        assert f"\n| {code} | `ExitCode." in readme


def _settings_doc() -> str:
    return (ROOT / "docs/CONFIGURATION.md").read_text(encoding="utf-8")


def test_a_new_setting_is_a_drift() -> None:
    class Drifted(Settings):
        new_knob: int = Field(default=3, ge=1, description="A knob the docs do not know yet.")

    text = _settings_doc()
    new, problems = docgen.generate(text, {"settings": docgen.settings_table(Drifted)})
    assert new != text
    assert "| `STREAMPROC_NEW_KNOB` | integer ≥ 1 | `3` | A knob the docs do not know yet. |" in new
    assert problems == []


def test_a_wrong_default_is_a_drift_and_the_hand_written_column_is_kept() -> None:
    text = _settings_doc()
    row = next(line for line in text.splitlines() if line.startswith("| `STREAMPROC_BATCH_SIZE` |"))
    edited = text.replace(row, row.replace("`2000`", "`1000`").replace("maximum number", "most"))
    new, _ = docgen.generate(edited, {"settings": docgen.settings_table()})
    assert new != edited
    assert new == text.replace("maximum number", "most", 1)


def test_a_removed_row_and_a_missing_block_are_found() -> None:
    text = _settings_doc()
    row = next(line for line in text.splitlines() if line.startswith("| `STREAMPROC_DEV` |"))
    new, problems = docgen.generate(text.replace(row + "\n", ""), {"settings": docgen.settings_table()})
    assert "| `STREAMPROC_DEV` | boolean | `false` | Development mode" in new  # back, from the description
    assert problems == []
    _, problems = docgen.generate("no block here\n", {"settings": docgen.settings_table()})
    assert problems == ["settings: no '<!-- generated: settings -->' block"]


def test_a_new_option_or_command_is_a_drift() -> None:
    text = (ROOT / "README.md").read_text(encoding="utf-8")
    parser = build_parser()
    sub = next(a for a in parser._actions if isinstance(a, argparse._SubParsersAction))
    sub.choices["worker"].add_argument("--shiny", action="store_true", help="a new flag")
    sub.add_parser("rewind", help="a new command")
    new, problems = docgen.generate(text, {"commands": docgen.command_table(parser)})
    assert "`--shiny`: a new flag" in new
    assert "| `streamproc rewind` | a new command |  |" in new
    assert problems == ["commands: no text in the last column for `streamproc rewind`"]


def test_a_new_exit_code_is_a_drift() -> None:
    class ExitCode(enum.IntEnum):
        OK = 0
        FAILURE = 1
        USAGE = 2
        SOFTWARE = 70
        CONFIG = 78
        INTERRUPTED = 130
        TEMPFAIL = 75

    text = (ROOT / "README.md").read_text(encoding="utf-8")
    new, problems = docgen.generate(text, {"exit-codes": docgen.exit_code_table(ExitCode)})
    assert "| 75 | `ExitCode.TEMPFAIL` |  |" in new
    assert problems == ["exit-codes: no text in the last column for 75"]


def test_check_prints_a_diff_and_write_repairs(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    for path in {b.path for b in docgen.BLOCKS}:
        (tmp_path / path).parent.mkdir(parents=True, exist_ok=True)
        shutil.copy(ROOT / path, tmp_path / path)
    configuration = tmp_path / "docs/CONFIGURATION.md"
    configuration.write_text(configuration.read_text().replace("| `6066` |", "| `6067` |"))

    assert docgen.main(["--check"], root=tmp_path) == 1
    diff = capsys.readouterr().out
    assert "-| `STREAMPROC_WEB_PORT` | integer | `6067` |" in diff
    assert "+| `STREAMPROC_WEB_PORT` | integer | `6066` |" in diff

    assert docgen.main(["--write"], root=tmp_path) == 0
    assert docgen.main(["--check"], root=tmp_path) == 0
    assert configuration.read_text() == (ROOT / "docs/CONFIGURATION.md").read_text()
