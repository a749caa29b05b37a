"""``streamproc replay`` and ``streamproc dlq`` without a broker: the groups of each role, topic
selection and its usage errors (exit 2, naming the flag), and what a refusal says."""

from __future__ import annotations

import argparse
from pathlib import Path

import pytest

from streamproc.cli import replay, replay_report
from streamproc.cli.main import build_parser, main
from streamproc.config.loader import parse_pipelines
from streamproc.config.settings import Settings
from streamproc.runtime.offsets import GroupInfo

CONFIG = """
version: 1
defaults: {key: [_id]}
sources:
  - {entity: users, topic: cdc.app.users}
  - {entity: orders, topic: pg.public.orders}
sinks:
  s3_trigger: {bucket: b, entities: {users: {queue: q}}}
  s3_archive: {bucket: a}
  warehouse: {schema: public, entities: all}
"""


@pytest.fixture
def spec():
    return parse_pipelines(CONFIG, "p.yaml")


def test_groups_of_each_role(spec) -> None:
    s = Settings(app_id="shop-ingest", pipelines=Path("p.yaml"))
    assert replay.groups_of("ingest", s, spec) == [("shop-ingest", "ingest")]
    assert replay.groups_of("s3", s, spec) == [("shop-sink-s3", "s3"), ("shop-sink-s3-archive", "s3-archive")]
    assert replay.groups_of("warehouse", s, spec) == [("shop-sink-warehouse", "warehouse")]
    assert replay.groups_of("aggregations", s, spec) == [("shop-aggregations", "aggregations")]
    with pytest.raises(Exception, match="role 'opensearch' has no section under 'sinks:'"):
        replay.groups_of("opensearch", s, spec)


def args(*argv: str) -> argparse.Namespace:
    return build_parser().parse_args(["replay", *argv])


def test_topics_of_a_role_and_selectors(spec) -> None:
    s = Settings(topic_prefix="p")
    topics = replay._role_topics("ingest", s, spec, ["orders"])
    assert topics == ["pg.public.orders"]
    assert replay._role_topics("warehouse", s, spec, []) == ["p.events.users", "p.events.orders"]
    counts = {"pg.public.orders": 3, "cdc.app.users": 2}
    a = args("--role", "ingest", "--topic", "pg.public.orders:0,2", "--to-earliest")
    assert replay._partitions(a, ["pg.public.orders"], counts) == [("pg.public.orders", 0), ("pg.public.orders", 2)]
    a = args("--role", "ingest", "--to-earliest")
    assert replay._partitions(a, ["cdc.app.users"], counts) == [("cdc.app.users", 0), ("cdc.app.users", 1)]


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["--topic", "pg.public.orders:7"], "has 3 partitions; no partition 7"),
        (["--topic", "other.topic"], "is not a topic of role ingest"),
        (["--topic", "pg.public.orders:0", "--reset-state"], "name --topic without partitions"),
    ],
)
def test_selection_errors(argv: list[str], message: str) -> None:
    a = args("--role", "ingest", "--to-earliest", *argv)
    with pytest.raises(Exception, match=message):
        replay._partitions(a, ["pg.public.orders"], {"pg.public.orders": 3})


def test_target_and_flags_are_exclusive_and_required(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exc:
        main(["replay", "--role", "ingest"])
    assert exc.value.code == 2
    with pytest.raises(SystemExit):
        main(["replay", "--role", "ingest", "--group", "g", "--to-latest"])
    assert "not allowed with argument" in capsys.readouterr().err


def test_bad_duration_is_a_usage_error(tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch) -> None:
    (tmp_path / "p.yaml").write_text(CONFIG)
    monkeypatch.setenv("STREAMPROC_KAFKA_BOOTSTRAP", "127.0.0.1:1")
    code = main(["replay", "--config", str(tmp_path / "p.yaml"), "--role", "ingest", "--by-duration", "soon"])
    assert code == 2
    assert "--by-duration: 'soon' is not a duration" in capsys.readouterr().err


def test_refusal_names_members_and_hosts() -> None:
    listed = GroupInfo("g", "STABLE", (("m-1", "faust-1", "/10.0.0.7"),))
    assert "m-1 (client faust-1) at /10.0.0.7" in replay_report.refusal(listed)
    unlisted = GroupInfo("g", "STABLE", ())
    assert unlisted.active and "--workers-stopped" in replay_report.refusal(unlisted)
    assert not GroupInfo("g", "EMPTY", ()).active
