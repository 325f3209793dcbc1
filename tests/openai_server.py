"""A small OpenAI-compatible chat completions server on 127.0.0.1, for tests.

It stands in for the provider at the HTTP seam, so the real `langchain-openai`
and `openai` clients (retries, timeouts, usage parsing) run unchanged. It
answers from a function of the request, can refuse the first requests (429
with Retry-After, or any status), and records every request it received and
how many were in flight at once.
"""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any


@dataclass(frozen=True)
class Received:
    """One request as the server saw it."""

    path: str
    headers: dict[str, str]
    body: dict[str, Any]

    @property
    def prompt(self) -> str:
        return "\n".join(str(m.get("content", "")) for m in self.body.get("messages", []))


@dataclass(frozen=True)
class Refusal:
    """An error answer: status, headers, JSON body."""

    status: int
    headers: dict[str, str]
    body: dict[str, Any]


def rate_limited(retry_after: str = "1") -> Refusal:
    return Refusal(429, {"Retry-After": retry_after}, {"error": {"message": "Rate limit reached", "type": "requests"}})


class OpenAIServer:
    """Answers POST /v1/chat/completions with `answer(request body)` as the assistant's text."""

    def __init__(
        self,
        answer: Callable[[dict[str, Any]], str],
        *,
        refusals: list[Refusal] | None = None,
        delay: float = 0.0,
    ) -> None:
        self.answer = answer
        self.refusals = list(refusals or [])
        """Answers given, in order, to the first requests instead of a completion."""
        self.delay = delay
        """Seconds each completion takes, so that concurrent requests overlap."""
        self.received: list[Received] = []
        """Every request, in the order they arrived."""
        self.answered: list[Received] = []
        """The requests answered with a completion."""
        self.in_flight = 0
        self.peak_in_flight = 0
        self._lock = threading.Lock()
        self._httpd = ThreadingHTTPServer(("127.0.0.1", 0), self._handler())
        self._httpd.daemon_threads = True

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self._httpd.server_address[1]}/v1"

    @contextmanager
    def running(self) -> Iterator[OpenAIServer]:
        thread = threading.Thread(target=self._httpd.serve_forever, name="openai-server", daemon=True)
        thread.start()
        try:
            yield self
        finally:
            self._httpd.shutdown()
            self._httpd.server_close()
            thread.join()

    def _handle(self, path: str, headers: dict[str, str], raw: bytes) -> tuple[int, dict[str, str], dict[str, Any]]:
        received = Received(path, headers, json.loads(raw or b"{}"))
        body = received.body
        with self._lock:
            self.received.append(received)
            refusal = self.refusals.pop(0) if self.refusals else None
            self.in_flight += 1
            self.peak_in_flight = max(self.peak_in_flight, self.in_flight)
        try:
            if refusal is not None:
                return refusal.status, refusal.headers, refusal.body
            if path != "/v1/chat/completions":
                return 404, {}, {"error": {"message": f"no route {path}"}}
            time.sleep(self.delay)
            text = self.answer(body)
            with self._lock:
                self.answered.append(received)
            prompt_tokens = sum(len(str(m.get("content", ""))) for m in body.get("messages", [])) // 4
            completion_tokens = len(text) // 4
            return (
                200,
                {},
                {
                    "id": f"chatcmpl-{len(self.received)}",
                    "object": "chat.completion",
                    "created": 0,
                    "model": body.get("model", ""),
                    "choices": [
                        {
                            "index": 0,
                            "message": {"role": "assistant", "content": text},
                            "finish_reason": "stop",
                        }
                    ],
                    "usage": {
                        "prompt_tokens": prompt_tokens,
                        "completion_tokens": completion_tokens,
                        "total_tokens": prompt_tokens + completion_tokens,
                    },
                },
            )
        finally:
            with self._lock:
                self.in_flight -= 1

    def _handler(self) -> type[BaseHTTPRequestHandler]:
        server = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                raw = self.rfile.read(int(self.headers.get("Content-Length") or 0))
                status, headers, body = server._handle(self.path, {k.lower(): v for k, v in self.headers.items()}, raw)
                data = json.dumps(body).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                for name, value in headers.items():
                    self.send_header(name, value)
                self.end_headers()
                self.wfile.write(data)

            def log_message(self, format: str, *args: Any) -> None:
                pass

        return Handler
