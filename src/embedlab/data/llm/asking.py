"""Asking the LLM for every chunk: a bounded number of requests in flight, retries with backoff, and the
answers appended to the checkpoint as they arrive.

Retries cover timeouts, connection errors, 429 (after the server's Retry-After, every worker pausing) and
5xx, with exponential backoff and jitter; a wrong key or an unknown model stops the run at once. A chunk
that still fails is recorded, never raised, so the caller decides from the failed share whether the run
is usable.
"""

from __future__ import annotations

import asyncio
import logging
import random
import time
from dataclasses import dataclass, field
from typing import Any, NamedTuple

from tqdm import tqdm

from embedlab.data.llm.checkpoint import CHECKPOINT_FORMAT, Checkpoint
from embedlab.data.llm.providers import (
    Endpoint,
    Failure,
    build_llm,
    classify,
    preflight,
    redact,
    start_request,
)

log = logging.getLogger(__name__)


@dataclass
class RunState:
    """Shared by the workers of one run."""

    allowed_failures: int
    pause_until: float = 0.0
    failures: dict[str, str] = field(default_factory=dict)
    fatal: str | None = None
    requests: int = 0
    retries: int = 0
    llm_s: float = 0.0
    checkpoint_s: float = 0.0

    @property
    def stop(self) -> bool:
        return self.fatal is not None or len(self.failures) > self.allowed_failures


@dataclass(frozen=True)
class RetryPolicy:
    """How long one request may take and how it is retried (the `generators.llm` settings of that name)."""

    retries: int
    timeout_s: float
    backoff_initial_s: float
    backoff_max_s: float

    def backoff(self, attempt: int) -> float:
        """Exponential with jitter: between half and all of initial·2^attempt, capped."""
        ceiling = min(self.backoff_max_s, self.backoff_initial_s * (2**attempt))
        return ceiling * random.uniform(0.5, 1.0)


class Ask(NamedTuple):
    """One chunk's request: the hash of its template (the checkpoint key's prompt part) and the prompt."""

    prompt_hash: str
    prompt: str


@dataclass(frozen=True)
class Asking:
    """One run's requests: where to, what identifies an answer in the checkpoint, the LLM's options
    (`build_llm` keywords), the retry policy and how many requests may be in flight."""

    endpoint: Endpoint
    key: dict[str, str]  # model, options: with each Ask's prompt_hash, the checkpoint key of an answer
    llm_options: dict[str, Any]
    policy: RetryPolicy
    workers: int


def ask_chunks(
    asking: Asking,
    prompts: dict[str, Ask],
    total: int,
    desc: str,
    progress: bool,
    ckpt: Checkpoint | None,
    state: RunState,
) -> dict[str, dict[str, Any]]:
    """Ask for every chunk of `prompts` ({chunk id: Ask}; {chunk id: checkpoint record} out), with a
    progress bar over all `total` chunks of the run; failed chunks are in `state.failures` instead."""
    preflight(asking.endpoint, timeout_s=min(10.0, asking.policy.timeout_s))
    bar = tqdm(
        total=total,
        initial=total - len(prompts),
        unit="chunk",
        desc=desc,
        disable=not progress,
        mininterval=1.0,
        smoothing=0.1,
    )
    try:
        return asyncio.run(_ask_all(asking, prompts, ckpt, state, bar))
    finally:
        bar.close()


async def _ask_all(
    asking: Asking, prompts: dict[str, Ask], ckpt: Checkpoint | None, state: RunState, bar: tqdm
) -> dict[str, dict[str, Any]]:
    """`asking.workers` requests at a time. The client lives inside the event loop that uses it; it is
    closed, and the checkpoint synced, whatever happens."""
    llm, client = build_llm(asking.endpoint, **asking.llm_options)
    queue: asyncio.Queue[tuple[str, Ask]] = asyncio.Queue()
    for item in prompts.items():
        queue.put_nowait(item)
    answers: dict[str, dict[str, Any]] = {}

    async def worker() -> None:
        while not state.stop:
            try:
                chunk_id, ask = queue.get_nowait()
            except asyncio.QueueEmpty:
                return
            rec = await ask_one(llm, asking, chunk_id, ask, state)
            if rec is not None:
                t0 = time.perf_counter()
                if ckpt:
                    ckpt.append(rec)
                state.checkpoint_s += time.perf_counter() - t0
                answers[chunk_id] = rec
            if rec is not None or chunk_id in state.failures:
                bar.update(1)
                if state.failures:
                    bar.set_postfix(failed=len(state.failures), refresh=False)

    try:
        await asyncio.gather(*(worker() for _ in range(min(asking.workers, len(prompts)))))
    finally:
        if ckpt:
            await ckpt.drain()
        close = getattr(client, "aclose", None) or client.close
        await close()
    return answers


async def ask_one(
    llm: Any, asking: Asking, chunk_id: str, ask: Ask, state: RunState
) -> dict[str, Any] | None:
    """One chunk's answer with retries; None when it failed (recorded in `state`) or the run stops."""
    policy, endpoint = asking.policy, asking.endpoint
    failure: Failure | None = None
    for attempt in range(policy.retries + 1):
        wait = state.pause_until - time.monotonic()
        if wait > 0:
            await asyncio.sleep(wait)
        if state.stop:
            return None
        start_request()
        t0 = time.perf_counter()
        state.requests += 1
        try:
            # the clients time out on each read; this bounds a server that trickles bytes forever
            resp = await asyncio.wait_for(llm.acomplete(ask.prompt), timeout=policy.timeout_s * 2 + 5)
            state.llm_s += time.perf_counter() - t0
            return {
                "format": CHECKPOINT_FORMAT,
                "chunk_id": chunk_id,
                "prompt_hash": ask.prompt_hash,
                **asking.key,
                "raw_text": resp.text or "",
                "attempts": attempt + 1,
                "seconds": round(time.perf_counter() - t0, 3),
                "at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
            }
        except asyncio.CancelledError:
            raise
        except Exception as exc:  # every client error is sorted, none escapes with a key in it
            state.llm_s += time.perf_counter() - t0
            failure = classify(exc, endpoint)
        if failure.fatal:
            state.fatal = failure.message
            return None
        if not failure.retryable or attempt == policy.retries:
            break
        state.retries += 1
        delay = policy.backoff(attempt)
        if failure.retry_after is not None:
            delay = failure.retry_after + random.uniform(0, 0.1 * policy.backoff_initial_s)
            state.pause_until = max(state.pause_until, time.monotonic() + delay)  # everyone waits
        log.warning(
            "chunk %s: %s; retry %d/%d in %.2f s",
            chunk_id,
            failure.message,
            attempt + 1,
            policy.retries,
            delay,
        )
        await asyncio.sleep(delay)
    assert failure is not None
    state.failures[chunk_id] = redact(failure.message, endpoint.key)
    return None
