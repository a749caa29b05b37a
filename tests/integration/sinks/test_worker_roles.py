"""`streamproc worker --role`: a sink whose target is misconfigured stops the worker loudly (exit
78, the missing bucket named) before acknowledging anything; a requested role that is not
configured is a usage error (exit 2)."""

from __future__ import annotations

import uuid
from pathlib import Path

import pytest
from pydantic import SecretStr

from streamproc.dev.services import endpoint_env
from tests.integration.workers import WorkerProcess, unique_config, wait_for
from tests.services.moto import MotoService, unique_name

pytestmark = [pytest.mark.integration, pytest.mark.timeout(180)]


def config_with_sinks(path: Path, sinks: dict) -> None:
    unique_config(path, ("users",), f"roles{uuid.uuid4().hex[:8]}", sinks=sinks)


def test_missing_bucket_stops_the_s3_role_with_exit_78_naming_it(kafka_bootstrap: str, tmp_path: Path) -> None:
    bucket = unique_name("absent")
    config_with_sinks(tmp_path / "p.yaml", {"s3_trigger": {"bucket": bucket, "entities": {"users": {}}}})
    secret = f"sk-{uuid.uuid4().hex}"  # moto accepts any credentials; this one is findable
    with MotoService() as moto:
        aws = moto.aws_settings().model_copy(update={"secret_access_key": SecretStr(secret)})
        w = WorkerProcess(
            kafka_bootstrap, tmp_path / "data", tmp_path / "p.yaml", roles="s3", extra_env=endpoint_env(aws)
        ).start()
        try:
            wait_for(lambda: w.proc.poll() is not None, 120, message="the worker to stop")
        finally:
            w.kill()
    assert w.proc.returncode == 78, w.log()[-2000:]
    log = w.log()
    assert bucket in log and "FatalSinkError" in log
    assert secret not in log  # no credentials in the message


def test_a_requested_role_without_configuration_is_a_usage_error(kafka_bootstrap: str, tmp_path: Path) -> None:
    config_with_sinks(tmp_path / "p.yaml", {})
    w = WorkerProcess(kafka_bootstrap, tmp_path / "data", tmp_path / "p.yaml", roles="ingest,opensearch").start()
    try:
        wait_for(lambda: w.proc.poll() is not None, 60, message="the worker to stop")
    finally:
        w.kill()
    assert w.proc.returncode == 2
    assert "role 'opensearch' cannot run: no 'opensearch' section under 'sinks:'" in w.log()


def test_refused_credentials_stop_the_warehouse_role_with_exit_78(
    kafka_bootstrap: str, tmp_path: Path, postgres_server
) -> None:
    """A start-up outage is waited out, but refused credentials are a configuration error."""
    config_with_sinks(tmp_path / "p.yaml", {"warehouse": {"schema": "public", "entities": "all"}})
    password = f"wrong-{uuid.uuid4().hex}"
    dsn = postgres_server.dsn_for("postgres", password=password)
    w = WorkerProcess(
        kafka_bootstrap,
        tmp_path / "data",
        tmp_path / "p.yaml",
        roles="warehouse",
        extra_env=endpoint_env(None, None, dsn),
    ).start()
    try:
        wait_for(lambda: w.proc.poll() is not None, 120, message="the worker to stop")
    finally:
        w.kill()
    assert w.proc.returncode == 78, w.log()[-2000:]
    log = w.log()
    assert "refused the login (authentication failed)" in log and "FatalSinkError" in log
    assert password not in log
