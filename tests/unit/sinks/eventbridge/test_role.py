"""The ``eventbridge`` role: its section, its settings (which win over the file) and its sink."""

from __future__ import annotations

import pytest

from streamproc.config.loader import parse_pipelines
from streamproc.config.settings import Settings, load_settings
from streamproc.errors import ConfigError
from streamproc.runtime.roles import build_sinks, configured_roles, section_missing
from streamproc.sinks.eventbridge.sink import EventBridgeSink

BASE = """
version: 1
defaults: {key: [_id]}
sources:
  - {entity: users, topic: cdc.app.users}
  - {entity: owners, topic: cdc.app.owners}
"""


@pytest.fixture(autouse=True)
def _clean_env(monkeypatch: pytest.MonkeyPatch) -> None:
    import os

    for name in list(os.environ):
        if name.startswith("STREAMPROC_"):
            monkeypatch.delenv(name)


def spec(section: str = ""):
    return parse_pipelines(BASE + section, "p.yaml")


def test_the_role_runs_only_with_its_section() -> None:
    assert section_missing("eventbridge", spec()) == "no 'eventbridge' section under 'sinks:'"
    with_section = spec("sinks:\n  eventbridge: {entities: [users]}\n")
    assert section_missing("eventbridge", with_section) is None
    assert configured_roles(["ingest", "eventbridge"], spec(), Settings(), explicit=False) == ["ingest"]
    with pytest.raises(ConfigError, match="role 'eventbridge' cannot run"):
        configured_roles(["eventbridge"], spec(), Settings(), explicit=True)
    assert Settings(roles="eventbridge").role_list() == ["eventbridge"]
    assert Settings().sink_app_id("eventbridge") == "streamproc-sink-eventbridge"


def test_settings_win_over_the_file_and_defaults_fill_the_rest(monkeypatch: pytest.MonkeyPatch) -> None:
    s = spec("sinks:\n  eventbridge: {entities: [users], bus: file-bus}\n")
    (sink,) = build_sinks("eventbridge", Settings(), s)
    assert isinstance(sink, EventBridgeSink) and sink.name == "eventbridge"
    assert (sink.bus, sink.spec.source("users")) == ("file-bus", "streamproc.users")
    monkeypatch.setenv("STREAMPROC_EVENTBRIDGE__BUS", "env-bus")
    monkeypatch.setenv("STREAMPROC_EVENTBRIDGE__SOURCE_PREFIX", "coredb")
    monkeypatch.setenv("STREAMPROC_EVENTBRIDGE__ENDPOINT_URL", "http://127.0.0.1:4566")
    (sink,) = build_sinks("eventbridge", load_settings(), s)
    assert isinstance(sink, EventBridgeSink)
    assert (sink.bus, sink.spec.source("owners"), sink.events_endpoint) == (
        "env-bus",
        "coredb.owners",
        "http://127.0.0.1:4566",
    )
    assert sink.spec.wants("users")
    assert not sink.spec.wants("owners")


@pytest.mark.parametrize(
    ("name", "value"),
    [
        ("STREAMPROC_EVENTBRIDGE__BUS", "bus with CANARY spaces"),
        ("STREAMPROC_EVENTBRIDGE__SOURCE_PREFIX", "aws.CANARY"),
        ("STREAMPROC_EVENTBRIDGE__ENDPOINT_URL", "ftp://CANARY"),
    ],
)
def test_bad_settings_are_named_not_shown(monkeypatch: pytest.MonkeyPatch, name: str, value: str) -> None:
    monkeypatch.setenv(name, value)
    with pytest.raises(ConfigError) as exc:
        load_settings()
    assert name in str(exc.value) and "CANARY" not in str(exc.value)


def test_file_errors_name_the_path() -> None:
    with pytest.raises(ConfigError, match="sinks.eventbridge.entities: unknown entity 'orders'"):
        spec("sinks:\n  eventbridge: {entities: [orders]}\n")
    with pytest.raises(ConfigError, match="pointer"):
        spec("sinks:\n  eventbridge: {entities: [users], oversize: s3-pointer}\n")
    with pytest.raises(ConfigError, match="oversize"):
        spec("sinks:\n  eventbridge: {entities: [users], oversize: split}\n")
