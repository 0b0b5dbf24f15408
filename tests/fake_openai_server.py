"""A tiny OpenAI chat-completions server for tests: scripted replies over real HTTP.

It speaks enough of the protocol for ``langchain_openai.ChatOpenAI`` / the ``openai`` client:
``POST /v1/chat/completions``, plain JSON or streamed as server-sent events (``"stream":
true``, with the usage chunk when ``stream_options.include_usage`` asks for it), and
``GET /v1/models``. A model named in ``missing_models`` gets a 404, as from a real server.

It leaves out: authentication (any key works), tools, logprobs, n > 1, the Responses API.

>>> with FakeOpenAIServer(["Hello [1]."]) as server:   # doctest: +SKIP
...     ChatOpenAI(base_url=server.url, api_key="test").invoke("hi").content
'Hello [1].'
"""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Callable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

Reply = str | Callable[[dict], str]


class FakeOpenAIServer:
    """Serves ``replies`` in turn (the last one repeats); a reply may be a function of the
    request body. ``requests`` records every chat request body. Use as a context manager.
    It listens on 127.0.0.1, on ``port`` (0: a free one)."""

    def __init__(
        self,
        replies: list[Reply] | Reply = "",
        chunk_chars: int = 7,
        missing_models: tuple[str, ...] = (),
        port: int = 0,
    ) -> None:
        self.replies: list[Reply] = replies if isinstance(replies, list) else [replies]
        self.chunk_chars = chunk_chars
        self.missing_models = set(missing_models)
        self.requests: list[dict] = []
        self._lock = threading.Lock()
        self._httpd = ThreadingHTTPServer(("127.0.0.1", port), _handler(self))  # 0: any free
        self._httpd.daemon_threads = True
        self._thread: threading.Thread | None = None

    @property
    def port(self) -> int:
        return int(self._httpd.server_address[1])

    @property
    def url(self) -> str:
        """The base URL to give the client (``.../v1``)."""
        return f"http://127.0.0.1:{self.port}/v1"

    def start(self) -> FakeOpenAIServer:
        self._thread = threading.Thread(target=self._httpd.serve_forever, daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        self._httpd.shutdown()
        self._httpd.server_close()
        if self._thread is not None:
            self._thread.join(timeout=5)

    def __enter__(self) -> FakeOpenAIServer:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def next_reply(self, body: dict) -> str:
        with self._lock:
            self.requests.append(body)
            reply = self.replies[0] if len(self.replies) == 1 else self.replies.pop(0)
        return reply(body) if callable(reply) else reply


def _handler(server: FakeOpenAIServer) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def log_message(self, format: str, *args: Any) -> None:  # quiet
            pass

        def _json(self, status: int, payload: dict) -> None:
            data = json.dumps(payload).encode()
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        def do_GET(self) -> None:
            if self.path.rstrip("/").endswith("/models"):
                self._json(200, {"object": "list", "data": [
                    {"id": "test-model", "object": "model", "created": 0, "owned_by": "test"}
                ]})
            else:
                self._json(404, {"error": {"message": "not found", "type": "not_found"}})

        def do_POST(self) -> None:
            length = int(self.headers.get("Content-Length") or 0)
            try:
                body = json.loads(self.rfile.read(length) or b"{}")
            except json.JSONDecodeError:
                self._json(400, {"error": {"message": "bad json", "type": "invalid_request"}})
                return
            if not self.path.rstrip("/").endswith("/chat/completions"):
                self._json(404, {"error": {"message": "not found", "type": "not_found"}})
                return
            model = body.get("model", "test-model")
            if model in server.missing_models:
                self._json(404, {"error": {
                    "message": f"The model `{model}` does not exist.",
                    "type": "invalid_request_error", "code": "model_not_found",
                }})
                return
            content = server.next_reply(body)
            if body.get("stream"):
                self._stream(model, content, bool((body.get("stream_options") or {})
                                                  .get("include_usage")))
            else:
                self._json(200, {
                    "id": "chatcmpl-test", "object": "chat.completion", "created": 0,
                    "model": model,
                    "choices": [{"index": 0, "finish_reason": "stop", "logprobs": None,
                                 "message": {"role": "assistant", "content": content}}],
                    "usage": {"prompt_tokens": 10, "completion_tokens": 10,
                              "total_tokens": 20},
                })

        def _stream(self, model: str, content: str, usage: bool) -> None:
            self.send_response(200)
            self.send_header("Content-Type", "text/event-stream")
            self.send_header("Cache-Control", "no-cache")
            self.send_header("Connection", "close")
            self.end_headers()
            self.close_connection = True

            def event(delta: dict, finish: str | None = None, choices: bool = True,
                      **extra: Any) -> None:
                chunk = {"id": "chatcmpl-test", "object": "chat.completion.chunk",
                         "created": 0, "model": model, **extra,
                         "choices": [{"index": 0, "delta": delta, "logprobs": None,
                                      "finish_reason": finish}] if choices else []}
                self.wfile.write(f"data: {json.dumps(chunk)}\n\n".encode())
                self.wfile.flush()

            event({"role": "assistant", "content": ""})
            step = max(1, server.chunk_chars)
            for i in range(0, len(content), step):
                event({"content": content[i : i + step]})
                time.sleep(0.001)
            event({}, "stop")
            if usage:
                event({}, choices=False, usage={"prompt_tokens": 10, "completion_tokens": 10,
                                                "total_tokens": 20})
            self.wfile.write(b"data: [DONE]\n\n")
            self.wfile.flush()

    return Handler
