"""Runtime settings: built-in defaults < STREAMPROC_… environment (``__`` nesting) < explicit
arguments; invalid values are ConfigErrors naming the variable; the redaction key is a secret."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from pydantic import SecretStr

from streamproc.config.settings import DEV_REDACTION_KEY, Settings, load_settings
from streamproc.errors import ConfigError

SECRET = "settings-test-SECRET-0a1b2c3d"


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
