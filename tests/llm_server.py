"""A local fake LLM server for tests and benchmarks: Ollama (/api/chat, /api/generate, /api/tags, /api/show)
and OpenAI (/v1/chat/completions, /v1/completions, /v1/models) on 127.0.0.1, a random port.

It answers the way real models do (numbered lists, preambles, bullets, quotes, added answers, Chinese and
French text, questions derived from the prompt's context), counts requests per prompt (one prompt = one
chunk), records request bodies and auth headers, and injects faults on demand: latency, 429 with
Retry-After, 500/503, malformed JSON, hangs, dropped connections, 400/401/404.

    with FakeLLMServer(latency=0.2) as server:
        server.inject("429", "500")          # the next two generation requests fail this way, in order
        ... Ollama(base_url=server.url) / OpenAI(api_base=server.url + "/v1") ...
        server.counts                         # Counter: prompt hash -> requests
"""

from __future__ import annotations

import hashlib
import json
import re
import threading
import time
from collections import Counter, deque
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from json_http import JSONHandler

from embedlab.text import language

OLLAMA_MODELS = ["qwen2:7b-instruct-q4_0", "llama3:latest"]
_CJK = re.compile(r"[\u4e00-\u9fff]{2,4}")
_LATIN = re.compile(r"[^\W\d_]{7,}")
_FR_HINTS = re.compile(r"\b(le|la|les|des|du|est|une|dans|pour|contexte)\b", re.I)
GENERATION_PATHS = {"/api/chat", "/api/generate", "/v1/chat/completions", "/v1/completions"}


def prompt_key(prompt: str) -> str:
    """What the server counts by: one prompt (one chunk with one template) = one key."""
    return hashlib.sha1(prompt.encode()).hexdigest()[:16]


def _lang(prompt: str) -> str:
    cjk = sum(1 for ch in prompt if "\u4e00" <= ch <= "\u9fff")
    if cjk > len(prompt) * 0.2:
        return "zh"
    for code in NAMED_LANGUAGES:
        if f"Write the questions in {language(code).name}" in prompt:  # the generic prompt, naming it
            return code
    return "fr" if len(_FR_HINTS.findall(prompt)) > 8 else "en"


