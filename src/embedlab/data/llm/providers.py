"""The LLM servers the `llm` generator talks to, through llama-index's own classes: Ollama, OpenAI and any
OpenAI-compatible server (vLLM, llama.cpp's server, LM Studio…).

What lives here: building the client from config (key read from an environment variable, never from
config), a preflight that turns "nothing listens there" into one line naming the fix, and the sorting of
client exceptions into retry / fail this chunk / stop everything. Every message that may leave this module
goes through `redact`, so a key a server echoes back never reaches a log or an error.
"""

from __future__ import annotations

import contextvars
import email.utils
import ipaddress
import json
import os
import re
import time
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlparse

from embedlab.errors import EmbedlabError

PROVIDERS = ("ollama", "openai", "openai_like")
DEFAULT_MODELS = {"ollama": "qwen2:7b-instruct-q4_0", "openai": "gpt-4o-mini"}
DEFAULT_BASE_URLS = {"ollama": "http://localhost:11434", "openai": "https://api.openai.com/v1"}
DEFAULT_KEY_ENV = {"openai": "OPENAI_API_KEY"}
NO_KEY = "EMPTY"  # what OpenAI-compatible servers without auth accept (vLLM's convention)
RETRY_STATUS = {408, 409, 425, 429, 500, 502, 503, 504, 520, 522, 524, 529}
FATAL_STATUS = {401, 403, 404}
MAX_RETRY_AFTER_S = 600.0

# Headers of the last error response seen in the current request's task (Ollama's client drops them).
_LAST_ERROR_HEADERS: contextvars.ContextVar[dict[str, str] | None] = contextvars.ContextVar(
    "embedlab_llm_error_headers", default=None
)


@dataclass(frozen=True)
class Endpoint:
    """Where and how to reach the LLM; `key` is only ever held in memory."""

    provider: str
    model: str
    base_url: str
    key_env: str | None
    key: str | None

    @property
    def label(self) -> str:
        return f"{self.provider}/{self.model}"


def resolve_endpoint(
    provider: str, model: str | None, base_url: str | None, api_key_env: str | None
) -> Endpoint:
    """Fill provider defaults and read the API key from its environment variable (one-line errors)."""
    if provider not in PROVIDERS:
        raise EmbedlabError(
            f"config error at generators.llm.provider: {provider!r} is not allowed (allowed: "
            f"{', '.join(PROVIDERS)})"
        )
    model = model or DEFAULT_MODELS.get(provider)
    if not model:
        raise EmbedlabError(
            f"generators.llm.model is required for provider {provider}: set it to the model name the "
            "server serves"
        )
    base_url = (base_url or DEFAULT_BASE_URLS.get(provider) or "").rstrip("/")
    if not base_url:
        raise EmbedlabError(
            "generators.llm.base_url is required for provider openai_like: set it to the server's API base, "
            "e.g. http://localhost:8000/v1"
        )
    key_env = api_key_env or DEFAULT_KEY_ENV.get(provider)
    key = os.environ.get(key_env) if key_env else None
    if provider == "openai" and not key:
        raise EmbedlabError(
            f"provider openai needs an API key in the environment variable {key_env}: export {key_env}=… "
            "(keys are never read from config files)"
        )
    if key_env and api_key_env and not key:
        raise EmbedlabError(
            f"generators.llm.api_key_env names {key_env}, which is not set: export {key_env}=…"
        )
    return Endpoint(provider, model, base_url, key_env, key or None)


def uses_gpu(settings: dict[str, Any]) -> bool:
    """Whether generation computes on this machine's GPU: a local Ollama or OpenAI-compatible server.

    `uses_gpu: true/false` in config overrides the guess (a llama.cpp server on CPU, a remote GPU box
    reached through an SSH tunnel on localhost).
    """
    if settings.get("uses_gpu") is not None:
        return bool(settings["uses_gpu"])
    provider = settings.get("provider", "ollama")
    if provider == "openai":
        return False
    url = settings.get("base_url") or DEFAULT_BASE_URLS.get(provider, "")
    host = urlparse(url).hostname or ""
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback or host == "0.0.0.0"
    except ValueError:
        return False


def redact(text: str, *secrets: str | None) -> str:
    """Remove keys from text: the known secrets verbatim, and anything shaped like a bearer token or key."""
    for secret in secrets:
        if secret and len(secret) >= 4:
            text = text.replace(secret, "[redacted]")
    text = re.sub(r"(?i)(bearer\s+)[^\s\"',)]+", r"\1[redacted]", text)
    return re.sub(r"\b(sk|pk|rk)-[A-Za-z0-9_\-*.]{6,}", "[redacted]", text)


