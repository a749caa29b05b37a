"""The HTTP side of the fake OpenSearch: a threaded server on ``host:port`` answering through
:func:`.routes.route`, with start/stop (an outage: the port and the state survive a stop), HTTP
basic auth, a "forbidden" switch and injected faults."""

from __future__ import annotations

import base64
import contextlib
import copy
import json
import socket
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, unquote, urlsplit

from streamproc.dev.opensearch_fake.cluster import Cluster
from streamproc.dev.opensearch_fake.errors import FakeError
from streamproc.dev.opensearch_fake.routes import route

__all__ = ["OpenSearchFake"]


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server: _Server

    def log_message(self, format: str, *args: Any) -> None:
        pass

    def do_GET(self) -> None:
        self._dispatch("GET")

    def do_HEAD(self) -> None:
        self._dispatch("HEAD")

    def do_PUT(self) -> None:
        self._dispatch("PUT")

    def do_POST(self) -> None:
        self._dispatch("POST")

    def do_DELETE(self) -> None:
        self._dispatch("DELETE")

    def _send(
        self,
        status: int,
        body: Any,
        method: str,
        content_type: str = "application/json; charset=UTF-8",
        headers: dict[str, str] | None = None,
    ) -> None:
        raw = body if isinstance(body, bytes) else json.dumps(body).encode()
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(raw)))
        for k, v in (headers or {}).items():
            self.send_header(k, v)
        self.end_headers()
        if method != "HEAD":
            self.wfile.write(raw)

    def _dispatch(self, method: str) -> None:
        fake = self.server.fake
        length = int(self.headers.get("Content-Length") or 0)
        raw = self.rfile.read(length) if length else b""
        parts = urlsplit(self.path)
        path = unquote(parts.path)
        query = {k: v[-1] for k, v in parse_qs(parts.query).items()}
        cluster = fake.cluster
        with cluster.lock:
            cluster.requests.append((method, path))
            if fake.auth is not None and not self._authorised(fake.auth):
                self._send(
                    401,
                    b"Unauthorized",
                    method,
                    "text/plain; charset=UTF-8",
                    {"WWW-Authenticate": 'Basic realm="OpenSearch Security"'},
                )
                return
            if fake.forbidden:
                user = fake.auth[0] if fake.auth else "anonymous"
                err = FakeError(
                    403,
                    "security_exception",
                    f"no permissions for [indices:data/write/bulk] and User [name={user}, backend_roles=[], "
                    "requestedTenant=null]",
                )
                self._send(403, err.body(), method)
                return
            for fault in cluster.faults:
                if fault[0] > 0 and fault[3] in path:
                    fault[0] -= 1
                    err = FakeError(fault[1], fault[2], "injected by the fake")
                    self._send(fault[1], err.body(), method)
                    return
            try:
                status, body = route(cluster, method, path, query, raw)
            except FakeError as exc:
                status, body = exc.status, exc.body()
            except (ValueError, KeyError, TypeError) as exc:
                status, body = 400, FakeError(400, "parse_exception", f"request could not be parsed: {exc}").body()
        self._send(status, body, method)

    def _authorised(self, auth: tuple[str, str]) -> bool:
        header = self.headers.get("Authorization") or ""
        if not header.startswith("Basic "):
            return False
        try:
            user, _, password = base64.b64decode(header[6:]).decode().partition(":")
        except ValueError:
            return False
        return (user, password) == auth


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    block_on_close = False
    allow_reuse_address = True

    def __init__(self, address: tuple[str, int], fake: OpenSearchFake) -> None:
        self.fake = fake
        self.open_sockets: set[socket.socket] = set()
        self.sockets_lock = threading.Lock()
        super().__init__(address, _Handler)

    def process_request(self, request: Any, client_address: Any) -> None:
        with self.sockets_lock:
            self.open_sockets.add(request)
        super().process_request(request, client_address)

    def shutdown_request(self, request: Any) -> None:
        with self.sockets_lock:
            self.open_sockets.discard(request)
        super().shutdown_request(request)

    def drop_connections(self) -> None:
        with self.sockets_lock:
            sockets, self.open_sockets = list(self.open_sockets), set()
        for s in sockets:
            with contextlib.suppress(OSError):
                s.shutdown(socket.SHUT_RDWR)
            s.close()


class OpenSearchFake:
    """A fake OpenSearch on ``host:port`` (``port=0``: a free port, kept across stop/start)."""

    def __init__(self, port: int = 0, host: str = "127.0.0.1", auth: tuple[str, str] | None = None) -> None:
        self.host = host
        self.port = port
        self.auth = auth
        self.forbidden = False
        self.cluster = Cluster()
        self._server: _Server | None = None
        self._thread: threading.Thread | None = None

    # ---------------------------------------------------------------- lifecycle
    @property
    def url(self) -> str:
        return f"http://{self.host}:{self.port}"

    def start(self) -> OpenSearchFake:
        if self._server is not None:
            return self
        deadline = time.monotonic() + 10
        while True:
            try:
                server = _Server((self.host, self.port), self)
                break
            except OSError:
                if self.port == 0 or time.monotonic() > deadline:
                    raise
                time.sleep(0.1)
        self.port = server.server_address[1]
        self._server = server
        self._thread = threading.Thread(
            target=server.serve_forever,
            kwargs={"poll_interval": 0.05},
            name=f"opensearch-fake-{self.port}",
            daemon=True,
        )
        self._thread.start()
        return self

    def stop(self) -> None:
        """Stop answering (connections are dropped, like a crashed node); state is kept."""
        server, self._server = self._server, None
        if server is None:
            return
        server.shutdown()
        server.server_close()
        server.drop_connections()
        if self._thread is not None:
            self._thread.join(5)
            self._thread = None

    def __enter__(self) -> OpenSearchFake:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    # ---------------------------------------------------------------- faults
    def fail_next(self, n: int, status: int = 429, path: str = "/_bulk", error_type: str | None = None) -> None:
        """Answer the next ``n`` requests whose path contains ``path`` with ``status``."""
        etype = error_type or {429: "es_rejected_execution_exception"}.get(status, "cluster_block_exception")
        with self.cluster.lock:
            self.cluster.faults.append([n, status, etype, path])

    def reject_items(self, n: int, status: int = 429, error_type: str = "es_rejected_execution_exception") -> None:
        """Reject the next ``n`` bulk items (item-level errors in an HTTP 200 bulk response)."""
        with self.cluster.lock:
            self.cluster.item_faults.append([n, status, error_type])

    # ---------------------------------------------------------------- inspection
    def documents(self, index: str) -> dict[str, dict[str, Any]]:
        """``{id: _source}`` of the live documents of an index or alias ({} when missing)."""
        with self.cluster.lock:
            try:
                indices = self.cluster.resolve(index)
            except FakeError:
                return {}
            return {k: copy.deepcopy(d.source or {}) for i in indices for k, d in i.live().items()}

    def indices(self) -> list[str]:
        with self.cluster.lock:
            return sorted(self.cluster.indices)

    def requests(self) -> list[tuple[str, str]]:
        """(method, path) of every request received so far."""
        with self.cluster.lock:
            return list(self.cluster.requests)
