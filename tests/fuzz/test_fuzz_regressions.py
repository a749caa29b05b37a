"""Every input the fuzzers found, replayed in-process: ``fuzz/crashes/TARGET-KIND-NAME``.

* Every reproducer must hold at the boundary: the target's invariants (only typed errors, strict
  and deterministic output) pass for it, so the worker turns it into a clean event or a DLQ
  record. A ``crash``/``timeout``/``oom`` file is committed once its bug is fixed, as this test.
* A ``strict`` file is a bug the boundary absorbs (the Decoder's safety net, or a ``DeadLetter``
  of class ``internal``): replayed under ``FUZZ_STRICT=1`` it is expected to fail while the finding
  is open (xfail, listed in docs/RELIABILITY.md, Fuzzing) and passes once the stage rejects the
  input by name.
"""

from __future__ import annotations

import importlib
from pathlib import Path

import pytest

from fuzz.targets import TARGETS
from streamproc.sources import decoder as decoder_module

CRASHES = Path(__file__).resolve().parents[2] / "fuzz" / "crashes"
KINDS = ("crash", "timeout", "oom", "strict")


def _reproducers() -> list[Path]:
    if not CRASHES.is_dir():
        return []
    return sorted(p for p in CRASHES.iterdir() if p.is_file() and not p.name.startswith(".") and "." not in p.name)


def _target_and_kind(path: Path) -> tuple[str, str]:
    target, kind, *_ = path.name.split("-") + ["", ""]
    assert target in TARGETS, f"{path.name}: unknown target (expected TARGET-KIND-NAME)"
    assert kind in KINDS, f"{path.name}: unknown kind (expected one of {', '.join(KINDS)})"
    return target, kind


REPRODUCERS = _reproducers()


@pytest.mark.parametrize("path", REPRODUCERS, ids=[p.name for p in REPRODUCERS])
def test_reproducer_holds_at_the_boundary(path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    target, _ = _target_and_kind(path)
    monkeypatch.delenv("FUZZ_STRICT", raising=False)
    importlib.import_module(f"fuzz.targets.{target}").test_one_input(path.read_bytes())


STRICT_FINDINGS = [p for p in REPRODUCERS if _target_and_kind(p)[1] == "strict"]


@pytest.mark.parametrize("path", STRICT_FINDINGS, ids=[p.name for p in STRICT_FINDINGS])
def test_strict_finding(path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    target, _ = _target_and_kind(path)
    monkeypatch.setenv("FUZZ_STRICT", "1")
    monkeypatch.setattr(decoder_module, "_SAFETY_NET", ())  # what `python -m fuzz` does under FUZZ_STRICT=1
    module = importlib.import_module(f"fuzz.targets.{target}")
    try:
        module.test_one_input(path.read_bytes())
    except Exception as exc:  # noqa: BLE001 - any failure here is the open finding itself
        pytest.xfail(f"open finding ({type(exc).__name__}); see docs/RELIABILITY.md, Fuzzing")
