"""What the chart's templates must get right, asserted on manifests rendered by Helm's Go SDK:
the data volume of the stateful roles, probes on the worker's real paths and port, secrets only
by reference, the config checksum, the hardened pod, and the `fail` of a missing secret."""

from __future__ import annotations

from pathlib import Path

import helm_python
import pytest
import yaml

from streamproc.cli.docgen import settings_table
from streamproc.config.loader import load_pipelines
from tests.unit.deploy.helm_chart import (
    CHART,
    SINK_ROLES,
    STATEFUL_ROLES,
    container,
    env_of,
    merged,
    notes,
    of_kind,
    pod_owners,
    render,
    role_name,
    scenario,
    workload,
)

ALL_ROLES = STATEFUL_ROLES + SINK_ROLES
EVERY_ROLE = merged(scenario("all-roles"), {"roles": {r: {"enabled": True} for r in ALL_ROLES}})
SETTINGS = {row[0].strip("`"): row[1] for row in settings_table().rows}
SECRET_SETTINGS = {name for name, kind in SETTINGS.items() if kind == "secret"}
# what the opensearch and warehouse roles cannot run without
REQUIRED_BY_SINKS = {
    "opensearch": {"url": "https://opensearch:9200", "existingSecret": "os"},
    "warehouse": {"existingSecret": "dwh"},
}


@pytest.mark.parametrize("role", STATEFUL_ROLES)
def test_stateful_roles_keep_their_tables_on_a_volume_claim_per_pod(role: str) -> None:
    values = merged(EVERY_ROLE, {"roles": {role: {"persistence": {"size": "33Gi", "storageClassName": "fast"}}}})
    sts = workload(render(values), role)
    assert sts["kind"] == "StatefulSet" and sts["spec"]["serviceName"] == role_name(role)
    [claim] = sts["spec"]["volumeClaimTemplates"]
    assert claim["metadata"]["name"] == "data"
    assert claim["spec"]["resources"]["requests"]["storage"] == "33Gi"
    assert claim["spec"]["storageClassName"] == "fast" and claim["spec"]["accessModes"] == ["ReadWriteOnce"]
    mounts = {m["name"]: m["mountPath"] for m in container(sts)["volumeMounts"]}
    assert mounts["data"] == env_of(sts)["STREAMPROC_DATADIR"]["value"] == "/var/lib/streamproc"
    assert "data" not in {v["name"] for v in sts["spec"]["template"]["spec"]["volumes"]}  # the claim, not a volume


@pytest.mark.parametrize("role", SINK_ROLES)
def test_sink_roles_are_deployments_with_a_scratch_data_dir(role: str) -> None:
    dep = workload(render(EVERY_ROLE), role)
    assert dep["kind"] == "Deployment" and "volumeClaimTemplates" not in dep["spec"]
    volumes = {v["name"]: v for v in dep["spec"]["template"]["spec"]["volumes"]}
    assert volumes["data"] == {"name": "data", "emptyDir": {}}


@pytest.mark.parametrize("port", [6066, 7070])
@pytest.mark.parametrize("role", ALL_ROLES)
def test_probes_hit_livez_and_readyz_on_the_web_port(role: str, port: int) -> None:
    docs = render(merged(EVERY_ROLE, {"webPort": port}))
    c = container(workload(docs, role))
    [p] = c["ports"]
    assert p == {"name": "metrics", "containerPort": port, "protocol": "TCP"}
    assert env_of(workload(docs, role))["STREAMPROC_WEB_PORT"]["value"] == str(port)
    assert c["livenessProbe"]["httpGet"] == {"path": "/livez", "port": "metrics"}
    assert c["readinessProbe"]["httpGet"] == {"path": "/readyz", "port": "metrics"}
    # stateful roles count as started once their tables are recovered (/readyz); sinks once they answer
    startup = "/readyz" if role in STATEFUL_ROLES else "/livez"
    assert c["startupProbe"]["httpGet"] == {"path": startup, "port": "metrics"}
    budget = c["startupProbe"]["periodSeconds"] * c["startupProbe"]["failureThreshold"]
    assert budget >= 30 * 60
    [service] = [s for s in of_kind(docs, "Service") if s["metadata"]["name"] == role_name(role)]
    assert service["spec"]["ports"] == [{"name": "metrics", "port": port, "targetPort": "metrics", "protocol": "TCP"}]


