"""A fault-injecting HTTP proxy for one S3 bucket: :class:`BucketOutageProxy` forwards every
request to a moto server unchanged, except — while :meth:`~BucketOutageProxy.fail` is on — the
requests for one bucket (path-style addressing, as the sinks use against a custom endpoint),
which it answers with HTTP 503 ``ServiceUnavailable`` as S3 does when a partition is overloaded.
So one sink's bucket can be "down" while another bucket and SQS on the same endpoint answer.
"""

from __future__ import annotations

import http.client
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import urlsplit

__all__ = ["BucketOutageProxy"]

_HOP = {"connection", "keep-alive", "transfer-encoding", "te", "trailer", "upgrade", "proxy-connection", "expect"}
_UNAVAILABLE = (
    b'<?xml version="1.0" encoding="UTF-8"?>\n<Error><Code>ServiceUnavailable</Code>'
    b"<Message>Please reduce your request rate.</Message></Error>"
)


class BucketOutageProxy:
    """``url`` forwards to ``target`` (``http://host:port``); ``fail(bucket)`` makes requests for
    ``bucket`` answer 503 until ``heal()``; ``refused`` counts the requests answered 503."""

    def __init__(self, target: str) -> None:
        parts = urlsplit(target)
        self.target = (parts.hostname or "127.0.0.1", parts.port or 80)
        self.failing: str | None = None
        self.refused = 0
        self.lock = threading.Lock()
        proxy = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args: Any) -> None:
                pass

            def _body(self) -> bytes:
                if self.headers.get("Transfer-Encoding", "").lower() == "chunked":
                    out = b""
                    while True:
                        size = int(self.rfile.readline().split(b";")[0].strip(), 16)
                        if size == 0:
                            while self.rfile.readline() not in (b"\r\n", b"\n", b""):
                                pass
                            return out
                        out += self.rfile.read(size)
                        self.rfile.readline()
                return self.rfile.read(int(self.headers.get("Content-Length") or 0))

            def _handle(self) -> None:
                body = self._body()
                bucket = self.path.lstrip("/").split("/", 1)[0].split("?", 1)[0]
                with proxy.lock:
                    down = proxy.failing is not None and bucket == proxy.failing
                    if down:
                        proxy.refused += 1
                if down:
                    self._reply(503, [("Content-Type", "application/xml")], _UNAVAILABLE)
                    return
                headers = {k: v for k, v in self.headers.items() if k.lower() not in _HOP}
                headers["Content-Length"] = str(len(body))
                conn = http.client.HTTPConnection(*proxy.target, timeout=30)
                try:
                    conn.request(self.command, self.path, body=body, headers=headers)
                    resp = conn.getresponse()
                    data = resp.read()
                    out = [(k, v) for k, v in resp.getheaders() if k.lower() not in _HOP]
                    self._reply(resp.status, out, data, keep_length=self.command == "HEAD")
                finally:
                    conn.close()

            def _reply(
                self, status: int, headers: list[tuple[str, str]], data: bytes, keep_length: bool = False
            ) -> None:
                self.send_response(status)
                for k, v in headers:
                    if k.lower() != "content-length" or keep_length:
                        self.send_header(k, v)
                if not keep_length:
                    self.send_header("Content-Length", str(len(data)))
                elif not any(k.lower() == "content-length" for k, _ in headers):
                    self.send_header("Content-Length", "0")
                self.end_headers()
                if self.command != "HEAD":
                    self.wfile.write(data)

            do_GET = do_PUT = do_POST = do_DELETE = do_HEAD = _handle

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._server.daemon_threads = True
        self._thread = threading.Thread(target=self._server.serve_forever, name="bucket-outage-proxy", daemon=True)
        self._thread.start()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self._server.server_address[1]}"

    def fail(self, bucket: str) -> None:
        with self.lock:
            self.failing = bucket

    def heal(self) -> None:
        with self.lock:
            self.failing = None

    def close(self) -> None:
        self._server.shutdown()
        self._server.server_close()
        self._thread.join(5)
