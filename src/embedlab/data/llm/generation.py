"""The `llm` query generator: the tutorial's reverse-HyDE questions ("you are a Teacher/Professor… set up N
questions"), asked of Ollama, OpenAI or any OpenAI-compatible server through llama-index's LLM classes.

Unlike the tutorial's `generate_qa_embedding_pairs` (one blocking call at a time, resume by position,
preambles kept as questions) it
- asks concurrently (asyncio, a bounded number of requests in flight per provider) with a progress bar;
- appends every answer to a checkpoint (JSON lines, fsync'd) keyed by chunk id + prompt hash + model +
  options, so a killed run resumes without asking again and a changed prompt or model is never reused;
- retries timeouts, connection errors, 429 (after the server's Retry-After, all workers pausing) and 5xx
  with exponential backoff and jitter, and stops at once on a wrong key or unknown model;
- cleans replies (`embedlab.data.llm.cleaning`), drops questions repeated (or nearly) from an earlier chunk
  and, when `round_trip` is on, questions a reference retriever cannot tie back to their chunk
  (`embedlab.data.llm.roundtrip`), counting every dropped line by reason in a report.
Keys come only from environment variables and are redacted from every message.
"""

from __future__ import annotations

import asyncio
import fcntl
import hashlib
import json
import logging
import os
import random
import time
from collections import Counter
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit, urlunsplit

from tqdm import tqdm

from embedlab import io
from embedlab.data.llm import roundtrip
from embedlab.data.llm.cleaning import DROP_REASONS, QuestionIndex, clean_reply, ordered_counts, words
from embedlab.data.llm.providers import (
    DEFAULT_CONCURRENCY,
    Endpoint,
    Failure,
    build_llm,
    classify,
    preflight,
    redact,
    resolve_endpoint,
    start_request,
)
from embedlab.data.queries import QUERIES_FORMAT, GeneratorResult, Query, register_generator
from embedlab.errors import EmbedlabError
from embedlab.text import language

log = logging.getLogger(__name__)

CHECKPOINT_FORMAT = "embedlab.llm_checkpoint/1"
REPORT_FORMAT = "embedlab.llm_report/1"
EXAMPLES_PER_REASON = 3

_SEP = "---------------------"
# The tutorial's English prompt (llama-index's DEFAULT_QA_GENERATE_PROMPT_TMPL, without its stray quote),
# and the same instructions in the other tutorial languages, each asking for questions in that language.
DEFAULT_PROMPTS: dict[str, str] = {
    "en": (
        f"Context information is below.\n\n{_SEP}\n{{context_str}}\n{_SEP}\n\n"
        "Given the context information and not prior knowledge, generate only questions based on the below "
        "query.\n\nYou are a Teacher/ Professor. Your task is to setup {num_questions_per_chunk} "
        "questions for "
        "an upcoming quiz/examination. The questions should be diverse in nature across the "
        "document. Restrict "
        "the questions to the context information provided.\n"
    ),
    "zh": (
        f"以下是上下文信息。\n\n{_SEP}\n{{context_str}}\n{_SEP}\n\n"
        "请仅根据上述上下文信息（而不是已有知识）生成问题。\n\n"
        "你是一名教师/教授。你的任务是为即将到来的测验/考试设计 {num_questions_per_chunk} 个问题。"
        "问题应当形式多样，覆盖文档的不同内容，并且只限于上面提供的上下文信息。请用中文提问。\n"
    ),
    "fr": (
        f"Les informations de contexte figurent ci-dessous.\n\n{_SEP}\n{{context_str}}\n{_SEP}\n\n"
        "À partir de ces informations de contexte, et non de connaissances préalables, génère uniquement des "
        "questions.\n\nTu es enseignant / professeur. Ta tâche est de préparer {num_questions_per_chunk} "
        "questions pour un prochain quiz / examen. Les questions doivent être de nature variée et couvrir "
        "l'ensemble du document. Limite les questions aux informations de contexte fournies. Rédige les "
        "questions en français.\n"
    ),
    "cs": (
        f"Níže jsou kontextové informace.\n\n{_SEP}\n{{context_str}}\n{_SEP}\n\n"
        "Na základě kontextových informací, nikoli předchozích znalostí, vytvoř pouze otázky.\n\n"
        "Jsi učitel / profesor. Tvým úkolem je připravit otázky pro nadcházející test / zkoušku "
        "(počet otázek: "
        "{num_questions_per_chunk}). Otázky by měly být různorodé a pokrývat celý dokument. Omez otázky na "
        "poskytnuté kontextové informace. Otázky piš česky.\n"
    ),
    "hu": (
        f"Az alábbiakban a kontextus információi találhatók.\n\n{_SEP}\n{{context_str}}\n{_SEP}\n\n"
        "A kontextus információi alapján, és nem előzetes tudás alapján, csak kérdéseket hozz létre.\n\n"
        "Tanár / professzor vagy. A feladatod, hogy {num_questions_per_chunk} kérdést állíts össze "
        "egy közelgő "
        "kvízhez / vizsgához. A kérdések legyenek változatosak, és fedjék le a dokumentum egészét. A "
        "kérdéseket "
        "korlátozd a megadott kontextusinformációkra. A kérdéseket magyarul írd.\n"
    ),
}


