"""A real webhook receiver for the tests: an HTTP server on a free loopback port, in a thread,
that checks every request the way an integrator would (verify_signature over the raw body,
Idempotency-Key) and answers with whatever status the test scripts."""

from __future__ import annotations

import json
import socket
import threading
import time
from collections import deque
from dataclasses import dataclass
from datetime import UTC, datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from services.core.notify.webhooks import (
    IDEMPOTENCY_HEADER,
    SIGNATURE_HEADER,
    InvalidSignature,
    verify_signature,
)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


class _Server(ThreadingHTTPServer):
    allow_reuse_address = True
    # socketserver listens with a backlog of 5: two workers opening 40 connections at once
    # overflow it, and a dropped SYN is retried only after 1 s, past the senders' timeout, so
    # deliveries failed with ConnectTimeout before the receiver saw them (138 of 200 in a
    # burst of 40 on loopback; 0 with this backlog).
    request_queue_size = 1024


def serve(port: int, handler: type[BaseHTTPRequestHandler]) -> ThreadingHTTPServer:
    """A real HTTP server on loopback, answering from a background thread."""
    server = _Server(("127.0.0.1", port), handler)
    server.daemon_threads = True
    threading.Thread(
        target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True
    ).start()
    return server


def shut(server: ThreadingHTTPServer) -> None:
    server.shutdown()
    server.server_close()


@dataclass
class Hit:
    key: str | None
    signature_ok: bool
    status: int
    body: dict[str, Any]
    raw: bytes
    headers: dict[str, str]


class Receiver:
    """Not listening until `start()`: until then a delivery meets "connection refused"."""

    def __init__(self, secret: str) -> None:
        self.secret = secret
        self.port = free_port()
        self.hits: list[Hit] = []
        # Statuses to answer, in order; when empty, `default_status`.
        self.script: deque[int] = deque()
        self.default_status = 200
        self.delay = 0.0
        self._lock = threading.Lock()
        self._server: ThreadingHTTPServer | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/hooks/duban"

    def start(self) -> Receiver:
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                expected = int(self.headers.get("Content-Length", "0"))
                raw = self.rfile.read(expected)
                if len(raw) < expected:
                    # The sender died mid-request (a worker SIGKILLed while sending): nothing
                    # was delivered, and the cut body cannot carry a valid signature.
                    return
                try:
                    verify_signature(
                        receiver.secret,
                        self.headers.get(SIGNATURE_HEADER),
                        raw,
                        datetime.now(UTC),
                    )
                    ok = True
                except InvalidSignature:
                    ok = False
                if receiver.delay:
                    time.sleep(receiver.delay)
                with receiver._lock:
                    if not ok:
                        status = 401
                    elif receiver.script:
                        status = receiver.script.popleft()
                    else:
                        status = receiver.default_status
                    receiver.hits.append(
                        Hit(
                            key=self.headers.get(IDEMPOTENCY_HEADER),
                            signature_ok=ok,
                            status=status,
                            body=json.loads(raw) if raw else {},
                            raw=raw,
                            headers=dict(self.headers.items()),
                        )
                    )
                self.send_response(status)
                self.send_header("Content-Length", "2")
                self.end_headers()
                self.wfile.write(b"ok")

            def log_message(self, format: str, *args: Any) -> None:
                pass

        self._server = serve(self.port, Handler)
        return self

    def stop(self) -> None:
        if self._server is not None:
            shut(self._server)
            self._server = None

    def successes(self, key: str) -> list[Hit]:
        with self._lock:
            return [h for h in self.hits if h.key == key and 200 <= h.status < 300]

    def for_key(self, key: str) -> list[Hit]:
        with self._lock:
            return [h for h in self.hits if h.key == key]
