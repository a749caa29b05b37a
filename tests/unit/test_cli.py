"""``streamproc`` command line: decode over the CDC corpus, exit codes and messages of usage and
configuration errors (0 done, 1 runtime failure, 2 usage or configuration error)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from streamproc.cli.main import main
from streamproc.model import FORMATS

from .sources._support import PLACEHOLDER_ERRORS, PREFIX_FORMATS, corpus_dir

REPO = Path(__file__).resolve().parents[2]
CORPUS = corpus_dir()
SECRET = "cli-test-SECRET-redaction-key-7f3a9c"


def cli(
    *args: str, env: dict[str, str] | None = None, stdin: str | None = None, timeout: float = 120
) -> subprocess.CompletedProcess[str]:
    base = {k: v for k, v in os.environ.items() if not k.startswith("STREAMPROC_")}
    base.update(env or {})
    return subprocess.run(
        [sys.executable, "-m", "streamproc.cli.main", *args],
        cwd=REPO,
        env=base,
        input=stdin,
        capture_output=True,
        text=True,
        timeout=timeout,
    )


@pytest.fixture
def corpus_files() -> list[Path]:
    files = sorted(CORPUS.glob("*.json")) if CORPUS.is_dir() else []
    if not files:
        pytest.skip(f"CDC corpus not found at {CORPUS}")
    return files


def jsonl(files: list[Path]) -> str:
    return "".join(json.dumps(json.loads(p.read_text())) + "\n" for p in files)


def strict(line: str) -> dict:
    def reject(token: str) -> None:
        raise ValueError(f"non-strict JSON token {token}")

    return json.loads(line, parse_constant=reject)


# --------------------------------------------------------------------------- decode


def test_decode_every_corpus_file_one_line_each(corpus_files: list[Path], tmp_path: Path) -> None:
    dump = tmp_path / "corpus.jsonl"
    dump.write_text(jsonl(corpus_files))
    proc = cli("decode", str(dump))
    assert proc.returncode == 0, proc.stderr
    lines = proc.stdout.splitlines()
    assert len(lines) == len(corpus_files)
    results = [strict(line) for line in lines]
    assert {r["status"] for r in results} <= {"ok", "skip", "error"}
    by_name = {p.stem: r for p, r in zip(corpus_files, results, strict=True)}
    assert by_name["debezium_mongodb__create__1"]["status"] == "ok"
    assert by_name["debezium_mongodb__tombstone__1"] == {
        "status": "skip",
        "format": "debezium-mongodb",
        "reason": "tombstone",
    }
    assert by_name["debezium_postgres__update__1"]["op"] == "update"
    assert sum(r["status"] == "ok" for r in results) >= len(results) // 2


@pytest.mark.parametrize("prefix", sorted(PREFIX_FORMATS))
def test_decode_with_the_format_fixed_accepts_every_file_of_that_format(
    corpus_files: list[Path], tmp_path: Path, prefix: str
) -> None:
    files = [p for p in corpus_files if p.stem.split("__", 1)[0] == prefix]
    assert files, f"no corpus file for {prefix}"
    dump = tmp_path / f"{prefix}.jsonl"
    dump.write_text(jsonl(files))
    proc = cli("decode", "--format", PREFIX_FORMATS[prefix], str(dump))
    assert proc.returncode == 0, proc.stderr
    results = [strict(line) for line in proc.stdout.splitlines()]
    assert len(results) == len(files)
    for path, result in zip(files, results, strict=True):
        if path.stem in PLACEHOLDER_ERRORS:
            assert result["status"] == "error", path.stem
        else:
            assert result["status"] in ("ok", "skip"), (path.stem, result)
            assert result["format"] == PREFIX_FORMATS[prefix]


def test_decode_reads_stdin_and_reports_malformed_lines_in_place(corpus_files: list[Path]) -> None:
    text = jsonl(corpus_files[:2]) + "not json\n" + jsonl(corpus_files[2:3])
    proc = cli("decode", stdin=text)
    assert proc.returncode == 0
    results = [strict(line) for line in proc.stdout.splitlines()]
    assert len(results) == 4
    assert results[2]["status"] == "error" and results[2]["reason"].startswith("input line 3:")


@pytest.mark.parametrize("command", ["decode", "dry-run"])
def test_unknown_format_exits_2(command: str, tmp_path: Path) -> None:
    dump = tmp_path / "d.jsonl"
    dump.write_text("")
    extra = ["--config", "config/pipelines.yaml"] if command == "dry-run" else []
    proc = cli(command, *extra, "--format", "avro-magic", str(dump))
    assert proc.returncode == 2
    assert "--format" in proc.stderr and "avro-magic" in proc.stderr
    for fmt in FORMATS:
        assert fmt in proc.stderr  # the choices are listed
    assert proc.stdout == ""
    with pytest.raises(SystemExit) as exc:
        main([command, *extra, "--format", "avro-magic", str(dump)])
    assert exc.value.code == 2


def test_missing_input_file_exits_2(tmp_path: Path, capsys) -> None:
    assert main(["decode", str(tmp_path / "absent.jsonl")]) == 2
    assert "absent.jsonl" in capsys.readouterr().err


# --------------------------------------------------------------------------- pipelines file errors


def test_invalid_pipelines_yaml_exits_2_naming_file_path_and_problem(tmp_path: Path) -> None:
    bad = tmp_path / "bad-pipelines.yaml"
    bad.write_text(
        "version: 1\n"
        "defaults: {key: [_id]}\n"
        "sources:\n"
        "  - entity: users\n"
        "    topic: cdc.app.users\n"
        "    redact:\n"
        "      - {path: email, mode: PARTIAL_MASK}\n"
        "      - {path: ssn, mode: SCRAMBLE}\n"
    )
    dump = tmp_path / "d.jsonl"
    dump.write_text("")
    proc = cli("dry-run", "--config", str(bad), str(dump))
    assert proc.returncode == 2
    assert proc.stdout == ""
    assert (
        f"{bad}: sources[0].redact[1].mode: unknown redaction mode 'SCRAMBLE'; expected one of "
        "REMOVE, HASH, PARTIAL_MASK, FULL_MASK, TOKENIZE"
    ) in proc.stderr
    assert "Traceback" not in proc.stderr


def test_every_problem_of_a_pipelines_file_is_reported(tmp_path: Path, capsys) -> None:
    bad = tmp_path / "p.yaml"
    bad.write_text(
        "version: 1\n"
        "sources:\n"
        "  - entity: users\n"
        "    topic: cdc.app.users\n"
        "    key: [_id]\n"
        "    redact: [{path: email, mode: MASKED}]\n"
        "  - entitty: owners\n"
        "    topic: cdc.app.owners\n"
        "    key: [_id]\n"
    )
    assert main(["dry-run", "--config", str(bad), os.devnull]) == 2
    err = capsys.readouterr().err
    assert f"{bad}: sources[0].redact[0].mode: unknown redaction mode 'MASKED'" in err
    assert f"{bad}: sources[1]: unknown key 'entitty'" in err


def test_missing_pipelines_file_exits_2(tmp_path: Path, capsys) -> None:
    assert main(["dry-run", "--config", str(tmp_path / "none.yaml"), os.devnull]) == 2
    assert f"{tmp_path / 'none.yaml'}: pipelines file not found" in capsys.readouterr().err


# --------------------------------------------------------------------------- worker start-up checks


def test_worker_without_bootstrap_exits_2_with_a_clear_message() -> None:
    proc = cli("worker", env={"STREAMPROC_REDACTION__KEY": SECRET})
    assert proc.returncode == 2, proc.stderr
    assert "STREAMPROC_KAFKA_BOOTSTRAP is not set" in proc.stderr
    assert "streamproc dev" in proc.stderr  # says what to do instead
    assert SECRET not in proc.stderr + proc.stdout
    assert "Traceback" not in proc.stderr


@pytest.mark.parametrize("key_env", [{}, {"STREAMPROC_REDACTION__KEY": ""}])
def test_worker_without_redaction_key_exits_2(key_env: dict[str, str], monkeypatch: pytest.MonkeyPatch) -> None:
    from streamproc.config.settings import load_settings
    from streamproc.errors import ConfigError

    # an unreachable bootstrap: the key check must fail before any connection is tried
    proc = cli("worker", env={"STREAMPROC_KAFKA_BOOTSTRAP": "127.0.0.1:1", **key_env}, timeout=60)
    assert proc.returncode == 2, proc.stderr
    assert "configuration error" in proc.stderr
    assert "STREAMPROC_REDACTION__KEY" in proc.stderr
    assert "Using the built-in development redaction key" not in proc.stderr  # the dev-key fallback's warning
    assert "Traceback" not in proc.stderr
    # never falls back to the dev key: the worker's settings (not dev mode) refuse to give a key
    for name in [n for n in os.environ if n.startswith("STREAMPROC_")]:
        monkeypatch.delenv(name)
    for name, value in key_env.items():
        monkeypatch.setenv(name, value)
    settings = load_settings(kafka_bootstrap="127.0.0.1:1")
    with pytest.raises(ConfigError, match="STREAMPROC_REDACTION__KEY is not set"):
        settings.redaction_key()


@pytest.mark.parametrize(
    ("name", "value"), [("STREAMPROC_PARTITIONS", "-7319468"), ("STREAMPROC_WEB_PORT", "http-7f3a9c-port")]
)
def test_worker_with_invalid_setting_names_the_variable_not_its_value_nor_the_secret(name: str, value: str) -> None:
    proc = cli(
        "worker",
        env={"STREAMPROC_KAFKA_BOOTSTRAP": "127.0.0.1:1", "STREAMPROC_REDACTION__KEY": SECRET, name: value},
        timeout=60,
    )
    assert proc.returncode == 2
    assert f"{name}:" in proc.stderr
    assert value not in proc.stderr + proc.stdout  # a wrong value may be a misplaced secret
    assert SECRET not in proc.stderr + proc.stdout


def test_worker_unknown_role_exits_2() -> None:
    proc = cli(
        "worker",
        "--role",
        "ingest,sinks3",
        env={"STREAMPROC_KAFKA_BOOTSTRAP": "127.0.0.1:1", "STREAMPROC_REDACTION__KEY": SECRET},
    )
    assert proc.returncode == 2
    assert "unknown role sinks3" in proc.stderr


def test_worker_with_invalid_pipelines_exits_2(tmp_path: Path) -> None:
    bad = tmp_path / "p.yaml"
    bad.write_text("version: 2\nsources: []\n")
    proc = cli(
        "worker",
        "--config",
        str(bad),
        env={"STREAMPROC_KAFKA_BOOTSTRAP": "127.0.0.1:1", "STREAMPROC_REDACTION__KEY": SECRET},
        timeout=60,
    )
    assert proc.returncode == 2
    assert f"{bad}: version: unsupported version 2; expected 1" in proc.stderr


def test_no_command_is_a_usage_error(capsys) -> None:
    with pytest.raises(SystemExit) as exc:
        main([])
    assert exc.value.code == 2


# --------------------------------------------------------------------------- keys, secrets, environment


def closed_port() -> str:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return f"127.0.0.1:{s.getsockname()[1]}"


@pytest.mark.parametrize("how", ["worker", "dev"])
def test_dev_key_against_a_broker_that_is_not_embedded_exits_2(how: str) -> None:
    bootstrap = closed_port()  # nothing listens: certainly not the embedded broker
    if how == "worker":
        proc = cli(
            "worker", "--role", "ingest", env={"STREAMPROC_KAFKA_BOOTSTRAP": bootstrap, "STREAMPROC_DEV": "true"}
        )
    else:
        proc = cli("dev", env={"STREAMPROC_KAFKA_BOOTSTRAP": bootstrap})
    assert proc.returncode == 2, proc.stderr
    assert "the public development redaction key is refused" in proc.stderr
    assert "--allow-dev-key" in proc.stderr
    assert "Traceback" not in proc.stderr


def test_a_short_key_dev_mode_allows_is_refused_on_a_cluster_too() -> None:
    env = {"STREAMPROC_KAFKA_BOOTSTRAP": closed_port(), "STREAMPROC_DEV": "true", "STREAMPROC_REDACTION__KEY": "k-7"}
    proc = cli("worker", "--role", "ingest", env=env)
    assert proc.returncode == 2, proc.stderr
    assert "a redaction key shorter than 32 bytes is refused" in proc.stderr
    assert "k-7" not in proc.stderr + proc.stdout


def test_worker_with_a_short_key_exits_2_without_showing_it() -> None:
    key = "short-CANARY-key"
    proc = cli(
        "worker",
        "--role",
        "ingest",
        env={"STREAMPROC_KAFKA_BOOTSTRAP": "127.0.0.1:1", "STREAMPROC_REDACTION__KEY": key},
    )
    assert proc.returncode == 2, proc.stderr
    assert "STREAMPROC_REDACTION__KEY is shorter than 32 bytes" in proc.stderr
    assert key not in proc.stderr + proc.stdout


@pytest.mark.parametrize("command", ["worker", "dev"])
def test_allow_dev_key_flag(command: str, monkeypatch: pytest.MonkeyPatch) -> None:
    from streamproc.cli import worker
    from streamproc.config.settings import Settings

    for name in [n for n in os.environ if n.startswith("STREAMPROC_")]:
        monkeypatch.delenv(name)
    seen: list[Settings] = []

    def run_worker(settings: Settings, loglevel: str, explicit: bool = False) -> int:
        seen.append(settings)
        return 0

    monkeypatch.setattr(worker, "run_worker", run_worker)
    if command == "dev":  # no broker, no local services: only the settings matter here
        import contextlib

        import streamproc.dev.broker
        import streamproc.dev.services

        monkeypatch.setattr(streamproc.dev.broker, "maybe_embedded", lambda b, **k: contextlib.nullcontext("k:1"))
        services = type("Services", (), {})

        @contextlib.contextmanager
        def local(settings: Settings, say: object):  # type: ignore[no-untyped-def]
            services.settings = settings
            yield services

        monkeypatch.setattr(streamproc.dev.services, "local_services", local)
        monkeypatch.setattr("streamproc.cli.dev.run_worker", run_worker)
    monkeypatch.setenv("STREAMPROC_KAFKA_BOOTSTRAP", "k:1")
    assert main([command, "--allow-dev-key"]) == 0
    assert seen[-1].dev and seen[-1].dev_key_allowed
    if command == "worker":  # the check itself runs when the ingest app builds its processor
        assert main([command]) == 0
        assert not seen[-1].dev_key_allowed
    else:  # dev checks a configured broker before starting anything: k:1 is not the embedded one
        assert main([command]) == 2
        assert len(seen) == 1


@pytest.mark.parametrize("command", ["decode", "dry-run"])
def test_a_bad_schema_registry_url_exits_2_without_echoing_it(command: str, tmp_path: Path) -> None:
    dump = tmp_path / "d.jsonl"
    dump.write_text("")
    extra = ["--config", "config/pipelines.yaml"] if command == "dry-run" else []
    url = "ftp//registry-user:registry-PASSWORD-CANARY@registry"
    proc = cli(command, *extra, str(dump), env={"STREAMPROC_SCHEMA_REGISTRY_URL": url})
    assert proc.returncode == 2, proc.stderr
    assert "STREAMPROC_SCHEMA_REGISTRY_URL" in proc.stderr
    assert "CANARY" not in proc.stderr + proc.stdout and "registry-user" not in proc.stderr
    assert "Traceback" not in proc.stderr


@pytest.mark.parametrize("command", ["decode", "worker"])
def test_malformed_nested_json_in_the_environment_exits_2(command: str, tmp_path: Path) -> None:
    dump = tmp_path / "d.jsonl"
    dump.write_text("")
    args = [str(dump)] if command == "decode" else []
    proc = cli(command, *args, env={"STREAMPROC_AWS": '{bad "json-CANARY', "STREAMPROC_REDACTION__KEY": SECRET})
    assert proc.returncode == 2, proc.stderr
    assert "STREAMPROC_AWS: not a valid JSON object" in proc.stderr
    assert "CANARY" not in proc.stderr and SECRET not in proc.stderr
    assert "Traceback" not in proc.stderr


@pytest.mark.parametrize("command", ["decode", "dry-run"])
def test_output_piped_to_a_reader_that_stops_early_ends_quietly(command: str, tmp_path: Path) -> None:
    """``streamproc decode … | head -1``: the closed pipe ends the command with 0, no traceback."""
    record = {"topic": "cdc.Facilitron_common.users", "key": {"id": 1}, "value": {"a": "x" * 200}}
    dump = tmp_path / "many.jsonl"
    dump.write_text((json.dumps(record) + "\n") * 5000)  # far more output than a pipe buffer holds
    extra = ["--config", "config/pipelines.yaml"] if command == "dry-run" else []
    env = {k: v for k, v in os.environ.items() if not k.startswith("STREAMPROC_")}
    proc = subprocess.Popen(
        [sys.executable, "-m", "streamproc.cli.main", command, *extra, str(dump)],
        cwd=REPO,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )
    assert proc.stdout is not None and proc.stderr is not None
    assert proc.stdout.readline()  # the reader takes one line and goes away
    proc.stdout.close()
    code = proc.wait(timeout=120)
    err = proc.stderr.read().decode()
    assert code == 0, err
    assert "Traceback" not in err and "BrokenPipe" not in err and "Exception ignored" not in err


def test_an_unexpected_error_is_reported_without_its_message(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    from streamproc.cli import decode
    from streamproc.errors import ExitCode

    def boom(args: object) -> int:
        canary = "".join(("CAN", "ARY"))  # not in the source line the frames show
        try:
            raise KeyError(f"inner-value-{canary}")
        except KeyError as exc:
            raise ValueError(f"DETAIL: Key (email)=(someone-{canary}@example.org)") from exc

    monkeypatch.setattr(decode, "run", boom)
    assert main(["decode", os.devnull]) == ExitCode.SOFTWARE
    err = capsys.readouterr().err
    assert "unexpected error: ValueError caused by KeyError" in err
    assert "CANARY" not in err
    assert "in boom" in err  # the frames are kept for debugging


def test_an_unexpected_os_error_keeps_its_errno_text() -> None:
    from streamproc.cli.main import unexpected_error_text

    text = unexpected_error_text(FileNotFoundError(2, "No such file or directory", "/secret-CANARY/path"))
    assert "FileNotFoundError [No such file or directory]" in text
    assert "CANARY" not in text
