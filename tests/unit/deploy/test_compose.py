"""docker-compose.yml without Docker: every streamproc service, read with the project's own
settings model (config/settings.py built from the service's environment, the pipelines file it
mounts), has what its role needs — endpoint, secret, the buckets and queues its init service
creates (the init script is run against a moto server and the s3 role's own sinks then start with
``create_missing`` off), the OpenSearch templates, the warehouse database — and Prometheus,
Grafana and Kafka UI are wired to the shared rule file, the dashboards and every topic family.
Where a Docker engine runs, the stack is brought up and the demo stream goes through it."""

from __future__ import annotations

import asyncio
import logging
import os
import re
import shutil
import subprocess
import sys
import time
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import httpx
import pytest
import yaml

from streamproc.config.loader import load_pipelines
from streamproc.config.pipelines import PipelinesSpec
from streamproc.config.settings import ROLES, Settings, load_settings
from streamproc.dev.services import MotoProcess, moto_aws_settings
from streamproc.runtime.roles import build_sinks, configured_roles
from streamproc.sinks.s3.aws import boto_config, make_client
from tests.services.docker import docker_available
from tests.services.prometheus import promtool

REPO = Path(__file__).resolve().parents[3]
COMPOSE_FILE = REPO / "docker-compose.yml"
COMPOSE: dict[str, Any] = yaml.safe_load(COMPOSE_FILE.read_text())
SERVICES: dict[str, dict[str, Any]] = COMPOSE["services"]
RULES = REPO / "helm" / "streamproc" / "files" / "prometheus" / "alerts.yml"
DASHBOARDS = REPO / "helm" / "streamproc" / "files" / "dashboards"
IMAGE = "streamproc:local"
#: roles other changes are adding: their services are in the file; checked once ROLES has them
PENDING_ROLES = {"eventbridge", "aggregations"}
#: what `.env` provides (compose refuses to start without the key: `${…:?…}`)
DOTENV = {"STREAMPROC_REDACTION__KEY": "ab" * 32}

_VAR = re.compile(r"\$\$|\$\{([A-Za-z_][A-Za-z0-9_]*)(?:(:?[-?])((?:[^{}]|\{[^{}]*\})*))?\}")


def interpolate(value: str, env: dict[str, str]) -> str:
    """Compose's variable interpolation: ``${V}``, ``${V:-default}``, ``${V-default}``,
    ``${V:?error}``, ``${V?error}``, ``$$``."""

    def one(m: re.Match[str]) -> str:
        if m.group() == "$$":
            return "$"
        name, op, arg = m.group(1), m.group(2), m.group(3)
        have = env.get(name)
        empty = have is None or (have == "" and op is not None and op.startswith(":"))
        if op in (":?", "?") and empty:
            raise AssertionError(f"compose refuses to start without {name}: {arg}")
        if op in (":-", "-") and empty:
            return interpolate(arg, env)
        return have or ""

    return _VAR.sub(one, value)


def environment(service: dict[str, Any], env: dict[str, str] = DOTENV) -> dict[str, str]:
    raw = service.get("environment", {})
    assert isinstance(raw, dict), "environment as a mapping"
    return {k: interpolate(str(v), env) for k, v in raw.items()}


def workers() -> dict[str, tuple[str, dict[str, Any]]]:
    """role → (service name, service) for every `worker --role R` service of the image."""
    out = {}
    for name, svc in SERVICES.items():
        command = svc.get("command") or []
        if svc.get("image") == IMAGE and command[:1] == ["worker"]:
            assert command[1] == "--role" and "," not in command[2], f"{name}: one role per service"
            assert command[2] not in out, f"{name}: role {command[2]} twice"
            out[command[2]] = (name, svc)
    return out


def mounted(service: dict[str, Any], container_path: str) -> Path:
    """The repository path a bind mount of ``service`` puts at ``container_path``."""
    for volume in service.get("volumes", []):
        source, target = volume.split(":")[:2]
        if source.startswith("./") and (container_path == target or container_path.startswith(target + "/")):
            return REPO / source[2:] / container_path[len(target) :].lstrip("/")
    raise AssertionError(f"nothing mounted at {container_path}")


