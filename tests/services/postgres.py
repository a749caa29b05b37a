"""A real, throw-away PostgreSQL for tests, started from the Debian packages.

* :class:`LocalPostgres` — ``initdb`` into a temporary directory and ``pg_ctl start`` on a free
  loopback port, the unix socket inside that directory. Usable outside pytest::

      pg = LocalPostgres().start()
      pg.dsn            # postgresql://postgres:<password>@127.0.0.1:<port>/postgres
      pg.stop()         # fast shutdown: open sessions get SQLSTATE 57P01 (admin shutdown)
      pg.start()        # same port, same data
      pg.cleanup()      # stop and delete the directory

  PostgreSQL refuses to run as root, so when we are root every server command runs as the
  ``postgres`` OS user (``runuser -u postgres --``; the user is created when missing) and the
  directory is owned by it. TCP logins use scram-sha-256 with a random superuser password, so
  wrong passwords are really refused.
* :class:`ExternalPostgres` — the server named by ``STREAMPROC_TEST_POSTGRES_DSN`` (a superuser
  DSN); it cannot be stopped, so tests that stop the server use :func:`local_postgres_factory`.
* Fixtures: ``postgres_server`` (session), ``postgres_database`` (function: a factory of fresh
  databases, dropped afterwards) and ``local_postgres_factory`` (function: private servers).

Binaries are looked up under ``/usr/lib/postgresql/*/bin`` (newest first) and on ``PATH``;
``.ci/run`` installs them with ``apt-get install -y postgresql``.
"""

from __future__ import annotations

import atexit
import glob
import os
import secrets
import shutil
import subprocess
import tempfile
import time
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from urllib.parse import quote, urlsplit, urlunsplit

import pytest

from streamproc.dev.broker import free_port

__all__ = [
    "PostgresNotInstalled",
    "LocalPostgres",
    "ExternalPostgres",
    "find_bindir",
    "postgres_server",
    "postgres_database",
    "local_postgres_factory",
]

ENV_DSN = "STREAMPROC_TEST_POSTGRES_DSN"
_OS_USER = "postgres"


class PostgresNotInstalled(RuntimeError):
    pass


def find_bindir() -> Path:
    """The directory holding ``initdb``, ``pg_ctl`` and ``postgres``."""
    candidates = sorted(
        glob.glob("/usr/lib/postgresql/*/bin"),
        key=lambda p: int(Path(p).parent.name) if Path(p).parent.name.isdigit() else 0,
        reverse=True,
    )
    for cand in candidates:
        if (Path(cand) / "initdb").exists() and (Path(cand) / "pg_ctl").exists():
            return Path(cand)
    on_path = shutil.which("initdb")
    if on_path and shutil.which("pg_ctl"):
        return Path(on_path).parent
    raise PostgresNotInstalled(
        "PostgreSQL server binaries not found (looked in /usr/lib/postgresql/*/bin and PATH). "
        "`.ci/run` installs them with `apt-get install -y postgresql`; on a developer machine run "
        f"`apt-get update && apt-get install -y postgresql`, or point {ENV_DSN} at a server."
    )


def _ensure_os_user() -> None:
    if subprocess.run(["id", "-u", _OS_USER], capture_output=True).returncode == 0:
        return
    subprocess.run(
        ["useradd", "--system", "--no-create-home", "--shell", "/usr/sbin/nologin", _OS_USER],
        check=True,
        capture_output=True,
    )


class _Server:
    """Administration shared by :class:`LocalPostgres` and :class:`ExternalPostgres`: statements
    run as the superuser of :meth:`dsn_for`, in autocommit mode."""

    def dsn_for(self, dbname: str, user: str | None = None, password: str | None = None) -> str:
        raise NotImplementedError

    def execute(self, sql: str, dbname: str = "postgres") -> None:
        _admin_execute(self.dsn_for(dbname), sql)

    def create_database(self, name: str | None = None) -> str:
        name = name or f"t_{uuid.uuid4().hex[:16]}"
        self.execute(f'CREATE DATABASE "{name}"')
        return name

    def drop_database(self, name: str) -> None:
        self.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


