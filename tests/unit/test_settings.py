"""Runtime settings: built-in defaults < STREAMPROC_… environment (``__`` nesting) < explicit
arguments; invalid values are ConfigErrors naming the variable; the redaction key is a secret."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from pydantic import SecretStr

from streamproc.config.settings import DEV_REDACTION_KEY, MIN_REDACTION_KEY_BYTES, Settings, load_settings
from streamproc.errors import ConfigError

SECRET = "settings-test-SECRET-0a1b2c3d4e5f6a7b8c9d"
assert len(SECRET) >= MIN_REDACTION_KEY_BYTES


@pytest.fixture(autouse=True)
def clean_env(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in list(os.environ):
        if name.startswith("STREAMPROC_"):
            monkeypatch.delenv(name)


def test_defaults() -> None:
    s = load_settings()
    assert s.kafka_bootstrap is None
    assert s.topic_prefix == "streamproc"
    assert s.app_id == "streamproc-ingest"
    assert s.pipelines == Path("config/pipelines.yaml")
    assert s.partitions == 4 and s.web_port == 6066
    assert s.redaction.key is None
    assert s.dlq_topic == "streamproc.dlq"
    assert s.clean_topic("users") == "streamproc.events.users"


def test_environment_overrides_defaults(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("STREAMPROC_TOPIC_PREFIX", "acme")
    monkeypatch.setenv("STREAMPROC_KAFKA_BOOTSTRAP", "k1:9092,k2:9092")
    monkeypatch.setenv("STREAMPROC_PARTITIONS", "12")
    monkeypatch.setenv("STREAMPROC_BATCH_WITHIN", "0.5")
    monkeypatch.setenv("STREAMPROC_DATADIR", "/var/lib/sp")
    s = load_settings()
    assert s.topic_prefix == "acme" and s.dlq_topic == "acme.dlq"
    assert s.clean_topic("orders") == "acme.events.orders"
    assert s.kafka_bootstrap == "k1:9092,k2:9092"
    assert s.partitions == 12 and s.batch_within == 0.5
    assert s.datadir == Path("/var/lib/sp")


def test_arguments_override_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("STREAMPROC_KAFKA_BOOTSTRAP", "from-env:9092")
    monkeypatch.setenv("STREAMPROC_PIPELINES", "env.yaml")
    s = load_settings(kafka_bootstrap="from-flag:9092", pipelines="flag.yaml")
    assert s.kafka_bootstrap == "from-flag:9092"
    assert s.pipelines == Path("flag.yaml")


def test_unset_argument_does_not_hide_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("STREAMPROC_KAFKA_BOOTSTRAP", "from-env:9092")
    assert load_settings(kafka_bootstrap=None).kafka_bootstrap == "from-env:9092"


def test_nested_redaction_key_from_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("STREAMPROC_REDACTION__KEY", SECRET)
    s = load_settings()
    assert isinstance(s.redaction.key, SecretStr)
    assert s.redaction.key.get_secret_value() == SECRET
    assert s.redaction_key() == SECRET.encode()


def test_redaction_key_is_never_shown(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("STREAMPROC_REDACTION__KEY", SECRET)
    s = load_settings()
    for text in (
        repr(s),
        str(s),
        repr(s.redaction),
        str(s.redaction.key),
        s.model_dump_json(),
        repr(s.model_dump()),
        f"{s}",
        f"{s.redaction.key!r}",
    ):
        assert SECRET not in text
    assert "**********" in repr(s.redaction.key)


@pytest.mark.parametrize(
    ("name", "value"),
    [
        ("STREAMPROC_PARTITIONS", "0"),
        ("STREAMPROC_PARTITIONS", "four"),
        ("STREAMPROC_WEB_PORT", "not-a-port"),
        ("STREAMPROC_BATCH_WITHIN", "-1"),
        ("STREAMPROC_DEV", "perhaps"),
    ],
)
def test_invalid_environment_value_is_a_config_error_naming_the_variable(
    monkeypatch: pytest.MonkeyPatch, name: str, value: str
) -> None:
    monkeypatch.setenv("STREAMPROC_REDACTION__KEY", SECRET)
    monkeypatch.setenv(name, value)
    with pytest.raises(ConfigError) as exc:
        load_settings()
    message = str(exc.value)
    assert f"{name}:" in message
    assert SECRET not in message


def test_several_invalid_values_are_all_reported(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("STREAMPROC_PARTITIONS", "0")
    monkeypatch.setenv("STREAMPROC_REPLICATION_FACTOR", "0")
    with pytest.raises(ConfigError) as exc:
        load_settings()
    assert "STREAMPROC_PARTITIONS" in str(exc.value) and "STREAMPROC_REPLICATION_FACTOR" in str(exc.value)


def test_missing_redaction_key_outside_dev_is_a_config_error() -> None:
    s = load_settings()
    with pytest.raises(ConfigError, match="STREAMPROC_REDACTION__KEY is not set"):
        s.redaction_key()


def test_empty_redaction_key_counts_as_missing(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("STREAMPROC_REDACTION__KEY", "")
    with pytest.raises(ConfigError, match="STREAMPROC_REDACTION__KEY"):
        load_settings().redaction_key()


def test_dev_mode_falls_back_to_the_development_key(caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level("WARNING"):
        assert load_settings(dev=True).redaction_key() == DEV_REDACTION_KEY.encode()
    assert "development redaction key" in caplog.text


def test_configured_key_wins_over_dev_key(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("STREAMPROC_REDACTION__KEY", SECRET)
    assert load_settings(dev=True).redaction_key() == SECRET.encode()


def test_nothing_is_read_at_import_time(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("STREAMPROC_TOPIC_PREFIX", "first")
    assert Settings().topic_prefix == "first"
    monkeypatch.setenv("STREAMPROC_TOPIC_PREFIX", "second")
    assert load_settings().topic_prefix == "second"


# --------------------------------------------------------------------------- the redaction key's strength


@pytest.mark.parametrize("key", ["k", "short-key-CANARY-1", "x" * (MIN_REDACTION_KEY_BYTES - 1)])
def test_a_short_key_outside_dev_mode_is_refused_without_showing_it(monkeypatch: pytest.MonkeyPatch, key: str) -> None:
    monkeypatch.setenv("STREAMPROC_REDACTION__KEY", key)
    with pytest.raises(ConfigError) as exc:
        load_settings().redaction_key()
    assert f"shorter than {MIN_REDACTION_KEY_BYTES} bytes" in str(exc.value)
    assert "STREAMPROC_REDACTION__KEY" in str(exc.value)
    if len(key) > 1:
        assert key not in str(exc.value)


def test_a_key_of_exactly_the_minimum_length_is_accepted(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("STREAMPROC_REDACTION__KEY", "k" * MIN_REDACTION_KEY_BYTES)
    assert load_settings().redaction_key() == b"k" * MIN_REDACTION_KEY_BYTES


def test_the_length_counts_bytes_not_characters(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("STREAMPROC_REDACTION__KEY", "é" * 16)  # 16 characters, 32 bytes
    assert len(load_settings().redaction_key()) == 32


def test_a_key_that_is_not_utf8_keeps_its_bytes(monkeypatch: pytest.MonkeyPatch) -> None:
    raw = bytes(range(128, 128 + 40))
    monkeypatch.setenv("STREAMPROC_REDACTION__KEY", raw.decode("utf-8", "surrogateescape"))
    assert load_settings().redaction_key() == raw


def test_the_public_development_key_is_refused_outside_dev_mode(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("STREAMPROC_REDACTION__KEY", DEV_REDACTION_KEY)
    with pytest.raises(ConfigError, match="public development key"):
        load_settings().redaction_key()


def test_dev_mode_accepts_a_short_key_and_says_so(
    monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    monkeypatch.setenv("STREAMPROC_REDACTION__KEY", "short-key-CANARY-2")
    with caplog.at_level("WARNING"):
        s = load_settings(dev=True)
        assert s.redaction_key() == b"short-key-CANARY-2"
    assert "dev mode only" in caplog.text and "short-key-CANARY-2" not in caplog.text
    assert s.weak_redaction_key() == f"a redaction key shorter than {MIN_REDACTION_KEY_BYTES} bytes"


def test_weak_redaction_key_names_what_dev_mode_lets_through(monkeypatch: pytest.MonkeyPatch) -> None:
    assert load_settings().weak_redaction_key() is None  # no key, no dev mode: redaction_key() refuses
    assert load_settings(dev=True).weak_redaction_key() == "the public development redaction key"
    monkeypatch.setenv("STREAMPROC_REDACTION__KEY", SECRET)
    assert load_settings(dev=True).weak_redaction_key() is None
    monkeypatch.setenv("STREAMPROC_REDACTION__KEY", "short")
    assert load_settings().weak_redaction_key() is None  # outside dev mode redaction_key() refuses it


# --------------------------------------------------------------------------- schema registry URL


def test_schema_registry_url_is_a_secret(monkeypatch: pytest.MonkeyPatch) -> None:
    url = "https://registry-user:registry-PASSWORD-CANARY@registry.example:8081"
    monkeypatch.setenv("STREAMPROC_SCHEMA_REGISTRY_URL", url)
    s = load_settings()
    assert isinstance(s.schema_registry_url, SecretStr)
    assert s.schema_registry_url.get_secret_value() == url
    for text in (repr(s), str(s), s.model_dump_json(), repr(s.model_dump())):
        assert "registry-PASSWORD-CANARY" not in text and "registry-user" not in text


@pytest.mark.parametrize("value", ["", "  "])
def test_an_empty_schema_registry_url_is_unset(monkeypatch: pytest.MonkeyPatch, value: str) -> None:
    monkeypatch.setenv("STREAMPROC_SCHEMA_REGISTRY_URL", value)
    assert load_settings().schema_registry_url is None


def test_a_comma_separated_list_of_registries_is_accepted(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("STREAMPROC_SCHEMA_REGISTRY_URL", "http://a:8081, https://b.example")
    assert load_settings().schema_registry_url is not None


@pytest.mark.parametrize(
    "value",
    [
        "registry-CANARY:8081",
        "ftp://user:pw-CANARY@registry:8081",
        "http//user:pw-CANARY@registry",
        "http://:pw-CANARY@",
        "http://registry:port-CANARY",
        "http://ok:8081,mock-CANARY",
    ],
)
def test_a_bad_schema_registry_url_is_named_not_shown(monkeypatch: pytest.MonkeyPatch, value: str) -> None:
    monkeypatch.setenv("STREAMPROC_SCHEMA_REGISTRY_URL", value)
    with pytest.raises(ConfigError) as exc:
        load_settings()
    assert "STREAMPROC_SCHEMA_REGISTRY_URL:" in str(exc.value)
    assert "CANARY" not in str(exc.value)


def test_a_registry_url_the_client_refuses_is_not_shown() -> None:
    from streamproc.runtime.processor import schema_registry

    s = Settings().model_copy(update={"schema_registry_url": SecretStr("nope://pw-CANARY@x")})  # not validated
    with pytest.raises(ConfigError) as exc:
        schema_registry(s)
    assert "STREAMPROC_SCHEMA_REGISTRY_URL" in str(exc.value) and "CANARY" not in str(exc.value)
    assert exc.value.__cause__ is None and exc.value.__suppress_context__


# --------------------------------------------------------------------------- environment errors


@pytest.mark.parametrize(
    ("name", "value"),
    [
        ("STREAMPROC_AWS", '{bad "CANARY'),
        ("STREAMPROC_REDACTION", '{"key": "CANARY'),
        ("STREAMPROC_KAFKA_SECURITY", "{'protocol': 'CANARY'}"),
        ("STREAMPROC_SINK", "[1, 2"),
    ],
)
def test_malformed_nested_json_names_the_variable_not_its_value(
    monkeypatch: pytest.MonkeyPatch, name: str, value: str
) -> None:
    monkeypatch.setenv(name, value)
    with pytest.raises(ConfigError) as exc:
        load_settings()
    message = str(exc.value)
    assert f"{name}: not a valid JSON object" in message
    assert "CANARY" not in message
    assert exc.value.__cause__ is None and exc.value.__suppress_context__


def test_nested_json_of_the_wrong_shape_names_the_variable(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("STREAMPROC_AWS", '["CANARY"]')
    with pytest.raises(ConfigError) as exc:
        load_settings()
    assert "STREAMPROC_AWS:" in str(exc.value) and "CANARY" not in str(exc.value)


def test_validator_messages_lose_pydantic_s_prefix(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("STREAMPROC_SCHEMA_REGISTRY_URL", "nope")
    with pytest.raises(ConfigError) as exc:
        load_settings()
    assert "Value error" not in str(exc.value)


# --------------------------------------------------------------------------- Kafka security


def test_kafka_security_from_the_environment(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    ca = tmp_path / "ca.pem"
    ca.write_text("not checked here\n")
    monkeypatch.setenv("STREAMPROC_KAFKA_SECURITY__PROTOCOL", "sasl_ssl")
    monkeypatch.setenv("STREAMPROC_KAFKA_SECURITY__SASL_MECHANISM", "scram_sha_256")
    monkeypatch.setenv("STREAMPROC_KAFKA_SECURITY__SASL_USERNAME", "user-CANARY")
    monkeypatch.setenv("STREAMPROC_KAFKA_SECURITY__SASL_PASSWORD", "password-CANARY")
    monkeypatch.setenv("STREAMPROC_KAFKA_SECURITY__SSL_CA_FILE", str(ca))
    sec = load_settings().kafka_security
    assert (sec.protocol, sec.sasl_mechanism, sec.ssl_ca_file) == ("SASL_SSL", "SCRAM-SHA-256", ca)
    assert sec.sasl and sec.tls
    assert sec.sasl_password is not None and sec.sasl_password.get_secret_value() == "password-CANARY"
    assert "CANARY" not in repr(load_settings())


@pytest.mark.parametrize(
    ("env", "named"),
    [
        ({"PROTOCOL": "SASL_SSL", "SASL_USERNAME": "u-CANARY"}, "STREAMPROC_KAFKA_SECURITY__SASL_PASSWORD"),
        ({"PROTOCOL": "SASL_PLAINTEXT", "SASL_PASSWORD": "p-CANARY"}, "STREAMPROC_KAFKA_SECURITY__SASL_USERNAME"),
        (
            {"PROTOCOL": "SASL_SSL", "SASL_USERNAME": "u-CANARY", "SASL_PASSWORD": ""},
            "STREAMPROC_KAFKA_SECURITY__SASL_PASSWORD",
        ),
        ({"SASL_PASSWORD": "p-CANARY"}, "does not use SASL"),
        ({"SASL_MECHANISM": "PLAIN"}, "STREAMPROC_KAFKA_SECURITY__SASL_MECHANISM"),
        ({"SSL_KEY_PASSWORD": "k-CANARY"}, "does not use TLS"),
        ({"PROTOCOL": "SASL_PLAINTEXT", "SASL_USERNAME": "u", "SASL_PASSWORD": "p", "SSL_CA_FILE": "/x"}, "TLS"),
        ({"PROTOCOL": "SSL", "SSL_KEY_FILE": "/x-CANARY"}, "STREAMPROC_KAFKA_SECURITY__SSL_CERT_FILE"),
        ({"PROTOCOL": "SSL", "SSL_CA_FILE": "/nonexistent/CANARY.pem"}, "SSL_CA_FILE: no such file"),
        ({"PROTOCOL": "TLS-CANARY"}, "STREAMPROC_KAFKA_SECURITY__PROTOCOL"),
        ({"PROTOCOL": "SASL_SSL", "SASL_MECHANISM": "GSSAPI-CANARY"}, "SASL_MECHANISM"),
    ],
)
def test_contradictory_kafka_security_is_named_not_shown(
    monkeypatch: pytest.MonkeyPatch, env: dict[str, str], named: str
) -> None:
    for name, value in env.items():
        monkeypatch.setenv(f"STREAMPROC_KAFKA_SECURITY__{name}", value)
    with pytest.raises(ConfigError) as exc:
        load_settings()
    assert named in str(exc.value)
    assert "CANARY" not in str(exc.value)


@pytest.mark.parametrize(
    "name", ["STREAMPROC_TOPIC_PREFIX", "STREAMPROC_KAFKA_BOOTSTRAP", "STREAMPROC_AWS__REGION", "STREAMPROC_ROLES"]
)
def test_a_value_that_is_not_utf8_is_named_not_shown(monkeypatch: pytest.MonkeyPatch, name: str) -> None:
    monkeypatch.setenv(name, b"CANARY-\xff\xfe".decode("utf-8", "surrogateescape"))
    with pytest.raises(ConfigError) as exc:
        load_settings()
    assert f"{name}: not valid UTF-8" in str(exc.value)
    assert "CANARY" not in str(exc.value)


@pytest.mark.parametrize("value", ["endpoint-CANARY", "ftp://CANARY", "http://a:1,http://b:2"])
def test_a_bad_aws_endpoint_is_named_not_shown(monkeypatch: pytest.MonkeyPatch, value: str) -> None:
    monkeypatch.setenv("STREAMPROC_AWS__ENDPOINT_URL", value)
    with pytest.raises(ConfigError) as exc:
        load_settings()
    assert "STREAMPROC_AWS__ENDPOINT_URL: not an http(s) URL" in str(exc.value)
    assert "CANARY" not in str(exc.value)


def test_an_empty_aws_endpoint_is_unset(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("STREAMPROC_AWS__ENDPOINT_URL", "")
    assert load_settings().aws.endpoint_url is None
    monkeypatch.setenv("STREAMPROC_AWS__ENDPOINT_URL", "http://127.0.0.1:5000")
    assert load_settings().aws.endpoint_url == "http://127.0.0.1:5000"