def role_settings(service: dict[str, Any], monkeypatch: pytest.MonkeyPatch) -> tuple[Settings, PipelinesSpec]:
    """The service's Settings as the worker builds them from its environment, and its pipelines."""
    for key in list(os.environ):
        if key.startswith("STREAMPROC_"):
            monkeypatch.delenv(key)
    for key, value in environment(service).items():
        monkeypatch.setenv(key, value)
    settings = load_settings()
    pipelines = mounted(service, str(settings.pipelines))
    assert pipelines.is_file(), pipelines
    return settings.model_copy(update={"pipelines": pipelines}), load_pipelines(pipelines)


def host(url: str) -> str:
    return urlsplit(url).hostname or ""


def depends(service: dict[str, Any], on: str, condition: str) -> None:
    assert on in SERVICES, on
    assert service.get("depends_on", {}).get(on, {}).get("condition") == condition, f"depends on {on}: {condition}"


def init_names(spec: PipelinesSpec) -> tuple[set[str], set[str]]:
    """The buckets and queues the s3 role's sinks need."""
    buckets, queues = set(), set()
    if spec.sinks.s3_trigger is not None:
        buckets.add(spec.sinks.s3_trigger.bucket)
        queues |= {e.queue for e in spec.sinks.s3_trigger.entities.values() if e.queue}
    if spec.sinks.s3_archive is not None:
        buckets.add(spec.sinks.s3_archive.bucket)
    return buckets, queues


# --------------------------------------------------------------------------- the roles


def test_one_service_per_role_from_one_image() -> None:
    found = workers()
    assert set(ROLES) <= set(found), f"roles without a service: {set(ROLES) - set(found)}"
    assert set(found) <= set(ROLES) | PENDING_ROLES, f"services of unknown roles: {set(found) - set(ROLES)}"
    images = {svc["image"] for _, svc in found.values()} | {SERVICES["localstack-init"]["image"]}
    assert images == {IMAGE}
    builds = [svc["build"] for _, svc in found.values()]
    assert all(b == {"context": ".", "dockerfile": "Dockerfile"} for b in builds)
    data = [v for _, svc in found.values() for v in svc["volumes"] if v.endswith(":/var/lib/streamproc")]
    assert len(data) == len(found) == len(set(data)), "one data volume per service"