@pytest.mark.parametrize("role", ALL_ROLES)
def test_each_role_runs_only_itself_with_settings_the_worker_knows(role: str) -> None:
    owner = workload(
        render(merged(scenario("existing-secrets"), {"roles": {r: {"enabled": True} for r in ALL_ROLES}})), role
    )
    assert container(owner)["args"] == ["worker", "--role", role]
    env = env_of(owner)
    assert env["STREAMPROC_ROLES"]["value"] == role
    assert env["STREAMPROC_PIPELINES"]["value"] == "/etc/streamproc/config/pipelines.yaml"
    unknown = sorted(set(env) - set(SETTINGS))
    assert unknown == [], f"the chart sets variables the settings model does not have: {unknown}"


def test_role_env_overrides_the_global_env_and_extra_env_is_appended() -> None:
    docs = render(scenario("all-roles"))
    ingest, s3 = env_of(workload(docs, "ingest")), env_of(workload(docs, "s3"))
    assert ingest["STREAMPROC_BATCH_SIZE"]["value"] == "5000"
    assert ingest["STREAMPROC_SINK__BATCH_RECORDS"]["value"] == s3["STREAMPROC_SINK__BATCH_RECORDS"]["value"] == "1000"
    assert ingest["NODE_NAME"]["valueFrom"] == {"fieldRef": {"fieldPath": "spec.nodeName"}}
    values = merged(scenario("minimal"), {"roles": {"ingest": {"env": {"STREAMPROC_APP_ID": "other-ingest"}}}})
    assert env_of(workload(render(values), "ingest"))["STREAMPROC_APP_ID"]["value"] == "other-ingest"


@pytest.mark.parametrize("name", ["all-roles", "existing-secrets", "minimal", "monitoring"])
def test_no_secret_value_in_any_manifest(name: str) -> None:
    # every role on, so every secret reference a role can have is rendered
    docs = render(merged(scenario(name), {"roles": {r: {"enabled": True} for r in ALL_ROLES}} | REQUIRED_BY_SINKS))
    assert of_kind(docs, "Secret") == []
    seen = set()
    for owner in pod_owners(docs):
        for env_name, entry in env_of(owner).items():
            if env_name in SECRET_SETTINGS:
                seen.add(env_name)
                assert "value" not in entry and set(entry["valueFrom"]) == {"secretKeyRef"}, (owner, entry)
    assert "STREAMPROC_REDACTION__KEY" in seen
    if name == "existing-secrets":  # every secret the chart knows about, each as a reference
        assert seen >= {
            "STREAMPROC_REDACTION__KEY",
            "STREAMPROC_SCHEMA_REGISTRY_URL",
            "STREAMPROC_KAFKA_SECURITY__SASL_USERNAME",
            "STREAMPROC_KAFKA_SECURITY__SASL_PASSWORD",
            "STREAMPROC_AWS__ACCESS_KEY_ID",
            "STREAMPROC_AWS__SECRET_ACCESS_KEY",
            "STREAMPROC_OPENSEARCH__PASSWORD",
            "STREAMPROC_WAREHOUSE__DSN",
        }


def test_only_the_ingest_role_gets_the_redaction_key() -> None:
    docs = render(EVERY_ROLE)
    holders = [o["metadata"]["name"] for o in pod_owners(docs) if "STREAMPROC_REDACTION__KEY" in env_of(o)]
    assert holders == [role_name("ingest")]
    ref = env_of(workload(docs, "ingest"))["STREAMPROC_REDACTION__KEY"]["valueFrom"]["secretKeyRef"]
    assert ref == {"name": "streamproc-redaction", "key": "redaction-key"}


def test_aggregations_reach_the_warehouse_and_opensearch_when_they_are_configured() -> None:
    docs = render(EVERY_ROLE)
    env = env_of(workload(docs, "aggregations"))
    assert env["STREAMPROC_WAREHOUSE__DSN"]["valueFrom"]["secretKeyRef"] == {
        "name": "streamproc-warehouse",
        "key": "dsn",
    }
    assert env["STREAMPROC_OPENSEARCH__URL"]["value"] == "https://opensearch.search:9200"
    assert env["STREAMPROC_OPENSEARCH__PASSWORD"]["valueFrom"]["secretKeyRef"]["name"] == "streamproc-opensearch"
    bare = env_of(
        workload(render(merged(scenario("minimal"), {"roles": {"aggregations": {"enabled": True}}})), "aggregations")
    )
    assert not {"STREAMPROC_WAREHOUSE__DSN", "STREAMPROC_OPENSEARCH__URL", "STREAMPROC_OPENSEARCH__PASSWORD"} & set(
        bare
    )
    for sink in ("s3", "eventbridge"):
        assert "STREAMPROC_WAREHOUSE__DSN" not in env_of(workload(docs, sink))


