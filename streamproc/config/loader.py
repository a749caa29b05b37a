"""Reading the pipelines file: YAML (duplicate keys rejected) → :class:`PipelinesSpec`.

:func:`parse_pipelines` is pure: the caller reads the file and passes its text and name;
:func:`load_pipelines` reads a path and calls it. Every problem becomes one
:class:`~streamproc.errors.ConfigError` whose message has one line per problem,
``<file>: <path inside it>: <what is wrong>``, e.g.
``pipelines.yaml: sources[3].redact[1].mode: unknown redaction mode 'MASKED'; expected one of
REMOVE, HASH, PARTIAL_MASK, FULL_MASK, TOKENIZE``. Messages show key names and enumerated
choices only, never other values of the file.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml
from pydantic import ValidationError
from pydantic_core import ErrorDetails

from streamproc.config.fields import show_value
from streamproc.config.pipelines import PipelinesSpec
from streamproc.errors import ConfigError

__all__ = ["parse_pipelines", "load_pipelines"]


class _Loader(getattr(yaml, "CSafeLoader", yaml.SafeLoader)):  # type: ignore[misc]  # base chosen at run time
    """Safe loader that rejects duplicate keys instead of keeping the last one."""

    def construct_mapping(self, node: Any, deep: bool = False) -> Any:
        seen: set[Any] = set()
        for key_node, _ in node.value:
            key = self.construct_object(key_node, deep=True)
            try:
                duplicate = key in seen
            except TypeError:
                continue
            if duplicate:
                raise yaml.constructor.ConstructorError(
                    "while constructing a mapping",
                    node.start_mark,
                    f"duplicate key {show_value(key)}",
                    key_node.start_mark,
                )
            seen.add(key)
        return super().construct_mapping(node, deep=deep)


def _where(loc: tuple[Any, ...]) -> str:
    out = ""
    for part in loc:
        if part == "[key]":
            continue
        if isinstance(part, int):
            out += f"[{part}]"
        else:
            out += f".{part}" if out else str(part)
    return out


def _problem(err: ErrorDetails) -> tuple[str, str]:
    loc = tuple(err["loc"])
    kind = err["type"]
    if kind == "extra_forbidden":
        return _where(loc[:-1]), f"unknown key {show_value(loc[-1])}"
    if kind == "missing":
        return _where(loc), "required key missing"
    msg = err["msg"]
    if msg.startswith("Value error, "):
        msg = msg[len("Value error, ") :]
    return _where(loc), msg


def parse_pipelines(text: str, source_name: str) -> PipelinesSpec:
    """Parse and validate the pipelines file; raise :class:`ConfigError` on any problem."""
    try:
        data = yaml.load(text, Loader=_Loader)
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        where = f"line {mark.line + 1}, column {mark.column + 1}" if mark else "unknown position"
        raise ConfigError(f"{source_name}: invalid YAML at {where}: {exc.problem or exc.context}") from None
    except yaml.YAMLError as exc:
        raise ConfigError(f"{source_name}: invalid YAML: {type(exc).__name__}") from None
    if data is None:
        raise ConfigError(f"{source_name}: the file is empty; expected 'version' and 'sources'")
    if not isinstance(data, dict):
        raise ConfigError(f"{source_name}: the top level must be a mapping with 'version' and 'sources'")
    try:
        return PipelinesSpec.model_validate(data)
    except ValidationError as exc:
        lines: list[str] = []
        for err in exc.errors(include_url=False, include_input=False):
            where, problem = _problem(err)
            prefix = f"{source_name}: {where}: " if where else f"{source_name}: "
            lines.extend(prefix + line for line in problem.splitlines())
        raise ConfigError("\n".join(lines)) from None


def load_pipelines(path: Path | str) -> PipelinesSpec:
    """Read and validate a pipelines YAML file; ConfigError names the file, the path and the problem."""
    p = Path(path)
    try:
        text = p.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise ConfigError(f"{p}: pipelines file not found") from None
    except OSError as exc:
        raise ConfigError(f"{p}: cannot read pipelines file ({exc.strerror})") from None
    return parse_pipelines(text, str(p))