@pytest.mark.parametrize("role", sorted(set(ROLES) | PENDING_ROLES))
def test_each_role_has_what_it_needs(role: str, monkeypatch: pytest.MonkeyPatch) -> None:
    if role not in ROLES:
        pytest.skip(f"role {role} is not in this tree's settings yet (another change adds it); its service waits")
    name, svc = workers()[role]
    settings, spec = role_settings(svc, monkeypatch)
    env = environment(svc)
    assert configured_roles([role], spec, settings, explicit=True) == [role]  # raises naming what is missing
    assert settings.kafka_bootstrap == "kafka:9092"
    depends(svc, "kafka", "service_healthy")
    assert settings.web_port == 6066 and f"{settings.web_port}" in svc["healthcheck"]["test"][-1]
    assert settings.sink.create_missing is False, "init services create the targets, as in production"
    secrets = {k for k in env if k.endswith(("__KEY", "__SECRET_ACCESS_KEY", "__DSN", "__PASSWORD"))}
    if role == "ingest":
        raw = SERVICES[name]["environment"]["STREAMPROC_REDACTION__KEY"]
        assert raw.startswith("${STREAMPROC_REDACTION__KEY:?"), "the key comes from .env, never a default"
        assert settings.redaction_key() == DOTENV["STREAMPROC_REDACTION__KEY"].encode()
        assert settings.schema_registry_url is not None
        assert host(settings.schema_registry_url.get_secret_value()) in SERVICES
        depends(svc, "schema-registry", "service_healthy")
        assert secrets == {"STREAMPROC_REDACTION__KEY"}
    elif role == "s3":
        assert settings.aws.endpoint_url and host(settings.aws.endpoint_url) == "localstack"
        assert settings.aws.access_key_id is not None and settings.aws.secret_access_key is not None
        depends(svc, "localstack-init", "service_completed_successfully")
        init = environment(SERVICES["localstack-init"])
        buckets, queues = init_names(spec)
        assert buckets and queues
        assert buckets <= set(init["INIT_BUCKETS"].split())
        assert queues <= set(init["INIT_QUEUES"].split())
        assert host(init["AWS_ENDPOINT_URL"]) == host(settings.aws.endpoint_url)
        assert secrets == {"STREAMPROC_AWS__SECRET_ACCESS_KEY"}
    elif role == "opensearch":
        assert settings.opensearch.url and host(settings.opensearch.url) == "opensearch"
        depends(svc, "opensearch-init", "service_completed_successfully")
        init = SERVICES["opensearch-init"]
        assert init["command"][:2] == ["opensearch", "init"]
        assert environment(init)["STREAMPROC_OPENSEARCH__URL"] == settings.opensearch.url
        assert mounted(init, init["command"][3]) == settings.pipelines
        assert not secrets
    elif role == "warehouse":
        assert settings.warehouse.dsn is not None
        dsn = urlsplit(settings.warehouse.dsn.get_secret_value())
        db = environment(SERVICES[dsn.hostname or ""])
        assert (dsn.username, dsn.password, dsn.path.lstrip("/")) == (
            db["POSTGRES_USER"],
            db["POSTGRES_PASSWORD"],
            db["POSTGRES_DB"],
        )
        depends(svc, dsn.hostname or "", "service_healthy")
        assert secrets == {"STREAMPROC_WAREHOUSE__DSN"}
    elif role == "eventbridge":  # read from the environment: this tree's Settings may predate it
        assert host(env["STREAMPROC_AWS__ENDPOINT_URL"]) == "localstack"
        depends(svc, "localstack-init", "service_completed_successfully")
        assert env["STREAMPROC_EVENTBRIDGE__BUS"] == environment(SERVICES["localstack-init"])["INIT_EVENT_BUS"]
        assert secrets == {"STREAMPROC_AWS__SECRET_ACCESS_KEY"}
    elif role == "aggregations":
        dsn = urlsplit(env["STREAMPROC_WAREHOUSE__DSN"])
        depends(svc, dsn.hostname or "", "service_healthy")
        assert env["STREAMPROC_WAREHOUSE__DSN"] == environment(workers()["warehouse"][1])["STREAMPROC_WAREHOUSE__DSN"]
        assert host(env["STREAMPROC_OPENSEARCH__URL"]) == "opensearch"
        depends(svc, "opensearch-init", "service_completed_successfully")
        assert secrets == {"STREAMPROC_WAREHOUSE__DSN"}
    else:  # a role added later: the test must learn what it needs
        pytest.fail(f"test_compose does not know what role {role} needs yet")


def test_the_init_service_creates_what_the_s3_role_needs(monkeypatch: pytest.MonkeyPatch) -> None:
    """The compose init script itself, run against a fresh moto server; then the s3 role's own
    sinks start there with ``create_missing`` off (a missing bucket or queue would stop them)."""
    _, svc = workers()["s3"]
    settings, spec = role_settings(svc, monkeypatch)
    init = SERVICES["localstack-init"]
    assert init["entrypoint"] == ["python", init["configs"][0]["target"]]
    script = COMPOSE["configs"][init["configs"][0]["source"]]["content"]
    moto = MotoProcess().start()
    try:
        env = {**os.environ, **environment(init), "AWS_ENDPOINT_URL": moto.endpoint_url}
        env.update(AWS_ACCESS_KEY_ID="testing", AWS_SECRET_ACCESS_KEY="testing")
        for _ in range(2):  # idempotent: a second run (a restarted stack) succeeds too
            res = subprocess.run([sys.executable, "-c", script], env=env, capture_output=True, text=True, timeout=120)
            assert res.returncode == 0, res.stdout + res.stderr
        aws = moto_aws_settings(moto.endpoint_url)
        local = settings.model_copy(update={"aws": aws})
        sinks = build_sinks("s3", local, spec)
        assert {s.name for s in sinks} == {"s3", "s3-archive"}

        async def start_all() -> None:
            for sink in sinks:
                await sink.start()
                await sink.stop()

        asyncio.run(start_all())
        sqs = make_client("sqs", aws, boto_config(connect_timeout=5, read_timeout=5, max_attempts=2))
        queues = environment(init)["INIT_QUEUES"].split()
        for q in queues:
            url = sqs.get_queue_url(QueueName=q)["QueueUrl"]
            attrs = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["All"])["Attributes"]
            assert (attrs.get("FifoQueue") == "true") == q.endswith(".fifo"), q
        assert any(not q.endswith(".fifo") for q in queues), "a standard queue too"
        events = make_client("events", aws, boto_config(connect_timeout=5, read_timeout=5, max_attempts=2))
        bus = environment(init)["INIT_EVENT_BUS"]
        assert events.describe_event_bus(Name=bus)["Name"] == bus
        rules = events.list_rules(EventBusName=bus)["Rules"]
        targets = events.list_targets_by_rule(Rule=rules[0]["Name"], EventBusName=bus)["Targets"]
        assert targets[0]["Arn"].endswith(":" + environment(init)["INIT_EVENT_RULE_QUEUE"])
    finally:
        moto.stop()