def _topics(prompt: str, lang: str, k: int = 3) -> list[str]:
    parts = prompt.split("---------------------")
    context = parts[1] if len(parts) >= 3 else prompt  # the chunk, when the template marks it
    words = _CJK.findall(context) if lang == "zh" else _LATIN.findall(context)
    seen: list[str] = []
    for w in words:
        if w.lower() not in (s.lower() for s in seen):
            seen.append(w)
    if not seen:
        return ["this text"] * k
    h = int(prompt_key(prompt), 16)
    return [seen[(h // (i + 1) + i * 7) % len(seen)] for i in range(k)]


# Languages the generic prompt asks for by name ("Write the questions in Polish"): a preamble and two
# question templates each, about the context's words.
NAMED_LANGUAGES = {
    "pl": (
        "Oto dwa pytania oparte na kontekście:",
        "Jakie obowiązki przewiduje rozporządzenie w odniesieniu do {}?",
        "W jakich przypadkach przepisy mają zastosowanie do {}?",
    ),
    "de": (
        "Hier sind zwei Fragen zum Kontext:",
        "Welche Pflichten sieht die Verordnung in Bezug auf {} vor?",
        "In welchen Fällen gelten die Vorschriften für {}?",
    ),
    "ja": (
        "文脈に基づく質問を二つ作成しました。",
        "「{}」について、この規則はどのような義務を定めていますか？",
        "「{}」の規定はどのような場合に適用されますか？",
    ),
}


def realistic_reply(prompt: str, style: str | None = None) -> str:
    """A reply like a 7B instruct model's: questions about words of the context, wrapped in the "
    "usual noise. Style "echo": the context's lines, numbered (a test then chooses the questions)."""
    if style == "echo":
        parts = prompt.split("---------------------")
        lines = [ln.strip() for ln in parts[1].split("\n") if ln.strip()]
        return "\n".join(f"{i}. {ln}" for i, ln in enumerate(lines, 1))
    lang = _lang(prompt)
    a, b, c = _topics(prompt, lang)
    if "search box" in prompt:  # the keyword question type: short search queries, no question mark
        if lang == "zh":
            return f"1. {a} {b} 规定\n2. {c} {a} 义务"
        return f"1. {a} {b} rules\n2. {c} {a} obligations"
    if lang == "zh":
        q1, q2, q3 = (
            f"关于“{a}”，本法作了哪些规定？",
            f"{b}应当承担什么责任？",
            f"在什么情况下适用{c}的规定？",
        )
        styles = {
            "numbered": f"1. {q1}\n2. {q2}",
            "preamble": f"以下是根据上下文设计的两个问题：\n\n1. {q1}\n2. {q2}\n\n希望这些问题对您有帮助！",
            "answers": f"问题1：{q1}\n答：根据本法规定，应当依法处理。\n问题2：{q2}\n答案：依法承担责任。",
            "bullets": f"- {q1}\n- {q2}\n- {q3}",
            "wrong_language": f"1. {q1}\n2. What does the law provide about {b}?",
        }
    elif lang == "fr":
        q1 = f"Quelles sont les obligations prévues concernant « {a} » ?"
        q2 = f"Dans quels cas le règlement s'applique-t-il à {b} ?"
        q3 = f"Quel est le rôle de {c} selon le texte ?"
        styles = {
            "numbered": f"1. {q1}\n2. {q2}",
            "preamble": f"Voici deux questions basées sur le contexte :\n\n1. {q1}\n2. {q2}",
            "answers": f"1) {q1}\nRéponse : Le texte prévoit des obligations.\n2) {q2}\nRéponse : "
            "Dans certains cas.",
            "bullets": f"* « {q1} »\n* « {q2} »\n* {q3}",
        }
    elif lang in NAMED_LANGUAGES:
        intro, t1, t2 = NAMED_LANGUAGES[lang]
        q1, q2 = t1.format(a), t2.format(b)
        styles = {
            "numbered": f"1. {q1}\n2. {q2}",
            "preamble": f"{intro}\n\n1. {q1}\n2. {q2}",
            "wrong_language": f"1. {q1}\n2. What does the regulation require regarding {b}?",
        }
    else:
        q1 = f"What does the regulation require regarding {a}?"
        q2 = f"Under which conditions does the text apply to {b}?"
        q3 = f"How is {c} defined in the context?"
        styles = {
            "numbered": f"1. {q1}\n2. {q2}",
            "preamble": f"Sure! Here are two questions based on the context:\n\n1. {q1}\n2. {q2}\n\n"
            "I hope these questions help with your quiz!",
            "answers": f"**Question 1:** {q1}\nAnswer: The regulation lays down specific rules.\n"
            f"**Question 2:** {q2}\nAnswer: When the conditions are met.",
            "bullets": f'- "{q1}"\n- "{q2}"\n- "{q3}"',
            "wrong_language": f"1. {q1}\n2. Quelles sont les obligations des fournisseurs de {b} ?",
            "duplicate": f"1. {q1}\n2. {q1[:-1]} ?\n3. {q2}",
        }
    if style is None:  # a well-behaved model's noise; a reply in the wrong language is asked for by name
        usual = sorted(set(styles) - {"wrong_language"})
        style = usual[int(prompt_key(prompt), 16) % len(usual)]
    return styles.get(style, styles["numbered"])


def judge_reply(prompt: str, style: str | None = None) -> str:
    """A judge's reply to embedlab's judge prompt: `answerable` from how many of the question's words
    (Chinese: character pairs) the passage holds, `specific` 4-10 by the prompt's hash, now and then inside
    a code fence; style "malformed": prose without scores."""
    if style == "malformed":
        return "This is a good question about the passage; I would rate it highly."
    passage = prompt.split("---------------------")[1].lower()
    question = prompt.split("Question:", 1)[1].split("\n", 1)[0].lower()
    cjk = "".join(_CJK.findall(question))
    words = [cjk[i : i + 2] for i in range(len(cjk) - 1)] if cjk else re.findall(r"[^\W\d_]{4,}", question)
    share = sum(w in passage for w in words) / max(len(words), 1)
    h = int(prompt_key(prompt), 16)
    obj = {"answerable": max(1, min(10, 1 + round(9 * share))), "specific": 4 + h % 7,
           "reason": f"{share:.0%} of the question's words are in the passage."}  # fmt: skip
    return f"Here is my judgement:\n```json\n{json.dumps(obj)}\n```" if h % 5 == 0 else json.dumps(obj)


class _Server(ThreadingHTTPServer):
    request_queue_size = 256  # many clients connect at once; the default backlog of 5 stalls them
    daemon_threads = True


class FakeLLMServer:
    """The server object tests talk to; see the module docstring."""

    def __init__(self, latency: float = 0.0, style: str | None = None, hang_s: float = 30.0) -> None:
        self.latency = latency
        self.style = style
        self.stubborn = False  # True: a re-asked prompt's language reminder is ignored
        self.judge_style: str | None = None  # "malformed": judge replies without scores
        self.hang_s = hang_s
        self.models = list(OLLAMA_MODELS)
        self.require_key: str | None = None  # 401 unless "Authorization: Bearer <key>"
        self.echo_key_in_errors = False  # a careless server that quotes the key back in error bodies
        self.counts: Counter[str] = Counter()
        self.bodies: list[dict[str, Any]] = []
        self.auth_headers: list[str | None] = []
        self.paths: Counter[str] = Counter()
        self.faults_served: list[str] = []
        self._faults: deque[str] = deque()
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._httpd = _Server(("127.0.0.1", 0), _handler(self))
        self._thread = threading.Thread(target=self._httpd.serve_forever, args=(0.05,), daemon=True)

    @property
    def url(self) -> str:
        host, port = self._httpd.server_address[:2]
        return f"http://{host}:{port}"

    def inject(self, *faults: str) -> None:
        """Queue faults for the next generation requests, in arrival order: "429", "429:<seconds>", "500",
        "503", "malformed", "hang", "drop", "400", "401", "404", or "ok" (none: served as usual)."""
        with self._lock:
            self._faults.extend(faults)

    def total(self) -> int:
        return sum(self.counts.values())

    def start(self) -> FakeLLMServer:
        self._thread.start()
        return self

    def stop(self) -> None:
        self._stop.set()
        self._httpd.shutdown()
        self._httpd.server_close()

    def __enter__(self) -> FakeLLMServer:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def _next_fault(self) -> str | None:
        with self._lock:
            return self._faults.popleft() if self._faults else None


def _handler(server: FakeLLMServer) -> type[BaseHTTPRequestHandler]:
    class Handler(JSONHandler):
        protocol_version = "HTTP/1.1"
        wbufsize = -1  # headers and body leave in one write (as real servers do), flushed per response
        disable_nagle_algorithm = True

        def do_GET(self) -> None:
            server.paths[self.path] += 1
            if self.path == "/api/tags":
                models = [{"name": m, "model": m, "size": 4_400_000_000} for m in server.models]
                self._send(200, {"models": models})
            elif self.path == "/api/version":
                self._send(200, {"version": "0.6.8"})
            elif self.path == "/v1/models":
                if not self._authorized():
                    return
                self._send(
                    200, {"object": "list", "data": [{"id": m, "object": "model"} for m in server.models]}
                )
            else:
                self._send(404, {"error": "not found"})

        def _authorized(self) -> bool:
            auth = self.headers.get("Authorization")
            if server.require_key and auth != f"Bearer {server.require_key}":
                shown = auth if server.echo_key_in_errors else (auth or "")[:10] + "***"
                self._send(
                    401,
                    {"error": {"message": f"Incorrect API key provided: {shown}", "code": "invalid_api_key"}},
                )
                return False
            return True

        def do_POST(self) -> None:
            server.paths[self.path] += 1
            length = int(self.headers.get("Content-Length") or 0)
            body = json.loads(self.rfile.read(length) or b"{}")
            if self.path == "/api/show":
                info = {"general.architecture": "qwen2", "qwen2.context_length": 32768}
                self._send(200, {"model_info": info, "details": {"family": "qwen2", "format": "gguf"}})
                return
            if self.path not in GENERATION_PATHS:
                self._send(404, {"error": f"unknown path {self.path}"})
                return
            if self.path.startswith("/api/"):
                prompt = body["messages"][-1]["content"] if "messages" in body else body.get("prompt", "")
            else:
                prompt = body["messages"][-1]["content"] if "messages" in body else body.get("prompt", "")
                if isinstance(prompt, list):
                    prompt = prompt[0]
            key = prompt_key(prompt)
            with server._lock:
                server.counts[key] += 1
                server.bodies.append(body)
                server.auth_headers.append(self.headers.get("Authorization"))
            if self.path.startswith("/v1/") and not self._authorized():
                return
            fault = server._next_fault()
            if fault:
                server.faults_served.append(fault)
                if self._fault(fault, body):
                    return
            if server.latency:
                server._stop.wait(server.latency)
            model = body.get("model", "?")
            tagged = model if ":" in model else f"{model}:latest"  # Ollama's reading of a bare name
            if tagged not in server.models and self.path.startswith("/api/"):
                self._send(404, {"error": f"model '{model}' not found"})
                return
            listens = not server.stubborn and "Write every question in" in prompt  # the language reminder
            if "You are judging a question" in prompt:  # embedlab's judge prompt (data/llm/judge.py)
                reply = judge_reply(prompt, server.judge_style)
            else:
                reply = realistic_reply(prompt, "numbered" if listens else server.style)
            self._send(200, _reply_body(self.path, model, reply))

        def _fault(self, fault: str, body: dict[str, Any]) -> bool:
            """Serve `fault`; True when the request is answered (or dropped) by it."""
            name, _, arg = fault.partition(":")
            auth = self.headers.get("Authorization") or ""
            echo = f" (auth was {auth})" if server.echo_key_in_errors else ""
            if name == "ok":  # no fault: lets a test aim a fault at a later request
                return False
            if name == "429":
                retry_after = arg or "1"
                self._send(
                    429,
                    {"error": {"message": "Rate limit reached", "type": "requests"}},
                    {"Retry-After": retry_after},
                )
            elif name in ("500", "503"):
                self._send(int(name), {"error": f"internal error{echo}"})
            elif name == "400":
                self._send(
                    400, {"error": {"message": "context length exceeded", "type": "invalid_request_error"}}
                )
            elif name == "401":
                self._send(
                    401,
                    {"error": {"message": f"Incorrect API key provided{echo}", "code": "invalid_api_key"}},
                )
            elif name == "404":
                self._send(404, {"error": f"model '{body.get('model')}' not found, try pulling it first"})
            elif name == "malformed":
                self._send(200, b'{"model": "qwen2", "message": {"role": "assistant", "content": "1. What')
            elif name == "hang":
                server._stop.wait(server.hang_s)
                self.close_connection = True
                return True
            elif name == "drop":
                self.close_connection = True
                self.wfile.flush()
                self.connection.shutdown(2)
            else:
                return False
            return True

    return Handler


def _reply_body(path: str, model: str, reply: str) -> dict[str, Any]:
    now = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())
    if path == "/api/chat":
        return {
            "model": model,
            "created_at": now,
            "message": {"role": "assistant", "content": reply},
            "done": True,
            "done_reason": "stop",
            "total_duration": 1,
            "prompt_eval_count": 300,
            "eval_count": 60,
        }
    if path == "/api/generate":
        return {"model": model, "created_at": now, "response": reply, "done": True, "done_reason": "stop"}
    usage = {"prompt_tokens": 300, "completion_tokens": 60, "total_tokens": 360}
    if path == "/v1/chat/completions":
        return {
            "id": "chatcmpl-1",
            "object": "chat.completion",
            "created": int(time.time()),
            "model": model,
            "choices": [
                {
                    "index": 0,
                    "message": {"role": "assistant", "content": reply},
                    "finish_reason": "stop",
                    "logprobs": None,
                }
            ],
            "usage": usage,
        }
    return {
        "id": "cmpl-1",
        "object": "text_completion",
        "created": int(time.time()),
        "model": model,
        "choices": [{"index": 0, "text": reply, "finish_reason": "stop", "logprobs": None}],
        "usage": usage,
    }


if __name__ == "__main__":  # a manual server: python tests/llm_server.py [latency]
    import sys

    with FakeLLMServer(latency=float(sys.argv[1]) if len(sys.argv) > 1 else 0.0) as srv:
        print(srv.url, flush=True)
        try:
            while True:
                time.sleep(3600)
        except KeyboardInterrupt:
            pass