def build_llm(
    endpoint: Endpoint,
    *,
    temperature: float,
    max_tokens: int,
    seed: int | None,
    timeout_s: float,
    context_window: int,
    is_chat_model: bool,
) -> tuple[Any, Any]:
    """The llama-index LLM and the HTTP client to close afterwards. Call inside the event loop.

    Retries are ours (the clients' own are off), so backoff, Retry-After and failure counting live in one
    place; the OpenAI classes get an explicit key (a placeholder for keyless servers) so an OPENAI_API_KEY
    in the environment is never sent to a third-party server by accident.
    """
    import httpx

    hooks = {"response": [_remember_error_headers]}
    if endpoint.provider == "ollama":
        from llama_index.llms.ollama import Ollama
        from ollama import AsyncClient

        headers = {"Authorization": f"Bearer {endpoint.key}"} if endpoint.key else {}
        client = AsyncClient(host=endpoint.base_url, timeout=timeout_s, headers=headers, event_hooks=hooks)
        options: dict[str, Any] = {"num_predict": max_tokens}
        if seed is not None:
            options["seed"] = seed
        llm = Ollama(
            model=endpoint.model,
            base_url=endpoint.base_url,
            temperature=temperature,
            request_timeout=timeout_s,
            context_window=context_window,  # explicit: llama-index would otherwise ask /api/show, blocking
            additional_kwargs=options,
            async_client=client,
        )
        return llm, client
    extra = {"seed": seed} if seed is not None else {}
    http = httpx.AsyncClient(timeout=timeout_s, event_hooks=hooks)
    common = {
        "model": endpoint.model,
        "temperature": temperature,
        "max_tokens": max_tokens,
        "additional_kwargs": extra,
        "max_retries": 0,
        "timeout": timeout_s,
        "api_key": endpoint.key or NO_KEY,
        "api_base": endpoint.base_url,
        "async_http_client": http,
    }
    if endpoint.provider == "openai":
        from llama_index.llms.openai import OpenAI

        try:
            llm = OpenAI(**common)
            llm.metadata  # noqa: B018 (unknown model names fail here, once, not on every chunk)
        except ValueError as exc:
            raise EmbedlabError(
                f"generators.llm.model {endpoint.model!r}: {_one_line(str(exc))[:200]}"
            ) from None
        return llm, http
    from llama_index.llms.openai_like import OpenAILike

    llm = OpenAILike(**common, is_chat_model=is_chat_model, context_window=context_window)
    return llm, http


async def _remember_error_headers(response: Any) -> None:
    holder = _LAST_ERROR_HEADERS.get()
    if holder is not None and response.status_code >= 400:
        holder.clear()
        holder.update(
            {k.lower(): v for k, v in response.headers.items() if k.lower().startswith("retry-after")}
        )


def start_request() -> None:
    """Give the current task its own slot for error headers (call before each request)."""
    _LAST_ERROR_HEADERS.set({})


@dataclass
class Failure:
    """What a failed request means: retry it (after `retry_after` if the server said), fail this chunk,
    or stop the run (`fatal`: wrong key, unknown model: every other chunk would fail the same way)."""

    message: str
    retryable: bool
    fatal: bool = False
    retry_after: float | None = None


def classify(exc: BaseException, endpoint: Endpoint) -> Failure:
    """Sort a client exception; the message is one redacted line."""
    import asyncio

    import httpx
    import openai
    from ollama import ResponseError

    status: int | None = None
    headers: dict[str, str] = dict(_LAST_ERROR_HEADERS.get() or {})
    if isinstance(exc, ResponseError):
        status, text = exc.status_code, str(exc.error)
    elif isinstance(exc, openai.APIStatusError):
        status, text = exc.status_code, str(exc.message)
        headers.update({k.lower(): v for k, v in exc.response.headers.items()})
    elif isinstance(
        exc, (openai.APITimeoutError, httpx.TimeoutException, asyncio.TimeoutError, TimeoutError)
    ):
        return Failure(f"timed out ({type(exc).__name__})", retryable=True)
    elif isinstance(exc, (openai.APIConnectionError, httpx.TransportError, ConnectionError)):
        return Failure(
            f"connection error ({type(exc).__name__}: {_first_line(exc, endpoint)})", retryable=True
        )
    elif isinstance(exc, (json.JSONDecodeError, openai.APIResponseValidationError)) or _is_validation_error(
        exc
    ):
        return Failure(
            f"malformed reply ({type(exc).__name__}: {_first_line(exc, endpoint)})", retryable=True
        )
    else:
        return Failure(f"{type(exc).__name__}: {_first_line(exc, endpoint)}", retryable=False)
    text = _one_line(redact(text, endpoint.key))[:300]
    if status in RETRY_STATUS or (status is not None and status >= 500):
        return Failure(f"HTTP {status}: {text}", retryable=True, retry_after=parse_retry_after(headers))
    if status in FATAL_STATUS:
        return Failure(_fatal_message(status, text, endpoint), retryable=False, fatal=True)
    return Failure(f"HTTP {status}: {text}", retryable=False)


