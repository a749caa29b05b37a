"""Debian's Prometheus for the tests: ``promtool`` (rule checks and rule unit tests) and a real
server on a free port with its own storage directory, queried through its HTTP API.

Installed by ``make services`` (``apt-get install prometheus``, as for PostgreSQL). The Debian
package also installs a systemd unit; nothing here uses it, and on these machines (no systemd) it
does not run."""

from __future__ import annotations

import shutil
import subprocess
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import httpx
import yaml

from streamproc.dev.broker import free_port

__all__ = ["PrometheusNotInstalled", "PrometheusServer", "binary", "promtool"]


class PrometheusNotInstalled(RuntimeError):
    pass


def binary(name: str) -> str:
    """Path of ``prometheus`` or ``promtool`` (/usr/bin from the Debian package, else PATH)."""
    for cand in (f"/usr/bin/{name}", shutil.which(name)):
        if cand and Path(cand).exists():
            return cand
    raise PrometheusNotInstalled(
        f"{name} not found (looked in /usr/bin and PATH). `make services` (and so `.ci/run`) installs "
        "it with `apt-get install -y prometheus`; on a developer machine run that yourself."
    )


def promtool(*args: str, cwd: Path | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run([binary("promtool"), *args], capture_output=True, text=True, timeout=120, cwd=cwd)


class PrometheusServer:
    """``prometheus`` on 127.0.0.1:<free port> scraping ``jobs`` (job name → list of (target,
    labels)) every ``interval``, with ``rule_files`` loaded; everything under ``workdir``."""

    def __init__(
        self,
        workdir: Path,
        jobs: dict[str, list[tuple[str, dict[str, str]]]],
        rule_files: Sequence[Path] = (),
        interval: str = "1s",
    ) -> None:
        self.workdir = workdir
        workdir.mkdir(parents=True, exist_ok=True)
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.config = workdir / "prometheus.yml"
        self.log_path = workdir / "prometheus.log"
        config: dict[str, Any] = {
            "global": {"scrape_interval": interval, "scrape_timeout": interval, "evaluation_interval": interval},
            "rule_files": [str(p) for p in rule_files],
            "scrape_configs": [
                {
                    "job_name": job,
                    "static_configs": [{"targets": [target], "labels": labels} for target, labels in targets],
                }
                for job, targets in jobs.items()
            ],
        }
        self.config.write_text(yaml.safe_dump(config, sort_keys=False))
        self.proc: subprocess.Popen[bytes] | None = None

    def start(self, timeout: float = 60.0) -> PrometheusServer:
        check = promtool("check", "config", str(self.config))
        assert check.returncode == 0, check.stdout + check.stderr
        with open(self.log_path, "ab") as log:
            self.proc = subprocess.Popen(
                [
                    binary("prometheus"),
                    f"--config.file={self.config}",
                    f"--storage.tsdb.path={self.workdir / 'data'}",
                    f"--web.listen-address=127.0.0.1:{self.port}",
                    # Debian's build points the console paths into /etc; none are used here
                    f"--web.console.templates={self.workdir}",
                    f"--web.console.libraries={self.workdir}",
                ],
                stdout=log,
                stderr=subprocess.STDOUT,
            )
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise AssertionError(f"prometheus exited with {self.proc.returncode}:\n{self.log()[-3000:]}")
            try:
                if httpx.get(f"{self.url}/-/ready", timeout=1).status_code == 200:
                    return self
            except httpx.HTTPError:
                pass
            time.sleep(0.3)
        raise AssertionError(f"prometheus not ready in {timeout}s:\n{self.log()[-3000:]}")

    def log(self) -> str:
        return self.log_path.read_text(errors="replace") if self.log_path.exists() else ""

    def api(self, path: str, **params: str) -> dict[str, Any]:
        """GET /api/v1/<path>; the decoded body whatever the status (errors carry ``error``)."""
        body: dict[str, Any] = httpx.get(f"{self.url}/api/v1/{path}", params=params, timeout=30).json()
        return body

    def query(self, expr: str) -> dict[str, Any]:
        """An instant query: ``{"status": "success", "data": {...}}`` or ``{"status": "error", ...}``."""
        return self.api("query", query=expr)

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(30)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(10)

    def __enter__(self) -> PrometheusServer:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()
