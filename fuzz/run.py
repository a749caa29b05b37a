"""The fuzz runner: each target as its own ``python -m fuzz TARGET`` process under libFuzzer limits.

Usage (``make fuzz`` runs it with ``--seconds $(FUZZ_SECONDS)``, default 300)::

    python -m fuzz.run [--seconds N] [--work DIR] [--crashes DIR] [--collect DIR] [--markdown] [TARGET ...]

Per target: the seeds (:mod:`fuzz.seeds`) are written to ``WORK/TARGET/seeds`` and a dictionary of
their JSON keys to ``WORK/TARGET/tokens.dict``; the corpus the fuzzer grows is kept in
``WORK/TARGET/corpus`` (reused by the next run) and the log in ``WORK/TARGET/fuzz.log``. The
process runs for ``N`` seconds with ``-rss_limit_mb`` (default 512), a per-input ``-timeout``
(default 10 s) and ``-max_len`` (default 65536). A crash, a timeout or an out-of-memory input
leaves a reproducer ``CRASHES/TARGET-crash-<sha1>`` (``-timeout-``, ``-oom-``); replay it with
``python -m fuzz TARGET CRASHES/TARGET-crash-<sha1>``. ``--collect DIR`` keeps fuzzing past
failures instead and keeps one input per distinct failure in ``DIR`` (``FUZZ_COLLECT``, see
``python -m fuzz``). The exit status is 1 when any target failed. ``--markdown`` prints the
summary as the table of docs/RELIABILITY.md. Environment: ``FUZZ_STRICT=1`` (see
:mod:`fuzz.harness`), ``FUZZ_AS_LIMIT_MB`` (see ``python -m fuzz``).
"""

from __future__ import annotations

import argparse
import os
import re
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

from fuzz.seeds import REPO_ROOT, write_dictionary, write_seeds
from fuzz.targets import TARGETS

__all__ = ["Result", "run_target", "main"]

_STAT = re.compile(r"^stat::(\w+):\s+(\d+)", re.M)
_PROGRESS = re.compile(r"^#(\d+)\s+\w+\s+cov: (\d+) ft: (\d+) corp: (\d+)", re.M)
_ARTIFACT_KINDS = ("crash", "timeout", "oom", "leak", "slow-unit")


@dataclass
class Result:
    """What one run of one target did; ``reproducers`` lists the inputs that failed."""

    target: str
    seconds: float
    returncode: int
    seeds: int
    executions: int = 0
    coverage: int = 0
    features: int = 0
    corpus: int = 0
    peak_rss_mb: int = 0
    reproducers: list[Path] = field(default_factory=list)
    collected: list[Path] = field(default_factory=list)
    log: Path | None = None

    @property
    def failed(self) -> bool:
        return self.returncode != 0 or bool(self.reproducers) or bool(self.collected)

    def describe(self) -> str:
        state = "FAILED" if self.failed else "ok"
        return (
            f"{self.target:<15} {state:<6} {self.seconds:6.1f}s execs={self.executions} cov={self.coverage} "
            f"ft={self.features} corpus={self.corpus} seeds={self.seeds} rss={self.peak_rss_mb}MB "
            f"reproducers={len(self.reproducers)}" + (f" collected={len(self.collected)}" if self.collected else "")
        )


def _parse(log: str, result: Result) -> None:
    stats = dict(_STAT.findall(log))
    result.executions = int(stats.get("number_of_executed_units", 0))
    result.peak_rss_mb = int(stats.get("peak_rss_mb", 0))
    progress = _PROGRESS.findall(log)
    if progress:
        last = progress[-1]
        result.executions = max(result.executions, int(last[0]))
        result.coverage, result.features, result.corpus = int(last[1]), int(last[2]), int(last[3])