def checksums(values: dict[str, object]) -> set[str]:
    docs = render(values)
    return {
        o["spec"]["template"]["metadata"]["annotations"]["checksum/config"] for o in of_kind(docs, "StatefulSet")
    } | {o["spec"]["template"]["metadata"]["annotations"]["checksum/config"] for o in of_kind(docs, "Deployment")}


def test_config_checksum_changes_when_pipelines_yaml_changes() -> None:
    before = checksums(EVERY_ROLE)
    assert len(before) == 1  # every role rolls together
    assert checksums(EVERY_ROLE) == before
    defaults = yaml.safe_load((CHART / "values.yaml").read_text())["config"]["pipelines"]
    changed = merged(EVERY_ROLE, {"config": {"pipelines": defaults.replace("HASH", "TOKENIZE")}})
    after = checksums(changed)
    assert len(after) == 1 and after != before
    cm = [c for c in of_kind(render(changed), "ConfigMap") if c["metadata"]["name"].endswith("-config")]
    assert cm[0]["data"]["pipelines.yaml"].rstrip("\n") == defaults.replace("HASH", "TOKENIZE").rstrip("\n")


def test_existing_config_map_is_mounted_and_rolls_with_its_checksum_value() -> None:
    values = scenario("existing-secrets")
    docs = render(values)
    assert [c for c in of_kind(docs, "ConfigMap") if c["metadata"]["name"].endswith("-config")] == []
    volumes = {v["name"]: v for v in workload(docs, "ingest")["spec"]["template"]["spec"]["volumes"]}
    assert volumes["config"]["configMap"]["name"] == "streamproc-pipelines"
    bumped = merged(values, {"config": {"existingConfigMapChecksum": "2026-12-03.1"}})
    assert checksums(bumped) != checksums(values)


def test_default_pipelines_file_is_valid_for_the_worker(tmp_path: Path) -> None:
    path = tmp_path / "pipelines.yaml"
    path.write_text(yaml.safe_load((CHART / "values.yaml").read_text())["config"]["pipelines"])
    spec = load_pipelines(path)
    assert [s.entity for s in spec.sources] == ["users"]


def test_missing_redaction_secret_fails_with_a_clear_message() -> None:
    values = scenario("minimal")
    del values["redactionKey"]
    with pytest.raises(helm_python.HelmRenderError, match=r"redactionKey\.existingSecret is required") as caught:
        render(values)
    assert "kubectl create secret generic" in str(caught.value)


@pytest.mark.parametrize(
    ("override", "message"),
    [
        ({"kafka": {"bootstrap": ""}}, r"kafka\.bootstrap is required"),
        (
            {"replay": {"enabled": True, "role": "ingest", "group": "g"}},
            r"exactly one of replay\.role and replay\.group",
        ),
        ({"replay": {"enabled": True, "mode": "to-offset"}}, r"replay\.mode to-offset needs replay\.value"),
    ],
)
def test_other_impossible_values_fail_naming_the_value(override: dict[str, object], message: str) -> None:
    with pytest.raises(helm_python.HelmRenderError, match=message):
        render(merged(scenario("minimal"), override))


@pytest.mark.parametrize("role", ALL_ROLES)
def test_pods_are_hardened(role: str) -> None:
    owner = workload(render(EVERY_ROLE), role)
    pod, c = owner["spec"]["template"]["spec"], container(owner)
    assert pod["securityContext"]["runAsNonRoot"] is True and pod["securityContext"]["runAsUser"] == 10001
    assert pod["securityContext"]["seccompProfile"] == {"type": "RuntimeDefault"}
    sc = c["securityContext"]
    assert sc["readOnlyRootFilesystem"] is True and sc["allowPrivilegeEscalation"] is False
    assert sc["capabilities"] == {"drop": ["ALL"]} and sc["seccompProfile"] == {"type": "RuntimeDefault"}
    mounts = {m["mountPath"] for m in c["volumeMounts"]}
    assert {"/tmp", "/var/lib/streamproc"} <= mounts
    assert "emptyDir" in {v["name"]: v for v in pod["volumes"]}["tmp"]
    # longer than a session timeout plus a batch: the pod leaves its group cleanly
    assert pod["terminationGracePeriodSeconds"] >= 60
    assert pod["serviceAccountName"] == "sp-streamproc" and pod["automountServiceAccountToken"] is False


def test_service_account_carries_its_annotations_for_irsa() -> None:
    [sa] = of_kind(render(scenario("all-roles")), "ServiceAccount")
    assert sa["metadata"]["annotations"] == {"eks.amazonaws.com/role-arn": "arn:aws:iam::123456789012:role/streamproc"}


