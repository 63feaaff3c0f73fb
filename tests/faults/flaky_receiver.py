"""A webhook receiver that misbehaves the same way for every notification: its first request
hangs past the sender's timeout, its second gets 500, from the third on it is accepted. It
records what happened to each request, per Idempotency-Key."""

from __future__ import annotations

import threading
import time
from collections import defaultdict
from datetime import UTC, datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from services.core.notify.webhooks import (
    IDEMPOTENCY_HEADER,
    SIGNATURE_HEADER,
    InvalidSignature,
    verify_signature,
)
from tests.webhook_receiver import free_port, serve, shut

HUNG = "hung"


class FlakyReceiver:
    def __init__(self, secret: str, hang_seconds: float) -> None:
        self.secret = secret
        self.hang_seconds = hang_seconds
        self.port = free_port()
        # key -> what each request got, in order: "hung", 500, 200 (401: bad signature)
        self.seen: dict[str, list[str | int]] = defaultdict(list)
        self._lock = threading.Lock()
        self._server: ThreadingHTTPServer | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/hooks/flaky"

    def start(self) -> FlakyReceiver:
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                raw = self.rfile.read(int(self.headers.get("Content-Length", "0")))
                key = self.headers.get(IDEMPOTENCY_HEADER) or "?"
                try:
                    verify_signature(
                        receiver.secret, self.headers.get(SIGNATURE_HEADER), raw, datetime.now(UTC)
                    )
                    tries = len(receiver.seen[key])
                    answer: str | int = HUNG if tries == 0 else 500 if tries == 1 else 200
                except InvalidSignature:
                    answer = 401
                with receiver._lock:
                    receiver.seen[key].append(answer)
                if answer == HUNG:
                    # the sender has given up long before this answer
                    time.sleep(receiver.hang_seconds)
                    answer = 503
                self.send_response(int(answer))
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, format: str, *args: Any) -> None:
                pass

        self._server = serve(self.port, Handler)
        return self

    def stop(self) -> None:
        if self._server is not None:
            shut(self._server)
            self._server = None