def run_target(
    target: str,
    seconds: int,
    work: Path,
    crashes: Path,
    *,
    rss_limit_mb: int = 512,
    timeout: int = 10,
    max_len: int = 65536,
    collect: Path | None = None,
    seed: int | None = None,
    extra_env: dict[str, str] | None = None,
) -> Result:
    """Fuzz ``target`` for ``seconds`` (seeded, limits as in the module docstring) and report;
    ``seed`` fixes libFuzzer's random seed (``None``: a new one each run)."""
    if target not in TARGETS:
        raise ValueError(f"unknown fuzz target {target!r}; expected one of: {', '.join(TARGETS)}")
    base = work / target
    seeds_dir, corpus_dir = base / "seeds", base / "corpus"
    corpus_dir.mkdir(parents=True, exist_ok=True)
    crashes.mkdir(parents=True, exist_ok=True)
    seeds = write_seeds(target, seeds_dir)
    dict_path = base / "tokens.dict"
    tokens = write_dictionary(target, dict_path)
    before = {p for p in crashes.iterdir() if p.name.startswith(f"{target}-")}
    cmd = [
        sys.executable,
        "-m",
        "fuzz",
        target,
        f"-max_total_time={seconds}",
        f"-rss_limit_mb={rss_limit_mb}",
        f"-timeout={timeout}",
        f"-max_len={max_len}",
        f"-artifact_prefix={crashes}/{target}-",
        "-print_final_stats=1",
        *([f"-dict={dict_path}"] if tokens else []),
        *([f"-seed={seed}"] if seed is not None else []),
        str(corpus_dir),
        str(seeds_dir),
    ]
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(filter(None, [str(REPO_ROOT), os.environ.get("PYTHONPATH")]))}
    if collect is not None:
        collect.mkdir(parents=True, exist_ok=True)
        env["FUZZ_COLLECT"] = str(collect)
        known = {p for p in collect.iterdir() if p.name.startswith(f"{target}-")}
    env.update(extra_env or {})
    log_path = base / "fuzz.log"
    started = time.monotonic()
    with log_path.open("wb") as log:
        # a generous wall-clock bound: seeding, instrumentation and the last input come on top
        proc = subprocess.run(
            cmd, cwd=REPO_ROOT, env=env, stdout=log, stderr=subprocess.STDOUT, timeout=seconds + timeout + 300
        )
    result = Result(target, time.monotonic() - started, proc.returncode, seeds, log=log_path)
    _parse(log_path.read_text(errors="replace"), result)
    result.reproducers = sorted(
        p
        for p in crashes.iterdir()
        if p.name.startswith(f"{target}-") and p not in before and p.name[len(target) + 1 :].startswith(_ARTIFACT_KINDS)
    )
    if collect is not None:
        result.collected = sorted(
            p for p in collect.iterdir() if p.name.startswith(f"{target}-") and p.suffix != ".txt" and p not in known
        )
    return result


def markdown(results: list[Result], seconds: int) -> str:
    lines = [
        f"| target | seconds (budget {seconds}) | executions | coverage (cov) | features (ft) | corpus | crashes |",
        "| --- | ---: | ---: | ---: | ---: | ---: | ---: |",
    ]
    for r in results:
        failures = len(r.reproducers) + len(r.collected)
        cell = f"exit {r.returncode}" if failures == 0 and r.returncode != 0 else str(failures)
        lines.append(
            f"| {r.target} | {r.seconds:.0f} | {r.executions} | {r.coverage} | {r.features} | {r.corpus} | {cell} |"
        )
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m fuzz.run", description=__doc__.split("\n\n")[0])
    parser.add_argument("targets", nargs="*", metavar="TARGET", help=f"default: all of {', '.join(TARGETS)}")
    parser.add_argument("--seconds", type=int, default=int(os.environ.get("FUZZ_SECONDS", "300")))
    parser.add_argument("--work", type=Path, default=REPO_ROOT / "var" / "fuzz")
    parser.add_argument("--crashes", type=Path, default=REPO_ROOT / "fuzz" / "crashes")
    parser.add_argument("--rss-limit-mb", type=int, default=512)
    parser.add_argument("--timeout", type=int, default=10, help="seconds per input")
    parser.add_argument("--markdown", action="store_true", help="print the summary as a Markdown table")
    parser.add_argument(
        "--collect", type=Path, default=None, help="keep fuzzing past failures; one input per distinct failure in DIR"
    )
    args = parser.parse_args(argv)
    unknown = [t for t in args.targets if t not in TARGETS]
    if unknown:
        parser.error(f"unknown target(s) {', '.join(unknown)}; expected: {', '.join(TARGETS)}")
    results = []
    for target in args.targets or TARGETS:
        result = run_target(
            target,
            args.seconds,
            args.work,
            args.crashes,
            rss_limit_mb=args.rss_limit_mb,
            timeout=args.timeout,
            collect=args.collect,
        )
        print(result.describe(), flush=True)
        for path in result.reproducers:
            print(f"  reproducer: {path}  (replay: python -m fuzz {target} {path}; log: {result.log})", flush=True)
        for path in result.collected:
            print(
                f"  collected: {path}  ({path.with_name(path.name + '.txt').read_text().splitlines()[0]})", flush=True
            )
        results.append(result)
    if args.markdown:
        print(markdown(results, args.seconds))
    return 1 if any(r.failed for r in results) else 0


if __name__ == "__main__":
    sys.exit(main())
