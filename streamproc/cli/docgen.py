"""The doc tables that mirror code, generated: ``python -m streamproc.cli.docgen --write|--check``.

Three blocks, each between ``<!-- generated: NAME -->`` and ``<!-- end generated -->``:

* ``settings`` (docs/CONFIGURATION.md): every ``STREAMPROC_*`` variable of
  :class:`~streamproc.config.settings.Settings` and its nested models — type, constraint, default;
* ``commands`` (README.md): every command of :func:`streamproc.cli.main.build_parser` — its usage
  line and the parser's help for it and its options;
* ``exit-codes`` (README.md): every member of :class:`streamproc.errors.ExitCode`.

Each table ends with one hand-written column (a setting's meaning, what a command does, when an
exit code is returned). ``--write`` keeps that column's text, matched by the row's first cell,
and regenerates everything else; a new row takes the field's ``description`` or the member's
entry in :data:`EXIT_MEANINGS`. ``--check`` exits 1 with a diff when a block differs from what
``--write`` would produce, and names rows that have no hand-written text and no fallback.

It lives in ``cli`` (not ``dev``) because it reads the command parser, and only ``cli`` may
import ``cli``.
"""

from __future__ import annotations

import argparse
import difflib
import enum
import re
import sys
import types
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal, Union, get_args, get_origin

import annotated_types
from pydantic import BaseModel, SecretStr

__all__ = [
    "BLOCKS",
    "EXIT_MEANINGS",
    "Block",
    "Table",
    "command_table",
    "exit_code_table",
    "generate",
    "main",
    "settings_table",
]

#: Fallback meanings of :class:`~streamproc.errors.ExitCode` members, by name (the README's
#: hand-written column wins once it exists).
EXIT_MEANINGS: dict[str, str] = {
    "OK": "Done.",
    "FAILURE": "Runtime failure.",
    "USAGE": "Usage or configuration error.",
    "SOFTWARE": "The worker stopped on a failed batch (internal software error).",
    "CONFIG": "A sink's configuration is wrong.",
    "INTERRUPTED": "Interrupted (Ctrl-C).",
}

_END = "<!-- end generated -->"
_BLOCK = re.compile(r"(?P<start><!-- generated: (?P<name>[a-z-]+) -->)\n(?P<body>.*?)" + re.escape(_END), re.DOTALL)
_CELL_SPLIT = re.compile(r"(?<!\\)\|")
_TYPE_NAMES: dict[Any, str] = {
    str: "string",
    int: "integer",
    float: "number",
    bool: "boolean",
    Path: "path",
    SecretStr: "secret",
}


@dataclass(frozen=True)
class Table:
    """A markdown table whose last column is hand-written; ``rows`` hold the generated cells."""

    header: tuple[str, ...]
    rows: Sequence[tuple[str, ...]]
    fallback: dict[str, str]

    def render(self, written: Mapping[str, str]) -> tuple[str, list[str]]:
        """The table with the hand-written cells of ``written`` (by first cell), and the keys of
        rows left without any text."""
        lines = ["| " + " | ".join(self.header) + " |", "|" + " --- |" * len(self.header)]
        missing = []
        for row in self.rows:
            text = written.get(row[0]) or self.fallback.get(row[0], "")
            if not text:
                missing.append(row[0])
            lines.append("| " + " | ".join((*row, text)) + " |")
        return "\n".join(lines), missing


def _cell(text: str) -> str:
    return text.replace("|", r"\|").replace("\n", " ")


def _code(text: str) -> str:
    return f"`{_cell(text)}`"


def _type_name(annotation: Any) -> str:
    if get_origin(annotation) in (Union, types.UnionType):
        annotation = next(a for a in get_args(annotation) if a is not type(None))
    if get_origin(annotation) is Literal:
        return "one of " + ", ".join(str(a) for a in get_args(annotation))
    return _TYPE_NAMES.get(annotation, getattr(annotation, "__name__", str(annotation)))


def _constraint(metadata: Sequence[Any]) -> str:
    parts = []
    for m in metadata:
        if isinstance(m, annotated_types.Ge):
            parts.append(f"≥ {m.ge}")
        elif isinstance(m, annotated_types.Gt):
            parts.append(f"> {m.gt}")
        elif isinstance(m, annotated_types.Le):
            parts.append(f"≤ {m.le}")
        elif isinstance(m, annotated_types.Lt):
            parts.append(f"< {m.lt}")
    return ", ".join(parts)


def _default(value: Any) -> str:
    if value is None:
        return "unset"
    if isinstance(value, bool):
        return _code("true" if value else "false")
    return _code(str(value))


def _settings_fields(model: type[BaseModel], prefix: str) -> Iterator[tuple[str, str, str, str | None]]:
    """(variable, type, default, description) of every leaf field, nested models flattened."""
    for name, field in model.model_fields.items():
        env = f"{prefix}{name.upper()}"
        annotation = field.annotation
        if isinstance(annotation, type) and issubclass(annotation, BaseModel):
            yield from _settings_fields(annotation, f"{env}__")
            continue
        kind = " ".join(filter(None, (_type_name(annotation), _constraint(field.metadata))))
        yield env, kind, _default(field.default), field.description


def settings_table(model: type[BaseModel] | None = None, prefix: str = "STREAMPROC_") -> Table:
    """One row per environment variable of ``model`` (default: the real ``Settings``)."""
    if model is None:
        from streamproc.config.settings import Settings

        model = Settings
    rows, fallback = [], {}
    for env, kind, default, description in _settings_fields(model, prefix):
        rows.append((_code(env), kind, default))
        if description:
            fallback[_code(env)] = _cell(description)
    return Table(("variable", "type", "default", "meaning"), rows, fallback)