def test_replay_job_runs_the_replay_command_once_with_execute() -> None:
    docs = render(scenario("all-roles"))
    [job] = of_kind(docs, "Job")
    assert job["metadata"]["name"] == "sp-streamproc-replay-1" and job["spec"]["backoffLimit"] == 0
    args = container(job)["args"]
    assert args == [
        "replay",
        "--role",
        "s3",
        "--topic",
        "streamproc.events.users:0,1",
        "--to-datetime",
        "2026-01-01T00:00:00Z",
        "--execute",
        "--json",
    ]
    assert job["spec"]["template"]["spec"]["restartPolicy"] == "Never"
    assert "STREAMPROC_ROLES" not in env_of(job)


def test_notes_and_values_say_replicas_beyond_partitions_are_pointless() -> None:
    assert "beyond the partition count" in notes(scenario("minimal")).replace("\n", " ")
    assert "REPLICAS BEYOND THE PARTITION COUNT" in (CHART / "values.yaml").read_text()


def test_every_role_has_the_same_sub_keys() -> None:
    roles = yaml.safe_load((CHART / "values.yaml").read_text())["roles"]
    common = {"enabled", "replicas", "resources", "env", "extraEnv", "nodeSelector", "tolerations", "affinity"}
    common |= {"topologySpreadConstraints", "podAnnotations", "podDisruptionBudget"}
    assert set(roles) == set(ALL_ROLES)
    for role, spec in roles.items():
        assert set(spec) - {"persistence"} == common, role
        assert ("persistence" in spec) == (role in STATEFUL_ROLES), role


def test_role_placement_and_disruption_budget_are_applied() -> None:
    docs = render(scenario("all-roles"))
    pod = workload(docs, "ingest")["spec"]["template"]["spec"]
    assert pod["nodeSelector"] == {"kubernetes.io/os": "linux"}
    assert pod["tolerations"][0]["key"] == "dedicated" and pod["affinity"]["podAntiAffinity"]
    assert pod["topologySpreadConstraints"][0]["topologyKey"] == "topology.kubernetes.io/zone"
    assert workload(docs, "ingest")["spec"]["replicas"] == 6
    annotations = workload(docs, "ingest")["spec"]["template"]["metadata"]["annotations"]
    assert annotations["example.com/team"] == "data" and "checksum/config" in annotations
    pdbs = {p["metadata"]["name"]: p["spec"] for p in of_kind(docs, "PodDisruptionBudget")}
    assert pdbs[role_name("s3")]["minAvailable"] == 1 and pdbs[role_name("ingest")]["maxUnavailable"] == 1
    assert role_name("warehouse") not in pdbs


def test_network_policy_opens_only_the_metrics_port_and_restricts_egress_when_asked() -> None:
    [policy] = of_kind(render(scenario("all-roles")), "NetworkPolicy")
    spec = policy["spec"]
    assert spec["podSelector"]["matchLabels"] == {
        "app.kubernetes.io/name": "streamproc",
        "app.kubernetes.io/instance": "sp",
    }
    [rule] = spec["ingress"]
    assert rule["ports"] == [{"port": "metrics", "protocol": "TCP"}]
    assert rule["from"] == [{"namespaceSelector": {"matchLabels": {"kubernetes.io/metadata.name": "monitoring"}}}]
    assert spec["policyTypes"] == ["Ingress", "Egress"]
    dns, kafka = spec["egress"]
    assert {p["port"] for p in dns["ports"]} == {53} and kafka["ports"] == [{"port": 9092, "protocol": "TCP"}]
    open_egress = merged(scenario("all-roles"), {"networkPolicy": {"egress": []}})
    [policy] = of_kind(render(open_egress), "NetworkPolicy")
    assert policy["spec"]["policyTypes"] == ["Ingress"] and "egress" not in policy["spec"]


def test_the_repository_pipelines_file_is_carried_unchanged_into_the_config_map() -> None:
    text = (CHART.parents[1] / "config" / "pipelines.yaml").read_text()
    docs = render(merged(scenario("minimal"), {"config": {"pipelines": text}}))
    [cm] = [c for c in of_kind(docs, "ConfigMap") if c["metadata"]["name"].endswith("-config")]
    assert yaml.safe_load(cm["data"]["pipelines.yaml"]) == yaml.safe_load(text)
    assert cm["data"]["pipelines.yaml"].strip() == text.strip()
    [volume] = [v for v in workload(docs, "ingest")["spec"]["template"]["spec"]["volumes"] if v["name"] == "config"]
    assert volume["configMap"] == {
        "name": cm["metadata"]["name"],
        "items": [{"key": "pipelines.yaml", "path": "pipelines.yaml"}],
    }