class LocalPostgres(_Server):
    """A private PostgreSQL server in a temporary directory (see the module docstring)."""

    def __init__(self, base_dir: Path | None = None, port: int | None = None) -> None:
        self.bindir = find_bindir()
        self._owns_dir = base_dir is None
        self.base_dir = Path(base_dir or tempfile.mkdtemp(prefix="streamproc-pg-"))
        self.data_dir = self.base_dir / "data"
        self.log_file = self.base_dir / "postgres.log"
        self.port = port or free_port()
        self.user = "postgres"
        self.password = secrets.token_hex(16)
        self._as_root = os.geteuid() == 0
        self._initialised = False
        self._atexit = False

    @property
    def dsn(self) -> str:
        return self.dsn_for("postgres")

    def dsn_for(self, dbname: str, user: str | None = None, password: str | None = None) -> str:
        u = quote(user or self.user, safe="")
        p = quote(self.password if password is None else password, safe="")
        return f"postgresql://{u}:{p}@127.0.0.1:{self.port}/{quote(dbname, safe='')}"

    def _run(self, *args: str, timeout: float = 120) -> subprocess.CompletedProcess[str]:
        cmd = [str(self.bindir / args[0]), *args[1:]]
        if self._as_root:
            cmd = ["runuser", "-u", _OS_USER, "--", *cmd]
        res = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout, cwd="/")
        if res.returncode != 0:
            tail = self.log_file.read_text(errors="replace")[-2000:] if self.log_file.exists() else ""
            raise RuntimeError(f"{args[0]} failed with exit code {res.returncode}:\n{res.stdout}\n{res.stderr}\n{tail}")
        return res

    def _init(self) -> None:
        if self._as_root:
            _ensure_os_user()
        self.base_dir.mkdir(parents=True, exist_ok=True)
        pwfile = self.base_dir / "pwfile"
        pwfile.write_text(self.password + "\n")
        if self._as_root:
            shutil.chown(self.base_dir, _OS_USER, _OS_USER)
            shutil.chown(pwfile, _OS_USER, _OS_USER)
            os.chmod(self.base_dir, 0o700)
        self._run(
            "initdb",
            "-D",
            str(self.data_dir),
            "-U",
            self.user,
            f"--pwfile={pwfile}",
            "--auth-host=scram-sha-256",
            "--auth-local=trust",
            "--encoding=UTF8",
            "--locale=C",
            "--no-sync",
        )
        pwfile.unlink()
        self._initialised = True

    def start(self) -> LocalPostgres:
        if not self._initialised:
            self._init()
        if not self._atexit:
            atexit.register(self.cleanup)
            self._atexit = True
        opts = " ".join(
            [
                f"-p {self.port}",
                "-c listen_addresses=127.0.0.1",
                f"-c unix_socket_directories={self.base_dir}",
                "-c fsync=off",
                "-c synchronous_commit=off",
                "-c full_page_writes=off",
                "-c shared_buffers=32MB",
                "-c max_connections=40",
            ]
        )
        self._run("pg_ctl", "start", "-w", "-t", "60", "-D", str(self.data_dir), "-l", str(self.log_file), "-o", opts)
        self._wait_ready()
        return self

    def _wait_ready(self, timeout: float = 30.0) -> None:
        import psycopg

        deadline = time.monotonic() + timeout
        while True:
            try:
                with psycopg.connect(self.dsn, connect_timeout=3):
                    return
            except psycopg.OperationalError:
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.2)

    def running(self) -> bool:
        return (self.data_dir / "postmaster.pid").exists()

    def stop(self) -> None:
        """Fast shutdown (open sessions are terminated); the data stays for :meth:`start`."""
        if self._initialised and self.running():
            self._run("pg_ctl", "stop", "-w", "-t", "60", "-m", "fast", "-D", str(self.data_dir))

    def cleanup(self) -> None:
        try:
            self.stop()
        finally:
            if self._owns_dir:
                shutil.rmtree(self.base_dir, ignore_errors=True)

    def __enter__(self) -> LocalPostgres:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.cleanup()


class ExternalPostgres(_Server):
    """A server given by ``STREAMPROC_TEST_POSTGRES_DSN`` (a superuser DSN); never stopped."""

    def __init__(self, dsn: str) -> None:
        self.dsn = dsn
        parts = urlsplit(dsn)
        self.port = parts.port or 5432
        self._parts = parts

    def dsn_for(self, dbname: str, user: str | None = None, password: str | None = None) -> str:
        p = self._parts
        u = quote(user, safe="") if user is not None else (p.username or "")
        pw = quote(password, safe="") if password is not None else (p.password or "")
        auth = f"{u}:{pw}@" if pw else (f"{u}@" if u else "")
        host = p.hostname or "127.0.0.1"
        netloc = f"{auth}{host}:{self.port}"
        return urlunsplit((p.scheme, netloc, "/" + quote(dbname, safe=""), p.query, ""))


def _admin_execute(dsn: str, sql: str) -> None:
    import psycopg

    with psycopg.connect(dsn, autocommit=True, connect_timeout=10) as conn:
        conn.execute(sql)


# ------------------------------------------------------------------------------------ fixtures
@pytest.fixture(scope="session")
def postgres_server() -> Iterator[LocalPostgres | ExternalPostgres]:
    """The session's PostgreSQL: ``STREAMPROC_TEST_POSTGRES_DSN`` if set, else a local one."""
    configured = os.environ.get(ENV_DSN)
    if configured:
        server = ExternalPostgres(configured)
        _admin_execute(server.dsn, "SELECT 1")
        yield server
        return
    try:
        local = LocalPostgres()
    except PostgresNotInstalled as exc:
        pytest.fail(str(exc), pytrace=False)
    with local:
        yield local


@pytest.fixture
def postgres_database(postgres_server: LocalPostgres | ExternalPostgres) -> Iterator[Callable[[], str]]:
    """A factory: each call creates a fresh database and returns its superuser DSN."""
    created: list[str] = []

    def make() -> str:
        name = postgres_server.create_database()
        created.append(name)
        return postgres_server.dsn_for(name)

    yield make
    for name in created:
        postgres_server.drop_database(name)


@pytest.fixture
def local_postgres_factory() -> Iterator[Callable[[], LocalPostgres]]:
    """A factory of private servers that a test may stop and start (always local)."""
    servers: list[LocalPostgres] = []

    def make() -> LocalPostgres:
        try:
            server = LocalPostgres()
        except PostgresNotInstalled as exc:
            pytest.fail(str(exc), pytrace=False)
        servers.append(server)
        return server.start()

    yield make
    for server in servers:
        server.cleanup()