def _subcommands(parser: argparse.ArgumentParser) -> Iterator[tuple[argparse.ArgumentParser, str]]:
    """(parser, help) of every leaf command, in the order they were added. argparse has no
    public accessor for sub-parsers: ``_actions`` and ``_choices_actions`` are read as
    sphinx-argparse does."""
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            helps = {a.dest: a.help or "" for a in action._choices_actions}
            for name, sub in action.choices.items():
                if any(isinstance(a, argparse._SubParsersAction) for a in sub._actions):
                    yield from _subcommands(sub)
                else:
                    yield sub, helps.get(name, "")


def _arguments(parser: argparse.ArgumentParser) -> list[argparse.Action]:
    return [a for a in parser._actions if not isinstance(a, argparse._HelpAction)]


def _usage(parser: argparse.ArgumentParser) -> str:
    formatter = argparse.HelpFormatter(parser.prog, width=10_000)
    formatter.add_usage(parser.usage, _arguments(parser), [], prefix="")
    return formatter.format_help().strip()


def _option(action: argparse.Action) -> str:
    name = ", ".join(action.option_strings) or action.dest
    text = action.help or ""
    if action.choices is not None and not action.help:
        text = "one of " + ", ".join(str(c) for c in action.choices)
    default = action.default
    if default not in (None, False, argparse.SUPPRESS) and "default" not in text:
        text = f"{text} (default {default})" if text else f"default {default}"
    if action.required and action.option_strings:
        text = f"required; {text}" if text else "required"
    return f"{_code(name)}: {_cell(text)}" if text else _code(name)


def command_table(parser: argparse.ArgumentParser | None = None) -> Table:
    """One row per command of ``parser`` (default: ``streamproc``'s own): usage, help, options."""
    if parser is None:
        from streamproc.cli.main import build_parser

        parser = build_parser()
    rows = []
    for sub, summary in _subcommands(parser):
        arguments = _usage(sub).removeprefix(sub.prog).strip()
        cells = [_code(arguments)] if arguments else []
        cells += [_cell(summary)] + [_option(a) for a in _arguments(sub)]
        rows.append((_code(sub.prog), "<br>".join(c for c in cells if c)))
    return Table(("command", "arguments and help (from the parser)", "what it does"), rows, {})


def exit_code_table(codes: type[enum.IntEnum] | None = None) -> Table:
    """One row per member of ``codes`` (default: :class:`streamproc.errors.ExitCode`)."""
    if codes is None:
        from streamproc.errors import ExitCode

        codes = ExitCode
    rows, fallback = [], {}
    for member in codes:
        rows.append((str(int(member)), _code(f"{codes.__name__}.{member.name}")))
        if member.name in EXIT_MEANINGS:
            fallback[str(int(member))] = EXIT_MEANINGS[member.name]
    return Table(("code", "name", "meaning"), rows, fallback)


@dataclass(frozen=True)
class Block:
    """A generated block: its marker name, the file (relative to the repository) and its table."""

    name: str
    path: str
    table: Callable[[], Table]


BLOCKS: tuple[Block, ...] = (
    Block("settings", "docs/CONFIGURATION.md", settings_table),
    Block("commands", "README.md", command_table),
    Block("exit-codes", "README.md", exit_code_table),
)


def _written(block_text: str) -> dict[str, str]:
    """First cell → last cell of every body row of the table in ``block_text``."""
    out = {}
    for line in block_text.splitlines()[2:]:
        cells = [c.strip() for c in _CELL_SPLIT.split(line.strip())[1:-1]]
        if len(cells) >= 2:
            out[cells[0]] = cells[-1]
    return out


def generate(text: str, tables: Mapping[str, Table]) -> tuple[str, list[str]]:
    """``text`` with every block of ``tables`` regenerated, and the problems found: a block
    missing from ``text``, or rows with no hand-written text."""
    problems: list[str] = []
    found: set[str] = set()

    def replace(match: re.Match[str]) -> str:
        name = match.group("name")
        found.add(name)
        if name not in tables:
            return match.group(0)
        table, missing = tables[name].render(_written(match.group("body")))
        problems.extend(f"{name}: no text in the last column for {key}" for key in missing)
        return f"{match.group('start')}\n{table}\n{_END}"

    new = _BLOCK.sub(replace, text)
    problems.extend(f"{name}: no '<!-- generated: {name} -->' block" for name in tables if name not in found)
    return new, problems


def main(argv: Sequence[str] | None = None, root: Path | None = None) -> int:
    """``--write`` rewrites the blocks; ``--check`` prints a diff and returns 1 when they drift."""
    parser = argparse.ArgumentParser(prog="python -m streamproc.cli.docgen", description=__doc__.splitlines()[0])
    mode = parser.add_mutually_exclusive_group(required=True)
    mode.add_argument("--write", action="store_true", help="rewrite the generated blocks")
    mode.add_argument("--check", action="store_true", help="exit 1 with a diff when a block drifts")
    args = parser.parse_args(argv)
    root = root or Path(__file__).resolve().parents[2]
    status = 0
    for path in dict.fromkeys(b.path for b in BLOCKS):
        old = (root / path).read_text(encoding="utf-8")
        new, problems = generate(old, {b.name: b.table() for b in BLOCKS if b.path == path})
        for problem in problems:
            print(f"{path}: {problem}", file=sys.stderr)
            status = 1
        if new == old:
            continue
        if args.write:
            (root / path).write_text(new, encoding="utf-8")
            print(f"{path}: rewritten", file=sys.stderr)
        else:
            sys.stdout.writelines(difflib.unified_diff(old.splitlines(True), new.splitlines(True), path, path))
            status = 1
    return status


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
