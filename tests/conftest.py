"""Shared fixtures. Integration tests use a real Kafka API: ``STREAMPROC_KAFKA_BOOTSTRAP`` if set,
else the embedded tansu broker started here (no Docker needed)."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent


@pytest.fixture(scope="session")
def repo_root() -> Path:
    return REPO


@pytest.fixture(scope="session")
def kafka_bootstrap(tmp_path_factory: pytest.TempPathFactory):
    configured = os.environ.get("STREAMPROC_KAFKA_BOOTSTRAP")
    if configured:
        from streamproc.broker import wait_for_kafka

        wait_for_kafka(configured)
        yield configured
        return
    from streamproc.broker import EmbeddedBroker

    log = tmp_path_factory.mktemp("broker") / "tansu.log"
    with EmbeddedBroker(log_path=log) as broker:
        yield broker.bootstrap
