"""The dependency direction of docs/ARCHITECTURE.md, read from every module's imports (AST):

    errors, model, jsonutil → sources, pipeline, sinks, aggregate → config → runtime → dev → cli → app

A module may import its own package and anything on a lower layer, never a higher one, and the
packages of one layer (sources, pipeline, sinks, aggregate) never import each other. Imports under
``if TYPE_CHECKING:`` are annotations only and are not counted. Private names (``_x``) are not
imported across modules. Faust, aiokafka, mode and rocksdict are imported by ``runtime`` only.
"""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2] / "streamproc"

LAYERS: dict[str, int] = {
    "": 0,  # streamproc/__init__.py: the curated names of errors and model
    "errors": 0,
    "model": 0,
    "jsonutil": 0,
    "sources": 1,
    "pipeline": 1,
    "sinks": 1,
    "operations": 1,
    "aggregate": 1,
    "config": 2,
    "runtime": 3,
    "dev": 4,
    "cli": 5,
    "app": 6,
}
PEERS = 1  # the layer whose packages stay independent of each other
FRAMEWORK = ("faust", "mode", "aiokafka", "rocksdict")


def _module_name(path: Path) -> str:
    parts = list(path.relative_to(ROOT.parent).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def _type_checking_nodes(tree: ast.AST) -> set[int]:
    skip: set[int] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.If):
            test = node.test
            name = test.id if isinstance(test, ast.Name) else getattr(test, "attr", None)
            if name == "TYPE_CHECKING":
                for child in node.body:
                    skip.update(id(n) for n in ast.walk(child))
    return skip


def imports(path: Path) -> list[tuple[str, list[str], int]]:
    """(imported module, names, line) of every run-time import of ``path``."""
    tree = ast.parse(path.read_text(), str(path))
    skip = _type_checking_nodes(tree)
    here = _module_name(path).split(".")
    package = here if path.name == "__init__.py" else here[:-1]
    out: list[tuple[str, list[str], int]] = []
    for node in ast.walk(tree):
        if id(node) in skip:
            continue
        if isinstance(node, ast.Import):
            out += [(a.name, [], node.lineno) for a in node.names]
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package[: len(package) - (node.level - 1)]
                module = ".".join(base + ([node.module] if node.module else []))
            else:
                module = node.module or ""
            out.append((module, [a.name for a in node.names], node.lineno))
    return out


def _unit(module: str) -> str:
    """The layering unit of a streamproc module: its top-level package or module."""
    parts = module.split(".")
    return parts[1] if len(parts) > 1 else ""


def _targets(module: str, names: list[str]) -> list[str]:
    """``from streamproc import x`` names the module ``streamproc.x``."""
    if module == "streamproc":
        return [f"streamproc.{n}" for n in names]
    return [module]


def _modules() -> list[Path]:
    return sorted(ROOT.rglob("*.py"))


def violations() -> list[str]:
    found: list[str] = []
    for path in _modules():
        source = _module_name(path)
        unit = _unit(source)
        if unit not in LAYERS:
            found.append(f"{source}: not in any layer (add it to LAYERS and to docs/ARCHITECTURE.md)")
            continue
        for module, names, line in imports(path):
            top = module.split(".")[0]
            if top in FRAMEWORK and unit != "runtime":
                found.append(f"{source}:{line} imports {module} (Faust and its clients belong to runtime/)")
            if top != "streamproc":
                continue
            for target in _targets(module, names):
                other = _unit(target)
                if other == unit:
                    continue
                if other not in LAYERS:
                    found.append(f"{source}:{line} imports {target}, which is in no layer")
                elif LAYERS[other] > LAYERS[unit]:
                    found.append(
                        f"{source}:{line} imports {target}: {unit} (layer {LAYERS[unit]}) "
                        f"must not depend on {other} (layer {LAYERS[other]})"
                    )
                elif LAYERS[other] == LAYERS[unit] == PEERS:
                    found.append(f"{source}:{line} imports {target}: {unit} and {other} are peers")
            if module.startswith("streamproc"):
                private = [n for n in names if n.startswith("_") and not n.startswith("__")]
                if private:
                    found.append(f"{source}:{line} imports private names {private} from {module}")
    return found


def test_every_import_follows_the_dependency_direction() -> None:
    assert violations() == []


def test_the_check_sees_an_upward_import(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The reader is not vacuous: an upward, a peer, a private and a framework import are found,
    and an import under TYPE_CHECKING is not."""
    fake = tmp_path / "streamproc"
    (fake / "pipeline").mkdir(parents=True)
    (fake / "pipeline" / "bad.py").write_text(
        "from typing import TYPE_CHECKING\n"
        "from streamproc.config.settings import Settings\n"
        "from streamproc.sinks.base import SinkRecord\n"
        "from streamproc.pipeline.other import _hidden\n"
        "import faust\n"
        "if TYPE_CHECKING:\n"
        "    from streamproc.runtime.ingest import IngestRuntime\n"
    )
    monkeypatch.setattr(sys.modules[__name__], "ROOT", fake)
    found = violations()
    assert any("must not depend on config" in v for v in found)
    assert any("pipeline and sinks are peers" in v for v in found)
    assert any("private names ['_hidden']" in v for v in found)
    assert any("imports faust" in v for v in found)
    assert not any("streamproc.runtime.ingest" in v for v in found)


def test_decode_and_dry_run_never_import_faust() -> None:
    code = (
        "import sys\n"
        "import streamproc.cli.decode, streamproc.cli.dryrun\n"
        "bad = sorted(m for m in sys.modules if m.split('.')[0] in ('faust', 'mode', 'aiokafka', 'rocksdict'))\n"
        "print(','.join(bad))\n"
    )
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.strip() == ""
