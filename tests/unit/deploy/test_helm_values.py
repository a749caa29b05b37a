"""values.schema.json through Helm's own validator: the ci/ scenarios and common overrides pass,
real mistakes (wrong type, unknown enum value, misspelt role key, missing required secret) are
rejected with a message that names the value and the constraint."""

from __future__ import annotations

from typing import Any

import helm_python
import pytest

from tests.unit.deploy.helm_chart import SCENARIOS, chart, merged, render, scenario


@pytest.mark.parametrize("name", SCENARIOS)
def test_ci_scenarios_pass_the_schema(name: str) -> None:
    chart().validate_schema(scenario(name))


@pytest.mark.parametrize(
    "override",
    [
        helm_python.parse_set_string("image.tag=1.2.3,image.repository=registry.example.com/streamproc"),
        helm_python.parse_set_string("roles.ingest.replicas=8,roles.s3.enabled=true"),
        helm_python.parse_set_string("image.tag=2"),  # --set makes a number of a numeric tag
        {"roles": {"ingest": {"resources": {"requests": {"cpu": 2, "memory": "4Gi"}, "limits": {"cpu": "2500m"}}}}},
        {"roles": {"ingest": {"persistence": {"size": "100Gi", "storageClassName": "gp3"}}}},
        {"roles": {"s3": {"enabled": True, "env": {"STREAMPROC_SINK__BATCH_SECONDS": 1.5, "STREAMPROC_DEV": False}}}},
        {"roles": {"ingest": {"podDisruptionBudget": {"enabled": True, "maxUnavailable": "25%"}}}},
        {"global": {"imageRegistry": "registry.example.com"}},  # a parent chart's globals
        {"podSecurityContext": {"runAsUser": 20000, "runAsGroup": 20000, "fsGroup": 20000}},
        {"aws": {"region": "eu-central-1", "endpointUrl": "http://localstack:4566"}},
        {"replay": {"enabled": True, "role": "", "group": "streamproc-sink-s3", "mode": "shift-by", "value": -100}},
        {"kafka": {"securityProtocol": "SASL_SSL", "sasl": {"existingSecret": "kafka-user"}}},
    ],
)
def test_common_overrides_pass(override: dict[str, Any]) -> None:
    values = merged(scenario("minimal"), override)
    chart().validate_schema(values)
    assert render(values)


@pytest.mark.parametrize(
    ("override", "where", "what"),
    [
        ({"roles": {"ingest": {"replicas": "three"}}}, "/roles/ingest/replicas", "want integer"),
        ({"roles": {"ingest": {"replica": 3}}}, "/roles/ingest", "'replica' not allowed"),
        ({"roles": {"kafka": {"enabled": True}}}, "/roles", "'kafka' not allowed"),
        ({"roles": {"s3": {"enabled": "yes"}}}, "/roles/s3/enabled", "want boolean"),
        ({"roles": {"s3": {"persistence": {"size": "1Gi"}}}}, "/roles/s3", "'persistence' not allowed"),
        (
            {"roles": {"ingest": {"persistence": {"size": "ten gigs"}}}},
            "/roles/ingest/persistence/size",
            "does not match",
        ),
        ({"kafka": {"securityProtocol": "TLS"}}, "/kafka/securityProtocol", "'PLAINTEXT', 'SSL'"),
        ({"kafka": {"bootstrap": "kafka"}}, "/kafka/bootstrap", "does not match"),
        ({"kafka": {"securityProtocol": "SASL_SSL"}}, "/kafka/sasl/existingSecret", "minLength"),
        ({"roles": {"warehouse": {"enabled": True}}}, "/warehouse/existingSecret", "minLength"),
        ({"roles": {"opensearch": {"enabled": True}}}, "/opensearch/url", "minLength"),
        ({"redactionKey": {"existingSecret": "My_Secret"}}, "/redactionKey/existingSecret", "does not match"),
        ({"redactionKey": {"existingSecret": 42}}, "/redactionKey/existingSecret", "want string"),
        ({"partitions": 0}, "/partitions", "minimum"),
        ({"image": {"pullPolicy": "Sometimes"}}, "/image/pullPolicy", "'Always', 'IfNotPresent', 'Never'"),
        ({"replay": {"mode": "to-yesterday"}}, "/replay/mode", "'to-earliest'"),
        ({"replay": {"role": "dlq"}}, "/replay/role", "'ingest'"),
        ({"replay": {"topics": ["users:a"]}}, "/replay/topics/0", "does not match"),
        ({"env": {"STREAMPROC_PARTITIONS": {"n": 3}}}, "/env/STREAMPROC_PARTITIONS", "got object"),
        ({"metrics": {"serviceMonitor": {"interval": "30"}}}, "/metrics/serviceMonitor/interval", "does not match"),
        ({"webPort": 70000}, "/webPort", "maximum"),
    ],
)
def test_bad_values_are_rejected_naming_the_value_and_the_constraint(
    override: dict[str, Any], where: str, what: str
) -> None:
    values = merged(scenario("minimal"), override)
    with pytest.raises(helm_python.HelmValuesError) as caught:
        chart().validate_schema(values)
    message = str(caught.value)
    assert f"at '{where}'" in message and what in message, message
    with pytest.raises(helm_python.HelmValuesError):  # rendering (install, upgrade) checks it too
        render(values)
