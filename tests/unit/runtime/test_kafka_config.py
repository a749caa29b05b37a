"""Kafka client security: one set of ``STREAMPROC_KAFKA_SECURITY__…`` settings configures the
confluent-kafka producer, the admin client and Faust's consumer/producer alike, and no secret
(SASL user and password, key password) shows in any repr, log line or exception text."""

from __future__ import annotations

import datetime as dt
import logging
import ssl
from pathlib import Path
from typing import Any

import pytest
from faust.transport.drivers.aiokafka import credentials_to_aiokafka_auth

from streamproc.config.settings import Settings
from streamproc.errors import ConfigError
from streamproc.runtime import admin, producer
from streamproc.runtime.kafka_config import (
    SECRET_PROPERTIES,
    confluent_config,
    faust_broker_options,
    ssl_context,
)

USER = "sasl-user-CANARY-51d2"
PASSWORD = "sasl-password-CANARY-8e07"
KEY_PASSWORD = "key-password-CANARY-c4a9"
CANARIES = (USER, PASSWORD, KEY_PASSWORD)


@pytest.fixture(scope="module")
def pki(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """A CA, and a client certificate signed by it with a password-protected key (PEM files)."""
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    out = tmp_path_factory.mktemp("pki")
    now = dt.datetime.now(dt.UTC)

    def cert(subject: str, key: Any, issuer: str, signer: Any, ca: bool) -> x509.Certificate:
        builder = (
            x509.CertificateBuilder()
            .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, subject)]))
            .issuer_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, issuer)]))
            .public_key(key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(now - dt.timedelta(days=1))
            .not_valid_after(now + dt.timedelta(days=30))
            .add_extension(x509.BasicConstraints(ca=ca, path_length=None), critical=True)
        )
        return builder.sign(signer, hashes.SHA256())

    ca_key = ec.generate_private_key(ec.SECP256R1())
    client_key = ec.generate_private_key(ec.SECP256R1())
    pem = serialization.Encoding.PEM
    (out / "ca.pem").write_bytes(cert("test-ca", ca_key, "test-ca", ca_key, True).public_bytes(pem))
    (out / "client.pem").write_bytes(cert("client", client_key, "test-ca", ca_key, False).public_bytes(pem))
    (out / "client.key").write_bytes(
        client_key.private_bytes(
            pem,
            serialization.PrivateFormat.PKCS8,
            serialization.BestAvailableEncryption(KEY_PASSWORD.encode()),
        )
    )
    return {"ca": out / "ca.pem", "cert": out / "client.pem", "key": out / "client.key"}


def settings(**security: Any) -> Settings:
    return Settings(kafka_bootstrap="127.0.0.1:1", kafka_security=security)


def sasl_ssl(pki: dict[str, Path], mechanism: str = "SCRAM-SHA-512") -> Settings:
    return settings(
        protocol="SASL_SSL",
        sasl_mechanism=mechanism,
        sasl_username=USER,
        sasl_password=PASSWORD,
        ssl_ca_file=pki["ca"],
        ssl_cert_file=pki["cert"],
        ssl_key_file=pki["key"],
        ssl_key_password=KEY_PASSWORD,
    )


def faust_auth(s: Settings) -> dict[str, Any]:
    """What Faust hands aiokafka for its consumer, its producer and its topic client."""
    return credentials_to_aiokafka_auth(faust_broker_options(s).get("broker_credentials"))


def test_plaintext_is_the_default_and_adds_nothing() -> None:
    s = Settings()
    assert s.kafka_security.protocol == "PLAINTEXT"
    assert confluent_config(s) == {"security.protocol": "PLAINTEXT"}
    assert faust_broker_options(s) == {}
    assert faust_auth(s) == {"security_protocol": "PLAINTEXT"}


@pytest.mark.parametrize("mechanism", ["PLAIN", "SCRAM-SHA-256", "SCRAM-SHA-512"])
def test_sasl_plaintext_is_the_same_for_confluent_and_faust(mechanism: str) -> None:
    s = settings(protocol="SASL_PLAINTEXT", sasl_mechanism=mechanism, sasl_username=USER, sasl_password=PASSWORD)
    assert confluent_config(s) == {
        "security.protocol": "SASL_PLAINTEXT",
        "sasl.mechanism": mechanism,
        "sasl.username": USER,
        "sasl.password": PASSWORD,
    }
    auth = faust_auth(s)
    assert auth["security_protocol"] == "SASL_PLAINTEXT"
    assert auth["sasl_mechanism"] == mechanism
    assert (auth["sasl_plain_username"], auth["sasl_plain_password"]) == (USER, PASSWORD)
    assert auth["ssl_context"] is None


