"""The short fuzz run of the README's test command (``make test``): every atheris target of
``fuzz/`` runs as its own process for ``FUZZ_SHORT_SECONDS`` (default 3; about a minute in all
with start-up) from its seed corpus, under the limits of :mod:`fuzz.run` (512 MB RSS, 10 s per
input), with libFuzzer's seed fixed (``FUZZ_SHORT_SEED``, default 1; 0 for a new one each run)
so that CI explores the same way each time. A crash, a timeout, an out-of-memory input or a
broken invariant fails the test and prints the reproducer's path, its base64 and the command
that replays it. ``make fuzz`` runs the same targets longer (``FUZZ_SECONDS``, default 300 each).

The seeds themselves are replayed in this process first (no atheris, plain tracebacks), so a
seed that breaks an invariant is reported with its traceback rather than as a fuzzer crash.
"""

from __future__ import annotations

import base64
import importlib
import os
from pathlib import Path

import pytest

from fuzz.run import Result, run_target
from fuzz.seeds import seeds_for
from fuzz.targets import TARGETS

SECONDS = int(os.environ.get("FUZZ_SHORT_SECONDS", "3"))
#: libFuzzer's seed: fixed, so that CI explores the same way each time (0: a new one per run)
SEED = int(os.environ.get("FUZZ_SHORT_SEED", "1")) or None


def _report(result: Result) -> str:
    lines = [result.describe()]
    for path in result.reproducers:
        data = path.read_bytes()
        lines.append(f"reproducer: {path}")
        lines.append(f"replay: python -m fuzz {result.target} {path}")
        if len(data) <= 4096:
            lines.append(f"base64: {base64.b64encode(data).decode()}")
    if result.log is not None:
        tail = result.log.read_text(errors="replace").splitlines()[-60:]
        lines.append(f"log: {result.log} (last lines below)")
        lines.extend(tail)
    return "\n".join(lines)


@pytest.mark.parametrize("target", TARGETS)
def test_seeds_pass(target: str) -> None:
    """Every seed of ``target`` satisfies its invariants (in-process, without coverage)."""
    module = importlib.import_module(f"fuzz.targets.{target}")
    seeds = seeds_for(target)
    assert seeds, f"no seeds for {target}"
    for seed in seeds:
        module.test_one_input(seed)


@pytest.mark.timeout(SECONDS + 300)
@pytest.mark.parametrize("target", TARGETS)
def test_short_fuzz_run(target: str, tmp_path: Path) -> None:
    result = run_target(target, SECONDS, tmp_path / "work", tmp_path / "crashes", seed=SEED)
    if result.failed:
        pytest.fail(f"fuzz target {target} failed\n{_report(result)}", pytrace=False)
    # not vacuous: the target ran instrumented code on more inputs than its seeds
    assert result.coverage > 0, _report(result)
    assert result.executions > result.seeds, _report(result)
