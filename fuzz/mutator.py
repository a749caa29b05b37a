"""A structure-aware mutator for the JSON-carrying targets (libFuzzer ``custom_mutator``).

Byte-level mutation of a CDC record mostly produces text that is not JSON, so the decoders' deep
paths are rarely reached. Half of the time this mutator parses the input's JSON parts instead
(the value of a framed record, each line of the processor's input, and the JSON strings inside
them, such as a Debezium MongoDB ``after`` or ``updatedFields``), changes one node — replaces a
value with one from :data:`fuzz.vocabulary.HOSTILE_VALUES`, renames a key to one of
:data:`~fuzz.vocabulary.HOSTILE_KEYS` (the config loader's: ``CONFIG_VALUES``/``CONFIG_KEYS``), deletes
or duplicates a member, wraps a value in arrays — and writes the text back; the other half, and
whenever the input holds no JSON, it is libFuzzer's own byte mutation (``atheris.Mutate``).
Deterministic for a seed; never raises (any failure falls back to the byte mutation).
"""

from __future__ import annotations

import json
import random
from collections.abc import Callable
from typing import Any

from fuzz.vocabulary import CONFIG_KEYS, CONFIG_VALUES, HOSTILE_KEYS, HOSTILE_VALUES

__all__ = [
    "mutate_json_text",
    "record_mutator",
    "lines_mutator",
    "text_mutator",
    "yaml_mutator",
]


def _nodes(root: Any) -> list[tuple[Any, Any]]:
    """Every (container, key-or-index) pair below ``root``, breadth first, at most 200."""
    out: list[tuple[Any, Any]] = []
    queue = [root]
    while queue and len(out) < 200:
        node = queue.pop(0)
        items = node.items() if type(node) is dict else enumerate(node) if type(node) is list else ()
        for k, v in items:
            out.append((node, k))
            if type(v) in (dict, list):
                queue.append(v)
    return out


def _mutate_tree(
    root: Any, rnd: random.Random, values: tuple[Any, ...] = HOSTILE_VALUES, keys: tuple[str, ...] = HOSTILE_KEYS
) -> Any:
    nodes = _nodes(root)
    if not nodes:
        return rnd.choice(values) if rnd.random() < 0.5 else {rnd.choice(keys): root}
    parent, k = rnd.choice(nodes)
    value = parent[k]
    action = rnd.randrange(7)
    if type(value) is str and value[:1] in ("{", "[") and action < 3:
        parent[k] = mutate_json_text(value, rnd)  # a JSON document inside a string
    elif action <= 2:
        parent[k] = rnd.choice(values)
    elif action == 3 and type(parent) is dict:
        parent[rnd.choice(keys)] = parent.pop(k)
    elif action == 4:
        del parent[k]
    elif action == 5 and type(parent) is dict:
        parent[rnd.choice(keys)] = json.loads(json.dumps(value))
    else:
        for _ in range(rnd.choice((1, 2, 50, 300))):
            value = [value]
        parent[k] = value
    return root


def mutate_json_text(text: str, rnd: random.Random) -> str:
    """``text`` with one node changed (see the module docstring), or ``text`` if it is not JSON."""
    try:
        root = json.loads(text)
    except (ValueError, RecursionError):
        return text
    ascii_only = rnd.random() < 0.3  # a lone surrogate as an escape (\\ud800) or as raw bytes
    return json.dumps(_mutate_tree(root, rnd), ensure_ascii=ascii_only, separators=(",", ":"))


def _mutate_bytes(part: bytes, rnd: random.Random) -> bytes | None:
    try:
        text = part.decode("utf-8")
        json.loads(text)
    except (ValueError, RecursionError):
        return None
    return mutate_json_text(text, rnd).encode("utf-8", "surrogatepass")


def _with_fallback(
    structured: Callable[[bytes, random.Random], bytes | None],
) -> Callable[[bytes, int, int], bytes]:
    def mutator(data: bytes, max_size: int, seed: int) -> bytes:
        import atheris

        rnd = random.Random(seed)
        if rnd.random() < 0.5:
            try:
                out = structured(data, rnd)
            except Exception:  # noqa: BLE001 - a mutator must never stop the fuzzer; bytes instead
                out = None
            if out is not None and len(out) <= max_size:
                return out
        return bytes(atheris.Mutate(data, max_size))

    return mutator


def _record(data: bytes, rnd: random.Random) -> bytes | None:
    parts = data.split(b"\n", 2)
    index = len(parts) - 1 if rnd.random() < 0.8 else rnd.randrange(len(parts))
    new = _mutate_bytes(parts[index], rnd)
    if new is None:
        return None
    parts[index] = new.replace(b"\n", b"\\n")
    return b"\n".join(parts)


def _lines(data: bytes, rnd: random.Random) -> bytes | None:
    lines = data.split(b"\n")
    if len(lines) > 1 and rnd.random() < 0.2:  # reorder or repeat a change
        i, j = rnd.randrange(len(lines)), rnd.randrange(len(lines))
        if rnd.random() < 0.5:
            lines[i], lines[j] = lines[j], lines[i]
        else:
            lines.insert(j, lines[i])
        return b"\n".join(lines[:16])
    i = rnd.randrange(len(lines))
    fields = lines[i].split(b"\t", 2)
    new = _mutate_bytes(fields[-1], rnd)
    if new is None:
        return None
    fields[-1] = new.replace(b"\n", b"\\n").replace(b"\t", b"\\t")
    lines[i] = b"\t".join(fields)
    return b"\n".join(lines)


def _yaml(data: bytes, rnd: random.Random) -> bytes | None:
    import yaml

    try:
        root = yaml.safe_load(data)
    except (yaml.YAMLError, ValueError, RecursionError):
        return None
    if type(root) not in (dict, list):
        return None
    tree = _mutate_tree(root, rnd, CONFIG_VALUES, CONFIG_KEYS)
    return yaml.safe_dump(tree, allow_unicode=True, sort_keys=False).encode("utf-8", "surrogatepass")


#: the mutator of targets whose input is one framed record (:func:`fuzz.harness.split_record`)
record_mutator = _with_fallback(_record)
#: the mutator of the processor target (lines of ``topic TAB key TAB value``)
lines_mutator = _with_fallback(_lines)
#: the mutator of targets whose input is one JSON text (Extended JSON)
text_mutator = _with_fallback(_mutate_bytes)
#: the mutator of the config loader (a pipelines file: YAML)
yaml_mutator = _with_fallback(_yaml)
