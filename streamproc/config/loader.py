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


_MERGE_TAG = "tag:yaml.org,2002:merge"


class _Loader(getattr(yaml, "CSafeLoader", yaml.SafeLoader)):  # type: ignore[misc]  # base chosen at run time
    """Safe loader that rejects duplicate keys instead of keeping the last one.

    YAML merge keys (``<<: *anchor``, ``<<: [*a, *b]``) are supported as YAML 1.1 defines them:
    the merged mappings' keys come first and the keys written beside ``<<`` override them (that
    is not a duplicate); two keys written side by side still are.
    """

    def construct_mapping(self, node: Any, deep: bool = False) -> Any:
        seen: set[Any] = set()
        for key_node, _ in node.value:
            if key_node.tag == _MERGE_TAG:
                continue  # flattened by the base class: its keys may be overridden here
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


_ABSENT = object()


def _has(node: Any, part: Any) -> bool:
    if isinstance(node, dict):
        return part in node
    return isinstance(node, list) and type(part) is int and -len(node) <= part < len(node)


def _in_file(loc: tuple[Any, ...], data: Any, kind: str) -> tuple[tuple[Any, ...], Any, bool]:
    """``loc`` as a place in the file: pydantic inserts the label of a union member
    (``dict[str,…]``, ``literal['all']``, a class name) into an error's location; those parts name
    no key of the file and are dropped. Returns (location, the file's value there or ``_ABSENT``,
    whether a label was dropped)."""
    out: list[Any] = []
    node: Any = data
    tagged = False
    for i, part in enumerate(loc):
        if node is _ABSENT or part == "[key]":
            out.append(part)
            continue
        if _has(node, part):
            node = node[part]
        elif isinstance(node, (dict, list)) and not (i == len(loc) - 1 and kind in ("missing", "extra_forbidden")):
            tagged = True
            continue
        elif not isinstance(node, (dict, list)) and isinstance(part, str):
            tagged = True  # a scalar has no keys: a label (an index may come from as_list)
            continue
        else:
            node = _ABSENT
        out.append(part)
    return tuple(out), node, tagged


def _union_noise(errors: list[tuple[tuple[Any, ...], Any, bool, ErrorDetails]]) -> list[int]:
    """Indexes of the errors of union members that did not fit the value's shape at all (e.g.
    "Input should be 'all'" where a mapping was written) while another member got inside it."""
    noise = []
    for n, (loc, value, tagged, err) in enumerate(errors):
        if not tagged or not isinstance(value, (dict, list)):
            continue
        if err["type"] != "literal_error" and not err["type"].endswith("_type"):
            continue
        if any(o[2] and len(o[0]) > len(loc) and o[0][: len(loc)] == loc for o in errors):
            noise.append(n)
    return noise


def _problem(loc: tuple[Any, ...], err: ErrorDetails) -> tuple[str, str]:
    kind = err["type"]
    if kind == "extra_forbidden":
        return _where(loc[:-1]), f"unknown key {show_value(loc[-1])}"
    if kind == "missing":
        return _where(loc), "required key missing"
    if kind in ("model_type", "model_attributes_type", "dataclass_type"):
        return _where(loc), "Input should be a valid dictionary"  # not "… or instance of <class>"
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
    except yaml.reader.ReaderError as exc:
        raise ConfigError(
            f"{source_name}: invalid YAML: a character YAML does not allow at offset {exc.position}"
        ) from None
    except yaml.YAMLError as exc:
        raise ConfigError(f"{source_name}: invalid YAML: {type(exc).__name__}") from None
    if data is None:
        raise ConfigError(f"{source_name}: the file is empty; expected 'version' and 'sources'")
    if not isinstance(data, dict):
        raise ConfigError(f"{source_name}: the top level must be a mapping with 'version' and 'sources'")
    try:
        return PipelinesSpec.model_validate(data)
    except ValidationError as exc:
        errors = [
            (*_in_file(tuple(e["loc"]), data, e["type"]), e) for e in exc.errors(include_url=False, include_input=False)
        ]
        noise = set(_union_noise(errors))
        lines: list[str] = []
        for n, (loc, _, _, err) in enumerate(errors):
            if n in noise:
                continue
            where, problem = _problem(loc, err)
            prefix = f"{source_name}: {where}: " if where else f"{source_name}: "
            lines.extend(line for line in (prefix + x for x in problem.splitlines()) if line not in lines)
        raise ConfigError("\n".join(lines)) from None


def load_pipelines(path: Path | str) -> PipelinesSpec:
    """Read and validate a pipelines YAML file; ConfigError names the file, the path and the problem."""
    p = Path(path)
    try:
        raw = p.read_bytes()
    except FileNotFoundError:
        raise ConfigError(f"{p}: pipelines file not found") from None
    except IsADirectoryError:
        raise ConfigError(f"{p}: is a directory, not a pipelines file") from None
    except OSError as exc:
        raise ConfigError(f"{p}: cannot read pipelines file ({exc.strerror})") from None
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        line = raw.count(b"\n", 0, exc.start) + 1
        raise ConfigError(
            f"{p}: not UTF-8 text: invalid byte at offset {exc.start} (line {line}); save the file as UTF-8"
        ) from None
    return parse_pipelines(text, str(p))
