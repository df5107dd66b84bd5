"""A local stand-in for OpenAI's embeddings endpoint (POST /v1/embeddings) on 127.0.0.1, a random port.

Deterministic vectors from the text (so equal texts get equal vectors), `dimensions` honoured, request
bodies and auth headers recorded, and faults on demand: `inject("429", "500")` makes the next requests fail
that way (with retry-after-ms: 5 so the client's backoff stays short); `fail_after(n)` answers 500 to every
request after n more successful ones. For benchmarks, `embed` replaces the fake vectors with a real model's
(called under a lock: one batch at a time, like a single server worker) and `latency_s` adds a network round
trip to every request.
"""

from __future__ import annotations

import hashlib
import json
import threading
import time
from collections import deque
from collections.abc import Callable
from http.server import ThreadingHTTPServer
from typing import Any

import numpy as np
from json_http import JSONHandler


def fake_vector(text: str, dim: int) -> list[float]:
    seed = int(hashlib.sha256(text.encode()).hexdigest()[:8], 16)
    v = np.random.default_rng(seed).normal(size=dim)
    return (v / np.linalg.norm(v)).tolist()


class EmbeddingsServer:
    def __init__(
        self,
        default_dim: int = 16,
        embed: Callable[[list[str]], list[list[float]]] | None = None,
        latency_s: float = 0.0,
    ) -> None:
        self.default_dim = default_dim
        self.embed = embed
        self.latency_s = latency_s
        self.requests: list[dict[str, Any]] = []
        self.auth: list[str | None] = []
        self.faults: deque[str] = deque()
        self.ok_left: int | None = None
        self.lock = threading.Lock()
        server = self

        class Handler(JSONHandler):
            def do_POST(self) -> None:
                time.sleep(server.latency_s)
                body = json.loads(self.rfile.read(int(self.headers.get("Content-Length", 0))) or b"{}")
                if self.path.rstrip("/") != "/v1/embeddings":
                    self._send(404, {"error": {"message": f"no route {self.path}"}})
                    return
                with server.lock:
                    server.requests.append(body)
                    server.auth.append(self.headers.get("Authorization"))
                    fault = server.faults.popleft() if server.faults else None
                    if fault is None and server.ok_left is not None:
                        if server.ok_left <= 0:
                            fault = "500"
                        else:
                            server.ok_left -= 1
                if fault == "429":
                    self._send(
                        429,
                        {"error": {"message": "Rate limit reached", "type": "rate_limit"}},
                        {"retry-after-ms": "5"},
                    )
                    return
                if fault == "500":
                    self._send(
                        500, {"error": {"message": "server error", "type": "server"}}, {"retry-after-ms": "5"}
                    )
                    return
                inputs = body["input"] if isinstance(body["input"], list) else [body["input"]]
                dim = body.get("dimensions") or server.default_dim
                if server.embed is None:
                    vectors = [fake_vector(t, dim) for t in inputs]
                else:
                    with server.lock:
                        vectors = server.embed(inputs)
                data = [
                    {"object": "embedding", "index": i, "embedding": vectors[i]}
                    for i in reversed(range(len(inputs)))
                ]  # out of order: clients must sort
                self._send(
                    200,
                    {
                        "object": "list",
                        "data": data,
                        "model": body.get("model"),
                        "usage": {"prompt_tokens": 1, "total_tokens": 1},
                    },
                )

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}/v1"
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)

    def inject(self, *faults: str) -> None:
        self.faults.extend(faults)

    def fail_after(self, n: int | None) -> None:
        self.ok_left = n

    @property
    def texts_received(self) -> int:
        return sum(len(r["input"]) for r in self.requests)

    def __enter__(self) -> EmbeddingsServer:
        self.thread.start()
        return self

    def __exit__(self, *exc: Any) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()