def test_sasl_ssl_with_mutual_tls_is_the_same_for_confluent_and_faust(pki: dict[str, Path]) -> None:
    s = sasl_ssl(pki)
    assert confluent_config(s) == {
        "security.protocol": "SASL_SSL",
        "sasl.mechanism": "SCRAM-SHA-512",
        "sasl.username": USER,
        "sasl.password": PASSWORD,
        "ssl.ca.location": str(pki["ca"]),
        "ssl.endpoint.identification.algorithm": "https",
        "ssl.certificate.location": str(pki["cert"]),
        "ssl.key.location": str(pki["key"]),
        "ssl.key.password": KEY_PASSWORD,
    }
    auth = faust_auth(s)
    assert (auth["security_protocol"], auth["sasl_mechanism"]) == ("SASL_SSL", "SCRAM-SHA-512")
    assert (auth["sasl_plain_username"], auth["sasl_plain_password"]) == (USER, PASSWORD)
    context = auth["ssl_context"]
    assert isinstance(context, ssl.SSLContext)
    assert context.verify_mode == ssl.CERT_REQUIRED and context.check_hostname  # as librdkafka's "https"
    assert [c["subject"] for c in context.get_ca_certs()] == [((("commonName", "test-ca"),),)]


def test_ssl_without_sasl(pki: dict[str, Path]) -> None:
    s = settings(protocol="SSL", ssl_ca_file=pki["ca"])
    assert confluent_config(s) == {
        "security.protocol": "SSL",
        "ssl.ca.location": str(pki["ca"]),
        "ssl.endpoint.identification.algorithm": "https",
    }
    auth = faust_auth(s)
    assert auth["security_protocol"] == "SSL"
    assert "sasl_mechanism" not in auth
    assert [c["subject"] for c in auth["ssl_context"].get_ca_certs()] == [((("commonName", "test-ca"),),)]


def test_ssl_without_a_ca_file_trusts_the_system_store() -> None:
    s = settings(protocol="SSL")
    assert confluent_config(s)["ssl.ca.location"] == "probe"  # librdkafka: the system's CA paths
    context = faust_auth(s)["ssl_context"]
    assert context.verify_mode == ssl.CERT_REQUIRED and context.check_hostname


def test_librdkafka_accepts_every_property(pki: dict[str, Path]) -> None:
    """Real clients (no connection is needed to validate properties): a misspelt property or
    value would raise here."""
    from confluent_kafka import Producer
    from confluent_kafka.admin import AdminClient

    for s in (sasl_ssl(pki), settings(protocol="SSL")):  # the second trusts the system store ("probe")
        conf = {**confluent_config(s), "bootstrap.servers": "127.0.0.1:1"}
        Producer(conf).flush(0)
        AdminClient(conf)
    producer.BatchProducer("127.0.0.1:1", **confluent_config(sasl_ssl(pki)))


def test_the_admin_client_and_the_producers_receive_the_configuration(
    pki: dict[str, Path], monkeypatch: pytest.MonkeyPatch
) -> None:
    seen: list[tuple[str, dict[str, Any]]] = []

    class Recorder:
        def __init__(self, conf: dict[str, Any]) -> None:
            seen.append((type(self).__name__, dict(conf)))

        def list_topics(self, timeout: float) -> Any:
            return type("Metadata", (), {"topics": {}, "cluster_id": "real-cluster"})()

    monkeypatch.setattr(admin, "AdminClient", type("AdminClient", (Recorder,), {}))
    monkeypatch.setattr(producer, "Producer", type("Producer", (Recorder,), {}))
    monkeypatch.setattr(producer, "Consumer", type("Consumer", (Recorder,), {}))
    s = sasl_ssl(pki)
    client = confluent_config(s)
    admin.partition_counts("k:9093", ["t"], client=client)
    admin.cluster_id("k:9093", client=client)
    producer.BatchProducer("k:9093", **client)
    producer.WatermarkReader("k:9093", **client)
    assert [name for name, _ in seen] == ["AdminClient", "AdminClient", "Producer", "Consumer"]
    for _, conf in seen:
        assert conf["bootstrap.servers"] == "k:9093"
        assert {k: v for k, v in conf.items() if k in client} == client