# Any other language: the English instructions, asking for questions in the language (its English name from
# langcodes, e.g. "Polish"); the rendered template, name included, is what prompt_hash identifies.
GENERIC_PROMPT = (
    f"Context information is below.\n\n{_SEP}\n{{context_str}}\n{_SEP}\n\n"
    "Given the context information and not prior knowledge, generate only questions based on the below "
    "query.\n\nYou are a Teacher/ Professor. Your task is to setup {num_questions_per_chunk} questions for "
    "an upcoming quiz/examination. The questions should be diverse in nature across the document. Restrict "
    "the questions to the context information provided. Write the questions in {language_name}, the "
    "language of the context.\n"
)


def prompt_hash(template: str) -> str:
    """sha256 of the prompt template (docs/formats.md): which instructions produced a query."""
    return hashlib.sha256(template.encode("utf-8")).hexdigest()


def render(template: str, context: str, num_questions: int) -> str:
    """Fill the two placeholders only (a template may hold other braces, e.g. a JSON example)."""
    return template.replace("{context_str}", context).replace("{num_questions_per_chunk}", str(num_questions))


class Checkpoint:
    """Answers received so far, one JSON line each, appended as they arrive and fsync'd.

    A record is written and flushed at once (it survives a killed process), then fsync'd by a background
    thread that batches whatever arrived meanwhile (group commit: durable against a crash within one
    fsync, without stalling the event loop for every record). Only this process writes the file (an
    exclusive lock, released by the OS even on SIGKILL). A line cut short by a kill is skipped on reading,
    and a newline is appended first so the next record starts clean.
    """

    def __init__(self, path: str | os.PathLike[str]) -> None:
        self.path = Path(path)
        self._fh: Any = None
        self._sync_task: asyncio.Task[None] | None = None
        self._want_sync = False
        self.bad_lines = 0
        self.fsync_s = 0.0

    def read(self) -> list[dict[str, Any]]:
        if not self.path.exists():
            return []
        records = []
        with open(self.path, encoding="utf-8", errors="replace") as fh:
            for line in fh:
                if not line.strip():
                    continue
                try:
                    rec = json.loads(line)
                except json.JSONDecodeError:
                    self.bad_lines += 1
                    continue
                if isinstance(rec, dict) and rec.get("format") == CHECKPOINT_FORMAT:
                    records.append(rec)
        return records

    def open(self) -> None:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        new = not self.path.exists()
        fh = open(self.path, "a", encoding="utf-8")  # noqa: SIM115 (kept open for the run)
        try:
            fcntl.flock(fh.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            fh.close()
            raise EmbedlabError(
                f"another run is writing {self.path}: wait for it to finish (two runs would ask twice)"
            ) from None
        with open(self.path, "rb") as raw:
            raw.seek(0, os.SEEK_END)
            if raw.tell() > 0:
                raw.seek(-1, os.SEEK_END)
                if raw.read(1) != b"\n":
                    fh.write("\n")
        self._fh = fh
        if new:  # make the new directory entry durable too
            dfd = os.open(self.path.parent, os.O_RDONLY)
            try:
                os.fsync(dfd)
            finally:
                os.close(dfd)

    def append(self, record: dict[str, Any]) -> None:
        """Write and flush one record, then have it fsync'd soon (inside an event loop) or now."""
        self._fh.write(json.dumps(record, ensure_ascii=False) + "\n")
        self._fh.flush()
        self._want_sync = True
        try:
            asyncio.get_running_loop()
        except RuntimeError:
            self._fsync()
            return
        if self._sync_task is None or self._sync_task.done():
            self._sync_task = asyncio.create_task(self._sync_loop())

    async def _sync_loop(self) -> None:
        while self._want_sync:
            self._want_sync = False
            await asyncio.to_thread(self._fsync)

    def _fsync(self) -> None:
        t0 = time.perf_counter()
        os.fsync(self._fh.fileno())
        self.fsync_s += time.perf_counter() - t0

    async def drain(self) -> None:
        """Wait until every record appended so far is on disk."""
        if self._sync_task is not None:
            await self._sync_task

    def close(self) -> None:
        if self._fh is not None:
            self._fh.flush()
            if self._want_sync:
                self._fsync()
            self._fh.close()
            self._fh = None


@dataclass
class _RunState:
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


@dataclass
class LlmGenerator:
    """Questions written by an LLM for each chunk; settings are `generators.llm` in the config schema."""

    provider: str = "ollama"
    model: str | None = None
    base_url: str | None = None
    api_key_env: str | None = None
    num_questions_per_chunk: int = 2
    prompts: dict[str, str] = field(default_factory=dict)
    temperature: float = 0.1
    max_tokens: int = 256
    seed: int | None = None
    context_window: int = 4096
    is_chat_model: bool = True
    concurrency: dict[str, int] | int = field(default_factory=dict)
    timeout_s: float = 120.0
    retries: int = 4
    backoff_initial_s: float = 1.0
    backoff_max_s: float = 60.0
    max_failed_fraction: float = 0.05
    min_words: int = 3
    max_words: int = 100
    near_duplicate_ratio: float = 0.9
    uses_gpu: bool | None = None
    round_trip: dict[str, Any] = field(default_factory=lambda: dict(roundtrip.DEFAULTS))
    checkpoint: str | None = None  # set by the rule (a path beside the output); None: no resume
    # set by the rule: round_trip.retriever resolved in the config's models (None: plain BM25 for `bm25`)
    retriever_spec: dict[str, Any] | None = None
    progress: bool = True
    report: dict[str, Any] = field(default_factory=dict, init=False, repr=False)
    timing: dict[str, float] = field(default_factory=dict, init=False, repr=False)

    def template(self, lang: str) -> str:
        """The configured or tuned prompt of `lang`, else the generic one naming the language (langcodes)."""
        prompts = {**DEFAULT_PROMPTS, **(self.prompts or {})}
        if lang in prompts:
            template = prompts[lang]
        else:
            template = GENERIC_PROMPT.replace("{language_name}", language(lang).name)
        if "{context_str}" not in template:
            raise EmbedlabError(
                f"generators.llm.prompts.{lang} lacks {{context_str}}: the chunk text goes there"
            )
        return template

    def workers(self) -> int:
        if isinstance(self.concurrency, int):
            return max(1, self.concurrency)
        return max(1, int((self.concurrency or {}).get(self.provider) or DEFAULT_CONCURRENCY[self.provider]))

    def options_hash(self, seed: int | None) -> str:
        """What else changes the answer besides template and model: part of the checkpoint key."""
        options = {
            "num_questions_per_chunk": self.num_questions_per_chunk,
            "temperature": self.temperature,
            "max_tokens": self.max_tokens,
            "seed": seed,
        }
        return hashlib.sha256(json.dumps(options, sort_keys=True).encode()).hexdigest()[:16]

    def generate(self, chunks: Sequence[dict[str, Any]], lang: str, seed: int) -> GeneratorResult:
        t_start = time.perf_counter()
        self.timing = {}
        template = self.template(lang)
        p_hash = prompt_hash(template)
        seed_used = self.seed if self.seed is not None else seed
        endpoint = resolve_endpoint(self.provider, self.model, self.base_url, self.api_key_env)
        opt_hash = self.options_hash(seed_used)
        key = {"prompt_hash": p_hash, "model": endpoint.label, "options": opt_hash}

        ckpt = Checkpoint(self.checkpoint) if self.checkpoint else None
        done: dict[str, dict[str, Any]] = {}
        stale = 0
        if ckpt:
            ckpt.open()  # lock first, then read: nobody else appends meanwhile
            for rec in ckpt.read():
                if all(rec.get(k) == v for k, v in key.items()):
                    done.setdefault(rec["chunk_id"], rec)
                else:
                    stale += 1
            if ckpt.bad_lines:
                log.warning("%s: skipped %d incomplete line(s) (a killed run)", ckpt.path, ckpt.bad_lines)
            if stale:
                log.info(
                    "%s: %d answer(s) for another prompt/model/options are kept but not reused",
                    ckpt.path,
                    stale,
                )
        ids = [c["id"] for c in chunks]
        todo = [c for c in chunks if c["id"] not in done]
        log.info(
            "llm %s (%s): %d chunks, %d already answered in the checkpoint, %d to ask, %d at a time",
            endpoint.label,
            lang,
            len(ids),
            len(ids) - len(todo),
            len(todo),
            self.workers(),
        )
        state = _RunState(allowed_failures=int(self.max_failed_fraction * len(chunks)))
        try:
            if todo:
                preflight(endpoint, timeout_s=min(10.0, self.timeout_s))
                bar = tqdm(
                    total=len(chunks),
                    initial=len(chunks) - len(todo),
                    unit="chunk",
                    desc=f"llm questions ({lang})",
                    disable=not self.progress,
                    mininterval=1.0,
                    smoothing=0.1,
                )
                try:
                    answers = asyncio.run(
                        self._ask_all(todo, endpoint, template, seed_used, key, ckpt, state, bar)
                    )
                finally:
                    bar.close()
                done.update(answers)
        finally:
            if ckpt:
                ckpt.close()
        if state.fatal:
            raise EmbedlabError(state.fatal)
        for cid, err in state.failures.items():
            log.warning("chunk %s failed after retries: %s", cid, err)
        missing = [cid for cid in ids if cid not in done]
        if len(missing) > state.allowed_failures:
            first = next(iter(state.failures.values()), "none")
            where = (
                f"; answers so far are kept in {self.checkpoint}, a rerun asks only the rest" if ckpt else ""
            )
            not_asked = len(missing) - len(state.failures)
            stopped = f" ({not_asked} not asked: the run stopped early)" if not_asked else ""
            raise EmbedlabError(
                f"llm: {len(state.failures)} of {len(ids)} chunks failed after retries{stopped}; at most "
                f"{self.max_failed_fraction:.0%} may fail (generators.llm.max_failed_fraction); first error: "
                f"{first}{where}"
            )
        t_clean = time.perf_counter()
        result = self._assemble(chunks, done, lang, endpoint, p_hash, template, state)
        wall = time.perf_counter() - t_start
        self.timing.update(
            {
                "wall_s": wall,
                "llm_s": state.llm_s,
                "checkpoint_s": state.checkpoint_s,
                "fsync_s": ckpt.fsync_s if ckpt else 0.0,
                "clean_s": time.perf_counter() - t_clean - self.timing.get("round_trip_s", 0.0),
                "requests": state.requests,
                "retries": state.retries,
            }
        )
        log.info(
            "llm %s (%s): %d queries from %d answered chunks (%d failed), %d requests, %d retries, %.1f s",
            endpoint.label,
            lang,
            result.stats["queries"],
            result.stats["chunks_answered"],
            result.stats["chunks_failed"],
            state.requests,
            state.retries,
            wall,
        )
        return result

    async def _ask_all(
        self,
        todo: list[dict[str, Any]],
        endpoint: Endpoint,
        template: str,
        seed: int | None,
        key: dict[str, str],
        ckpt: Checkpoint | None,
        state: _RunState,
        bar: tqdm,
    ) -> dict[str, dict[str, Any]]:
        llm, client = build_llm(
            endpoint,
            temperature=self.temperature,
            max_tokens=self.max_tokens,
            seed=seed,
            timeout_s=self.timeout_s,
            context_window=self.context_window,
            is_chat_model=self.is_chat_model,
        )
        queue: asyncio.Queue[dict[str, Any]] = asyncio.Queue()
        for chunk in todo:
            queue.put_nowait(chunk)
        answers: dict[str, dict[str, Any]] = {}

        async def worker() -> None:
            while not state.stop:
                try:
                    chunk = queue.get_nowait()
                except asyncio.QueueEmpty:
                    return
                rec = await self._ask(llm, chunk, endpoint, template, key, state)
                if rec is not None:
                    t0 = time.perf_counter()
                    if ckpt:
                        ckpt.append(rec)
                    state.checkpoint_s += time.perf_counter() - t0
                    answers[chunk["id"]] = rec
                if rec is not None or chunk["id"] in state.failures:
                    bar.update(1)
                    if state.failures:
                        bar.set_postfix(failed=len(state.failures), refresh=False)

        try:
            await asyncio.gather(*(worker() for _ in range(min(self.workers(), len(todo)))))
        finally:
            if ckpt:
                await ckpt.drain()
            close = getattr(client, "aclose", None) or client.close
            await close()
        return answers

    async def _ask(
        self,
        llm: Any,
        chunk: dict[str, Any],
        endpoint: Endpoint,
        template: str,
        key: dict[str, str],
        state: _RunState,
    ) -> dict[str, Any] | None:
        """One chunk's answer with retries; None when it failed (recorded in `state`) or the run stops."""
        prompt = render(template, chunk["text"], self.num_questions_per_chunk)
        failure: Failure | None = None
        for attempt in range(self.retries + 1):
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
                resp = await asyncio.wait_for(llm.acomplete(prompt), timeout=self.timeout_s * 2 + 5)
                state.llm_s += time.perf_counter() - t0
                return {
                    "format": CHECKPOINT_FORMAT,
                    "chunk_id": chunk["id"],
                    **key,
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
            if not failure.retryable or attempt == self.retries:
                break
            state.retries += 1
            delay = self._backoff(attempt)
            if failure.retry_after is not None:
                delay = failure.retry_after + random.uniform(0, 0.1 * self.backoff_initial_s)
                state.pause_until = max(state.pause_until, time.monotonic() + delay)  # everyone waits
            log.warning(
                "chunk %s: %s; retry %d/%d in %.2f s",
                chunk["id"],
                failure.message,
                attempt + 1,
                self.retries,
                delay,
            )
            await asyncio.sleep(delay)
        assert failure is not None
        state.failures[chunk["id"]] = redact(failure.message, endpoint.key)
        return None

    def _backoff(self, attempt: int) -> float:
        """Exponential with jitter: between half and all of initial·2^attempt, capped."""
        ceiling = min(self.backoff_max_s, self.backoff_initial_s * (2**attempt))
        return ceiling * random.uniform(0.5, 1.0)

    def _assemble(
        self,
        chunks: Sequence[dict[str, Any]],
        done: dict[str, dict[str, Any]],
        lang: str,
        endpoint: Endpoint,
        p_hash: str,
        template: str,
        state: _RunState,
    ) -> GeneratorResult:
        """Clean every answer in chunk order (so the output does not depend on arrival order): a question
        equal or near to one of an earlier chunk is dropped (the first chunk in document order keeps it),
        unless what sets it apart occurs in its own chunk only (llm_clean.QuestionIndex); then the round-trip
        filter runs on what is left. Ids are given before that filter: a question keeps its id either way."""
        queries: list[Query] = []
        drops: Counter[str] = Counter()
        examples: dict[str, list[str]] = {}
        seen = QuestionIndex(self.near_duplicate_ratio)
        for chunk in chunks:
            rec = done.get(chunk["id"])
            if rec is None:
                continue
            cleaned = clean_reply(
                rec["raw_text"],
                lang,
                self.num_questions_per_chunk,
                self.min_words,
                self.max_words,
                self.near_duplicate_ratio,
            )
            drops.update(cleaned.drops)
            for reason, line in cleaned.dropped:
                _example(examples, reason, line)
            k = 0
            chunk_words = words(chunk["text"])
            for text in cleaned.questions:
                reason = (
                    "duplicate_across_chunks"
                    if seen.exact(text)
                    else "near_duplicate_across_chunks"
                    if seen.near(text, chunk_words)
                    else None
                )
                if reason:
                    drops[reason] += 1
                    _example(examples, reason, text)
                    continue
                seen.add(text, chunk_words)
                queries.append(
                    Query(
                        id=f"llm.{chunk['id']}.{k}",
                        text=text,
                        chunk_ids=[chunk["id"]],
                        generator="llm",
                        llm_model=endpoint.label,
                        prompt_hash=p_hash,
                        raw_text=rec["raw_text"],
                    )
                )
                k += 1
        queries, rt_report = self._round_trip(queries, chunks, drops, examples)
        with_questions = {q.chunk_ids[0] for q in queries}
        answered = sum(1 for c in chunks if c["id"] in done)
        stats = {
            "chunks": len(chunks),
            "chunks_answered": answered,
            "chunks_failed": len(chunks) - answered,
            "chunks_without_questions": sum(
                1 for c in chunks if c["id"] in done and c["id"] not in with_questions
            ),
            "queries": len(queries),
            **{f"dropped_{r}": n for r, n in ordered_counts(drops).items()},
        }
        failed = [
            {"chunk_id": c["id"], "error": state.failures.get(c["id"], "not asked")}
            for c in chunks
            if c["id"] not in done
        ]
        self.report = {
            "llm_model": endpoint.label,
            "base_url": _without_userinfo(endpoint.base_url),
            "prompt_hash": p_hash,
            "prompt_template": template,
            "num_questions_per_chunk": self.num_questions_per_chunk,
            "chunks": {
                k: stats[k]
                for k in ("chunks", "chunks_answered", "chunks_failed", "chunks_without_questions")
            },
            "queries": len(queries),
            "dropped": ordered_counts(drops),
            "examples": {r: examples[r] for r in DROP_REASONS if r in examples},
            "round_trip": rt_report,
            "failed_chunks": failed,
        }
        return GeneratorResult(queries, stats)

    def _round_trip(
        self,
        queries: list[Query],
        chunks: Sequence[dict[str, Any]],
        drops: Counter[str],
        examples: dict[str, list[str]],
    ) -> tuple[list[Query], dict[str, Any]]:
        """The round-trip filter (data.llm.roundtrip) over every chunk given, when `round_trip` is on."""
        settings = {**roundtrip.DEFAULTS, **(self.round_trip or {})}
        if not settings["enabled"]:
            return queries, {"enabled": False}
        spec = self.retriever_spec or roundtrip.resolve_retriever(settings["retriever"], {}).to_json()
        t0 = time.perf_counter()
        encoder = roundtrip.open_retriever(spec)
        try:
            res = roundtrip.round_trip(
                encoder, [q.text for q in queries], [q.chunk_ids for q in queries], chunks, settings["top_k"]
            )
        finally:
            encoder.close()
        for i in res.missed:
            drops["round_trip_miss"] += 1
            _example(examples, "round_trip_miss", queries[i].text)
        self.timing["round_trip_s"] = time.perf_counter() - t0
        log.info(
            "round trip (%s, top %d of %d chunks): kept %d of %d questions",
            spec["name"],
            settings["top_k"],
            len(chunks),
            len(res.kept),
            len(queries),
        )
        report = {
            "enabled": True,
            "retriever": spec["name"],
            "kind": spec["kind"],
            "source": spec.get("source"),
            "top_k": settings["top_k"],
            "checked": len(queries),
            "kept": len(res.kept),
            "missed": len(res.missed),
        }
        return [queries[i] for i in res.kept], report


def _without_userinfo(url: str) -> str:
    """A URL as it may be shown: no user:password@ part."""
    parts = urlsplit(url)
    if "@" not in parts.netloc:
        return url
    return urlunsplit(parts._replace(netloc=parts.netloc.rsplit("@", 1)[1]))


def _example(examples: dict[str, list[str]], reason: str, line: str) -> None:
    bucket = examples.setdefault(reason, [])
    if len(bucket) < EXAMPLES_PER_REASON and line not in bucket:
        bucket.append(line)


register_generator("llm", LlmGenerator)


def generate_llm_queries(
    chunks_path: str | Path,
    output: str | Path,
    report: str | Path,
    checkpoint: str | Path,
    settings: dict[str, Any],
    seed: int,
) -> dict[str, Any]:
    """The rule: ask (or resume), clean, filter, then write the queries file (docs/formats.md) and the drop
    report. `settings` may hold `retriever_spec` (embedlab.data.llm.roundtrip.llm_settings adds it)."""
    chunks_doc = io.read_json(chunks_path)
    settings = dict(settings)
    gen = LlmGenerator(**settings, checkpoint=str(checkpoint))
    result = gen.generate(chunks_doc["chunks"], chunks_doc["lang"], seed)
    where = f"{chunks_doc['corpus']}/{chunks_doc['lang']}"
    if not result.queries:
        log.error("llm %s: every line was dropped; examples: %s", where, gen.report.get("examples"))
        raise EmbedlabError(
            f"generator llm made no queries for {where} (drops: {gen.report.get('dropped')}): see "
            "the examples "
            "in the log; check the model answers in the corpus language, or lower generators.llm.min_words "
            "(round_trip_miss: raise generators.llm.round_trip.top_k)"
        )
    rep = {"format": REPORT_FORMAT, "corpus": chunks_doc["corpus"], "lang": chunks_doc["lang"], **gen.report}
    doc = {
        "format": QUERIES_FORMAT,
        "corpus": chunks_doc["corpus"],
        "lang": chunks_doc["lang"],
        "generator": "llm",
        "settings": settings,
        "seed": seed,
        "stats": result.stats,
        "queries": [asdict(q) for q in result.queries],
    }
    io.write_json(report, rep)
    io.write_json(output, doc)
    log.info("%s llm: %s", where, result.stats)
    return doc
