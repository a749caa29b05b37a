"""``python -m fuzz TARGET [libFuzzer flags] [corpus dirs | reproducer files]``: one target under atheris.

The target module is imported with atheris' import hook active, so every ``streamproc`` module it
imports is instrumented for coverage (the target module itself and the libraries are not). Given
files instead of directories, libFuzzer runs each once: that replays a reproducer.

``FUZZ_COLLECT=DIR`` keeps fuzzing past a failing input: each distinct failure (exception class
and the innermost ``streamproc`` line) is written once to ``DIR/TARGET-<sha1>`` with its
traceback in ``DIR/TARGET-<sha1>.txt``. Timeouts and out-of-memory inputs still stop the run.
"""

from __future__ import annotations

import hashlib
import importlib
import os
import resource
import sys
import traceback
from collections.abc import Callable
from pathlib import Path

import atheris

from fuzz.targets import TARGETS


def _limit_address_space() -> None:
    """A hard ceiling on the address space (``FUZZ_AS_LIMIT_MB``, default 4096): an input that
    allocates gigabytes at once fails in this process before the shared machine swaps (libFuzzer's
    ``-rss_limit_mb`` only samples the RSS once a second)."""
    limit_mb = int(os.environ.get("FUZZ_AS_LIMIT_MB", "4096"))
    if limit_mb > 0:
        limit = limit_mb * 1024 * 1024
        resource.setrlimit(resource.RLIMIT_AS, (limit, limit))


def failure_signature(exc: BaseException) -> str:
    """``Class at file:line`` of the innermost streamproc frame (else the innermost frame)."""
    frames = traceback.extract_tb(exc.__traceback__)
    ours = [f for f in frames if f"{os.sep}streamproc{os.sep}" in f.filename] or frames
    where = f"{Path(ours[-1].filename).name}:{ours[-1].lineno}" if ours else "?"
    return f"{type(exc).__name__} at {where}"


def _collecting(target: str, fn: Callable[[bytes], None], directory: Path) -> Callable[[bytes], None]:
    directory.mkdir(parents=True, exist_ok=True)
    seen: set[str] = set()

    def test_one_input(data: bytes) -> None:
        try:
            fn(data)
        except Exception as exc:  # noqa: BLE001 - every failure is recorded, then fuzzing goes on
            signature = failure_signature(exc)
            if signature not in seen:
                seen.add(signature)
                name = f"{target}-{hashlib.sha1(signature.encode()).hexdigest()[:12]}"
                (directory / name).write_bytes(data)
                text = "".join(traceback.format_exception(exc))
                (directory / f"{name}.txt").write_text(f"{signature}\n\n{text}")
                print(f"FUZZ_COLLECT: new failure {signature} -> {directory / name}", file=sys.stderr, flush=True)

    return test_one_input


def main(argv: list[str]) -> None:
    if len(argv) < 2 or argv[1] not in TARGETS:
        sys.exit(f"usage: python -m fuzz TARGET [libFuzzer flags] [corpus dirs]; TARGET one of: {', '.join(TARGETS)}")
    target = argv[1]
    with atheris.instrument_imports(include=["streamproc"]):
        module = importlib.import_module(f"fuzz.targets.{target}")
        from fuzz.harness import surface_absorbed
    surface_absorbed()
    _limit_address_space()
    fn = module.test_one_input
    collect = os.environ.get("FUZZ_COLLECT")
    if collect:
        fn = _collecting(target, fn, Path(collect))
    mutator = getattr(module, "custom_mutator", None)  # structure-aware targets (fuzz.mutator)
    extra = {"custom_mutator": mutator} if mutator is not None else {}
    atheris.Setup([argv[0], *argv[2:]], fn, **extra)
    atheris.Fuzz()


if __name__ == "__main__":
    main(sys.argv)