def test_the_faust_app_carries_the_credentials(pki: dict[str, Path]) -> None:
    from streamproc.runtime.apps import faust_app

    s = sasl_ssl(pki)
    app = faust_app("security-test", s, "127.0.0.1:1", store="memory://", web=False, group={})
    auth = credentials_to_aiokafka_auth(app.conf.broker_credentials, app.conf.ssl_context)
    assert auth["security_protocol"] == "SASL_SSL"
    assert (auth["sasl_plain_username"], auth["sasl_plain_password"]) == (USER, PASSWORD)


def test_a_tls_client_never_probes_for_the_embedded_broker(monkeypatch: pytest.MonkeyPatch) -> None:
    def probe(*args: Any, **kwargs: Any) -> str:
        raise AssertionError("probed")

    monkeypatch.setattr(admin, "cluster_id", probe)
    assert admin.is_embedded("k:9093", {"security.protocol": "SASL_SSL"}) is False


# --------------------------------------------------------------------------- no secret shows


def test_no_secret_in_any_repr(pki: dict[str, Path]) -> None:
    s = sasl_ssl(pki)
    credentials = faust_broker_options(s)["broker_credentials"]
    client = confluent_config(s)
    texts = [
        repr(s),
        str(s),
        repr(s.kafka_security),
        s.model_dump_json(),
        repr(s.model_dump()),
        repr(client),
        str(client),
        f"{client}",
        repr(credentials),
        str(credentials),
    ]
    for text in texts:
        for canary in CANARIES:
            assert canary not in text, text
    assert "SCRAM-SHA-512" in repr(credentials)
    assert set(SECRET_PROPERTIES) <= set(client)


def test_no_secret_in_log_lines(pki: dict[str, Path], caplog: pytest.LogCaptureFixture) -> None:
    from streamproc.runtime.apps import faust_app

    with caplog.at_level(logging.DEBUG):
        s = sasl_ssl(pki)
        confluent_config(s)
        faust_broker_options(s)
        faust_app("security-log-test", s, "127.0.0.1:1", store="memory://", web=False, group={})
        producer.BatchProducer("127.0.0.1:1", **confluent_config(s))
    for canary in CANARIES:
        assert canary not in caplog.text


def test_a_wrong_key_password_is_a_config_error_without_it(pki: dict[str, Path]) -> None:
    wrong = "wrong-key-password-CANARY-77aa"
    s = settings(
        protocol="SSL",
        ssl_ca_file=pki["ca"],
        ssl_cert_file=pki["cert"],
        ssl_key_file=pki["key"],
        ssl_key_password=wrong,
    )
    for build in (confluent_config, faust_broker_options):
        with pytest.raises(ConfigError) as exc:
            build(s)
        text = str(exc.value)
        assert "STREAMPROC_KAFKA_SECURITY__SSL_KEY_PASSWORD" in text
        assert wrong not in text and KEY_PASSWORD not in text
        assert exc.value.__cause__ is None and exc.value.__suppress_context__  # no chained library text


def test_a_key_that_is_no_key_is_a_config_error(pki: dict[str, Path], tmp_path: Path) -> None:
    bogus = tmp_path / "bogus.key"
    bogus.write_text(f"not a key {KEY_PASSWORD}\n")
    s = settings(protocol="SSL", ssl_cert_file=pki["cert"], ssl_key_file=bogus)
    with pytest.raises(ConfigError) as exc:
        ssl_context(s.kafka_security)
    assert "STREAMPROC_KAFKA_SECURITY__SSL_KEY_FILE" in str(exc.value)
    assert KEY_PASSWORD not in str(exc.value)


def test_a_ca_file_that_is_no_certificate_is_a_config_error(tmp_path: Path) -> None:
    bogus = tmp_path / "ca.pem"
    bogus.write_text(f"-----BEGIN CERTIFICATE-----\n{USER}\n-----END CERTIFICATE-----\n")
    with pytest.raises(ConfigError) as exc:
        ssl_context(settings(protocol="SSL", ssl_ca_file=bogus).kafka_security)
    assert "STREAMPROC_KAFKA_SECURITY__SSL_CA_FILE" in str(exc.value)
    assert USER not in str(exc.value)


@pytest.mark.parametrize(
    ("client", "named"),
    [
        ({"security.protocol": f"NOPE-{PASSWORD}"}, "security.protocol"),
        ({"security.protocol": "SSL", "ssl.key.location": f"/nonexistent/{PASSWORD}"}, "ssl.key.location"),
    ],
)
def test_a_property_librdkafka_refuses_is_named_without_its_value(client: dict[str, str], named: str) -> None:
    with pytest.raises(ConfigError) as exc:
        admin.partition_counts("127.0.0.1:1", ["t"], client=client)
    assert named in str(exc.value)
    assert PASSWORD not in str(exc.value)