def _fatal_message(status: int, text: str, endpoint: Endpoint) -> str:
    where = f"{endpoint.provider} server at {endpoint.base_url}"
    if status in (401, 403):
        fix = (
            f"set a valid key in ${endpoint.key_env}"
            if endpoint.key_env
            else "set generators.llm.api_key_env"
        )
        return f"the {where} rejected the API key (HTTP {status}: {text}): {fix}"
    if endpoint.provider == "ollama":
        return f"the {where} has no model {endpoint.model!r} (HTTP 404): run `ollama pull {endpoint.model}`"
    return (
        f"the {where} answered HTTP 404 ({text}): check generators.llm.model ({endpoint.model!r}) and that "
        "base_url ends with the API prefix (e.g. /v1)"
    )


def _is_validation_error(exc: BaseException) -> bool:
    return type(exc).__name__ == "ValidationError" and type(exc).__module__.startswith("pydantic")


def _one_line(text: str) -> str:
    return " ".join(text.split())


def _first_line(exc: BaseException, endpoint: Endpoint) -> str:
    return _one_line(redact(str(exc), endpoint.key))[:300] or type(exc).__name__


def parse_retry_after(headers: dict[str, str]) -> float | None:
    """Seconds to wait from `retry-after-ms`, `retry-after` (seconds or an HTTP date); None if absent."""
    try:
        if "retry-after-ms" in headers:
            return min(float(headers["retry-after-ms"]) / 1000.0, MAX_RETRY_AFTER_S)
        value = headers.get("retry-after")
        if value is None:
            return None
        try:
            seconds = float(value)
        except ValueError:
            date = email.utils.parsedate_to_datetime(value)
            seconds = date.timestamp() - time.time()
        return min(max(seconds, 0.0), MAX_RETRY_AFTER_S)
    except (TypeError, ValueError):
        return None


def preflight(endpoint: Endpoint, timeout_s: float = 10.0) -> None:
    """One cheap request before the run: is a server there, does it know the model, does it take the key?"""
    import httpx

    headers = {"Authorization": f"Bearer {endpoint.key}"} if endpoint.key else {}
    url = f"{endpoint.base_url}/api/tags" if endpoint.provider == "ollama" else f"{endpoint.base_url}/models"
    try:
        resp = httpx.get(url, headers=headers, timeout=timeout_s)
    except httpx.TransportError as exc:
        raise EmbedlabError(_absent_message(endpoint, exc)) from None
    if resp.status_code in (401, 403):
        text = _one_line(redact(resp.text, endpoint.key))[:200]
        raise EmbedlabError(_fatal_message(resp.status_code, text, endpoint))
    if endpoint.provider == "ollama" and resp.status_code == 200:
        try:
            names = {m.get("name") or m.get("model") for m in resp.json().get("models", [])}
        except (ValueError, AttributeError):
            return
        wanted = endpoint.model if ":" in endpoint.model else f"{endpoint.model}:latest"
        if names and wanted not in names and endpoint.model not in names:
            have = ", ".join(sorted(n for n in names if n)[:6])
            raise EmbedlabError(
                f"the Ollama server at {endpoint.base_url} has no model {endpoint.model!r} (it has: {have}): "
                f"run `ollama pull {endpoint.model}`, or set generators.llm.model"
            )


def _absent_message(endpoint: Endpoint, exc: BaseException) -> str:
    if endpoint.provider == "ollama":
        url = endpoint.base_url
        return f"no Ollama server at {url} — start it with `ollama serve`, or choose another provider"
    if endpoint.provider == "openai":
        return (
            f"cannot reach the OpenAI API at {endpoint.base_url} ({type(exc).__name__}) — check the "
            "network or proxy, or choose another provider"
        )
    return (
        f"no OpenAI-compatible server at {endpoint.base_url} ({type(exc).__name__}) — start it (vLLM, "
        "llama.cpp server…), or fix generators.llm.base_url"
    )