def test_the_init_service_installs_what_the_opensearch_role_needs(
    monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    """opensearch-init's command, run against the OpenSearch stand-in (a fake); then the
    opensearch role's sink, started with ``create_missing`` off, finds its index template."""
    from streamproc.dev.opensearch_fake import OpenSearchFake

    _, svc = workers()["opensearch"]
    settings, spec = role_settings(svc, monkeypatch)
    init = SERVICES["opensearch-init"]
    missing = "index template"

    def start_and_stop() -> list[str]:
        caplog.clear()

        async def run() -> None:
            await sink.start()
            await sink.stop()

        asyncio.run(run())
        return [r.getMessage() for r in caplog.records if missing in r.getMessage()]

    with OpenSearchFake() as fake, caplog.at_level(logging.WARNING):
        local = settings.model_copy(update={"opensearch": settings.opensearch.model_copy(update={"url": fake.url})})
        [sink] = build_sinks("opensearch", local, spec)
        assert start_and_stop(), "without the init service the sink warns that its template is missing"
        env = {k: v for k, v in os.environ.items() if not k.startswith("STREAMPROC_")}
        env.update(environment(init), STREAMPROC_OPENSEARCH__URL=fake.url)
        command = [*init["command"][:3], str(mounted(init, init["command"][3]))]
        res = subprocess.run(
            [sys.executable, "-m", "streamproc.cli.main", *command],
            env=env,
            capture_output=True,
            text=True,
            timeout=120,
        )
        assert res.returncode == 0, res.stdout + res.stderr
        assert start_and_stop() == []


# --------------------------------------------------------------------------- monitoring, UI


def test_prometheus_scrapes_every_role_and_loads_the_shared_rules(tmp_path: Path) -> None:
    prom = SERVICES["prometheus"]
    config = mounted(prom, "/etc/prometheus/prometheus.yml")
    conf = yaml.safe_load(config.read_text())
    job = next(j for j in conf["scrape_configs"] if j["job_name"] == "streamproc")
    targets = {t: sc["labels"]["role"] for sc in job["static_configs"] for t in sc["targets"]}
    assert targets == {f"{svc['hostname']}:6066": role for role, (_, svc) in workers().items()}
    # the rule files the config loads are the canonical file, mounted (not a copy)
    [pattern] = conf["rule_files"]
    mounts = [v.split(":")[:2] for v in prom["volumes"] if v.startswith("./")]
    rules = [REPO / src[2:] for src, dst in mounts if Path(dst).match(pattern)]
    assert rules == [RULES]
    # promtool checks the config with the rule file where the container sees it
    copy = {**conf, "rule_files": [str(RULES)]}
    (tmp_path / "prometheus.yml").write_text(yaml.safe_dump(copy))
    res = promtool("check", "config", str(tmp_path / "prometheus.yml"))
    assert res.returncode == 0 and "SUCCESS" in res.stdout, res.stdout + res.stderr


def test_grafana_provisions_the_shared_dashboards_and_the_prometheus_datasource() -> None:
    grafana = SERVICES["grafana"]
    provisioning = mounted(grafana, "/etc/grafana/provisioning")
    [ds] = yaml.safe_load((provisioning / "datasources" / "prometheus.yml").read_text())["datasources"]
    assert ds["type"] == "prometheus" and ds["isDefault"] is True
    assert host(ds["url"]) == "prometheus" and urlsplit(ds["url"]).port == 9090
    [provider] = yaml.safe_load((provisioning / "dashboards" / "streamproc.yml").read_text())["providers"]
    assert mounted(grafana, provider["options"]["path"]) == DASHBOARDS
    assert sorted(p.name for p in DASHBOARDS.glob("*.json")) == [
        "streamproc-business.json",
        "streamproc-operations.json",
    ]
    depends(grafana, "prometheus", "service_healthy")


def test_kafka_ui_shows_every_topic_family_as_json_text(monkeypatch: pytest.MonkeyPatch) -> None:
    env = environment(SERVICES["kafka-ui"])
    settings, spec = role_settings(workers()["ingest"][1], monkeypatch)
    assert env["KAFKA_CLUSTERS_0_DEFAULTKEYSERDE"] == env["KAFKA_CLUSTERS_0_DEFAULTVALUESERDE"] == "String"
    assert env["KAFKA_CLUSTERS_0_SERDE_0_NAME"] == "String"
    topics = [*spec.topics(settings.source_topic_prefix)]
    topics += [settings.clean_topic(s.entity) for s in spec.sources]
    topics += [settings.dlq_topic, f"{settings.topic_prefix}.aggregates.bookings_per_day"]
    for which in ("KEYS", "VALUES"):
        pattern = re.compile(env[f"KAFKA_CLUSTERS_0_SERDE_0_TOPIC{which}PATTERN"])
        assert [t for t in topics if not pattern.fullmatch(t)] == []
        assert not pattern.fullmatch("_connect-offsets")


def test_interpolation_follows_compose() -> None:
    assert interpolate("a${X:-b}c$$", {}) == "abc$"
    assert interpolate("${X:-b}", {"X": "y"}) == "y"
    with pytest.raises(AssertionError, match="without X: need it"):
        interpolate("${X:?need it}", {})


# --------------------------------------------------------------------------- with Docker


@pytest.mark.docker
@pytest.mark.timeout(1800)
def test_the_stack_runs_the_demo_stream(tmp_path: Path) -> None:
    if not docker_available() or shutil.which("docker") is None:
        pytest.skip("no Docker engine here: the compose stack cannot be brought up (static checks above)")
    from streamproc.dev.demo.generator import generate
    from tests.integration.workers import parse_metrics, produce, wait_for

    project = f"streamproc-test-{os.getpid()}"
    compose = ["docker", "compose", "-p", project, "-f", str(COMPOSE_FILE)]
    env = {**os.environ, **DOTENV}
    up = subprocess.run([*compose, "up", "-d", "--build"], cwd=REPO, env=env, timeout=1500)
    try:
        assert up.returncode == 0
        ports = {"ingest": 6066, "s3": 6067, "opensearch": 6068, "warehouse": 6069}

        def ready(role: str) -> bool:
            try:
                return httpx.get(f"http://127.0.0.1:{ports[role]}/readyz", timeout=5).status_code == 200
            except httpx.HTTPError:
                return False

        for role in ports:  # after the init services: each role waits for its own
            wait_for(lambda r=role: ready(r), 600, interval=5.0, message=f"streamproc-{role} ready")
        stream = generate(documents=20, updates=2, seed=3)
        produce("localhost:29092", [(r.topic, r.key, r.value) for r in stream.records])

        def total(role: str, name: str) -> float:
            try:
                text = httpx.get(f"http://127.0.0.1:{ports[role]}/metrics", timeout=5).text
            except httpx.HTTPError:
                return 0.0
            return sum(parse_metrics(text).get(name, {}).values())

        wait_for(lambda: total("ingest", "streamproc_events_out_total") > 0, 300, message="clean events")
        for role in ("s3", "opensearch", "warehouse"):
            wait_for(lambda r=role: total(r, "streamproc_sink_records_total") > 0, 300, message=f"{role} writing")
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline:  # the rules are loaded and every role is scraped
            body = httpx.get("http://127.0.0.1:9090/api/v1/targets", timeout=5).json()
            up_roles = {t["labels"].get("role") for t in body["data"]["activeTargets"] if t["health"] == "up"}
            if set(ports) <= up_roles:
                break
            time.sleep(2)
        assert set(ports) <= up_roles
        rules = httpx.get("http://127.0.0.1:9090/api/v1/rules", timeout=5).json()["data"]["groups"]
        expected = sum(len(g["rules"]) for g in yaml.safe_load(RULES.read_text())["groups"])
        assert sum(len(g["rules"]) for g in rules) == expected
        search = httpx.get(
            "http://127.0.0.1:3000/api/search?tag=streamproc", auth=("admin", "admin-local-only"), timeout=5
        ).json()
        assert {d["uid"] for d in search} >= {"streamproc-operations", "streamproc-business"}
    finally:
        subprocess.run([*compose, "down", "-v"], cwd=REPO, env=env, timeout=600)
