"""The `llm` query generator: the tutorial's reverse-HyDE questions ("you are a Teacher/Professor… set up N
questions"), asked of Ollama, OpenAI or any OpenAI-compatible server through llama-index's LLM classes.

Unlike the tutorial's `generate_qa_embedding_pairs` (one blocking call at a time, resume by position,
preambles kept as questions) it
- asks concurrently (asyncio, a bounded number of requests in flight per provider) with a progress bar,
  retrying what can be retried (`embedlab.data.llm.asking`);
- appends every answer to a checkpoint (`embedlab.data.llm.checkpoint`) keyed by chunk id + prompt hash +
  model + options, so a killed run resumes without asking again and a changed prompt or model is never
  reused;
- cleans replies (`embedlab.data.llm.cleaning`), drops questions repeated (or nearly) from an earlier chunk
  and, when `round_trip` is on, questions a reference retriever cannot tie back to their chunk
  (`embedlab.data.llm.roundtrip`), counting every dropped line by reason in a report.
Keys come only from environment variables and are redacted from every message. Prompts:
`embedlab.data.llm.prompts`.

Why this long: asking, resuming, asking once more (a reply in another language) and the filters (cleaning,
semantic dedup, round trip) share one run's state (checkpoint keys, drop counts and examples, timings); the
work itself lives in the modules named above.
"""

from __future__ import annotations

import hashlib
import itertools
import json
import logging
import time
from collections import Counter
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit, urlunsplit

from embedlab import io
from embedlab.data.generator import QUERIES_FORMAT, GeneratorResult, Query
from embedlab.data.llm import judge, roundtrip
from embedlab.data.llm.asking import Ask, Asking, RetryPolicy, RunState, ask_chunks
from embedlab.data.llm.checkpoint import Checkpoint
from embedlab.data.llm.cleaning import DROP_REASONS, QuestionIndex, clean_reply, ordered_counts, words
from embedlab.data.llm.dedup import semantic_duplicates
from embedlab.data.llm.prompts import (
    ChunkPrompt,
    chunk_prompt,
    prompt_hash,
    prompt_template,
    reminded,
    render,
    type_instructions,
)
from embedlab.data.llm.providers import Endpoint, resolve_endpoint
from embedlab.errors import EmbedlabError
from embedlab.models.spec import ModelSpec
from embedlab.settings import schema_default

log = logging.getLogger(__name__)


def _default(key: str) -> Any:
    return schema_default("generators", "llm", key)


REPORT_FORMAT = "embedlab.llm_report/1"
JUDGE_PASS = "judge"  # the `pass` of the judge's checkpoint records


@dataclass
class LlmQuery(Query):
    """An LLM question also records the type and persona its chunk drew (null when none is configured)."""

    query_type: str | None = None
    persona: str | None = None
    judge: dict[str, Any] | None = None  # the judge's scores and reason, when generators.llm.judge is on


EXAMPLES_PER_REASON = 3


@dataclass
class LlmGenerator:
    """Questions written by an LLM for each chunk; settings are `generators.llm` in the config schema,
    whose defaults are these fields' defaults (read from the schema, not repeated here)."""

    provider: str = _default("provider")
    model: str | None = _default("model")
    base_url: str | None = _default("base_url")
    api_key_env: str | None = _default("api_key_env")
    num_questions_per_chunk: int = _default("num_questions_per_chunk")
    prompts: dict[str, str] = field(default_factory=lambda: _default("prompts"))
    types: dict[str, float] = field(default_factory=lambda: _default("types"))
    type_prompts: dict[str, str] = field(default_factory=lambda: _default("type_prompts"))
    personas: list[str] = field(default_factory=lambda: _default("personas"))
    multi_hop_chunks: int = _default("multi_hop_chunks")
    temperature: float = _default("temperature")
    max_tokens: int = _default("max_tokens")
    seed: int | None = _default("seed")
    context_window: int = _default("context_window")
    is_chat_model: bool = _default("is_chat_model")
    concurrency: dict[str, int] | int = field(default_factory=lambda: _default("concurrency"))
    timeout_s: float = _default("timeout_s")
    retries: int = _default("retries")
    backoff_initial_s: float = _default("backoff_initial_s")
    backoff_max_s: float = _default("backoff_max_s")
    max_failed_fraction: float = _default("max_failed_fraction")
    min_words: int = _default("min_words")
    max_words: int = _default("max_words")
    near_duplicate_ratio: float = _default("near_duplicate_ratio")
    uses_gpu: bool | None = _default("uses_gpu")
    round_trip: dict[str, Any] = field(default_factory=lambda: _default("round_trip"))
    semantic_dedup: dict[str, Any] = field(default_factory=lambda: _default("semantic_dedup"))
    judge: dict[str, Any] = field(default_factory=lambda: _default("judge"))
    checkpoint: str | None = None  # set by the rule (a path beside the output); None: no resume
    # set by the rule: round_trip.retriever resolved in the config's models (None: plain BM25 for `bm25`)
    retriever_spec: ModelSpec | None = None
    dedup_spec: ModelSpec | None = None  # set by the rule: semantic_dedup's model resolved (None: off)
    progress: bool = True
    report: dict[str, Any] = field(default_factory=dict, init=False, repr=False)
    reasked: set[str] = field(default_factory=set, init=False, repr=False)  # chunks asked twice (language)
    asks: dict[str, ChunkPrompt] = field(default_factory=dict, init=False, repr=False)  # per chunk
    timing: dict[str, float] = field(default_factory=dict, init=False, repr=False)

    def template(self, lang: str) -> str:
        """The configured or tuned prompt of `lang`, else the generic one naming the language (langcodes)."""
        return prompt_template(lang, self.prompts or {})

    def workers(self) -> int:
        if isinstance(self.concurrency, int):
            return max(1, self.concurrency)
        per_provider = {**_default("concurrency"), **(self.concurrency or {})}
        return max(1, int(per_provider[self.provider]))

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
        key = {"model": endpoint.label, "options": self.options_hash(seed_used)}
        self.asks = self._chunk_prompts(chunks, template, lang, seed)
        first = {cid: a.template for cid, a in self.asks.items()}
        again_t = {cid: reminded(t, lang) for cid, t in first.items()}
        ckpt = Checkpoint(self.checkpoint) if self.checkpoint else None
        hashes = [{cid: prompt_hash(t) for cid, t in ts.items()} for ts in (first, again_t)]
        done, retried = self._resume(ckpt, key, hashes)
        todo = [c for c in chunks if c["id"] not in done]
        log.info(
            "llm %s (%s): %d chunks, %d already answered in the checkpoint, %d to ask, %d at a time",
            endpoint.label,
            lang,
            len(chunks),
            len(chunks) - len(todo),
            len(todo),
            self.workers(),
        )
        state = RunState(allowed_failures=int(self.max_failed_fraction * len(chunks)))
        llm_options = {
            "temperature": self.temperature,
            "max_tokens": self.max_tokens,
            "seed": seed_used,
            "timeout_s": self.timeout_s,
            "context_window": self.context_window,
            "is_chat_model": self.is_chat_model,
        }
        policy = RetryPolicy(self.retries, self.timeout_s, self.backoff_initial_s, self.backoff_max_s)
        asking = Asking(endpoint, key, llm_options, policy, self.workers())
        texts = self._contexts(chunks)
        n = self.num_questions_per_chunk
        try:
            if todo:
                ask = _asks(first, texts, [c["id"] for c in todo], n)
                desc = f"llm questions ({lang})"
                done.update(ask_chunks(asking, ask, len(chunks), desc, self.progress, ckpt, state))
            strayed = [c["id"] for c in chunks if c["id"] in done and self._strayed(done[c["id"]], lang)]
            again = _asks(again_t, texts, [cid for cid in strayed if cid not in retried], n)
            if again:  # once, with a reminder of the language; what still strays is dropped and counted
                desc = f"llm re-asked ({lang})"
                retried.update(ask_chunks(asking, again, len(strayed), desc, self.progress, ckpt, state))
        finally:
            if ckpt:
                ckpt.close()
        self.reasked = {cid for cid in strayed if cid in retried}
        done = {**done, **{cid: retried[cid] for cid in self.reasked}}
        self._check_failures([c["id"] for c in chunks], done, state, ckpt is not None)
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

    def _chunk_prompts(
        self, chunks: Sequence[dict[str, Any]], template: str, lang: str, seed: int
    ) -> dict[str, ChunkPrompt]:
        """Each chunk's template with the question type and persona it draws (prompts.chunk_prompt); a
        multi-hop one is read with up to `multi_hop_chunks` - 1 chunks after it in its group (the split
        keeps a group on one side, so its questions never straddle train and val)."""
        shares, personas = self.types or {}, self.personas or []
        instructions = type_instructions(shares, self.type_prompts or {})
        out = {}
        for i, c in enumerate(chunks):
            after = chunks[i + 1 : i + self.multi_hop_chunks]
            group = c.get("group")
            partners = [p["id"] for p in itertools.takewhile(lambda p, g=group: p.get("group") == g, after)]
            args = (instructions, shares, personas, partners)
            out[c["id"]] = chunk_prompt(template, lang, c["id"], seed, *args)
        return out

    def _contexts(self, chunks: Sequence[dict[str, Any]]) -> dict[str, str]:
        """What each chunk's prompt reads: its text, or the passages of its multi-hop question."""
        texts = {c["id"]: c["text"] for c in chunks}
        return {cid: (self.asks.get(cid) or ChunkPrompt("")).context(texts, cid) for cid in texts}

    def _resume(
        self, ckpt: Checkpoint | None, key: dict[str, str], hashes: list[dict[str, str]]
    ) -> list[dict[str, dict[str, Any]]]:
        """Per set of requests ({chunk or question id: prompt hash}), the checkpoint's answers to them made
        with this `key` (model, options and, for the judge, its pass): {id: record}. Opens (locks) `ckpt`."""
        found: list[dict[str, dict[str, Any]]] = [{} for _ in hashes]
        if ckpt is None:
            return found
        wanted = {(h, rid): i for i, hs in enumerate(hashes) for rid, h in hs.items()}
        stale = 0
        ckpt.open()  # lock first, then read: nobody else appends meanwhile
        for rec in ckpt.read():
            if rec.get("pass") != key.get("pass"):
                continue  # the other pass's records (questions / the judge's verdicts)
            i = wanted.get((rec.get("prompt_hash"), rec.get("chunk_id")))
            if i is None or any(rec.get(k) != v for k, v in key.items()):
                stale += 1
            else:
                found[i].setdefault(rec["chunk_id"], rec)
        if ckpt.bad_lines:
            log.warning("%s: skipped %d incomplete line(s) (a killed run)", ckpt.path, ckpt.bad_lines)
        if stale:
            log.info(
                "%s: %d answer(s) for another prompt/model/options are kept but not reused", ckpt.path, stale
            )
        return found

    def _strayed(self, rec: dict[str, Any], lang: str) -> bool:
        """Whether a reply lost a line to another language (the chunk is asked once more)."""
        cleaned = clean_reply(rec["raw_text"], lang, self.num_questions_per_chunk, self.min_words,
                              self.max_words, self.near_duplicate_ratio)  # fmt: skip
        return cleaned.drops["wrong_language"] > 0

    def _check_failures(
        self,
        ids: list[str],
        done: dict[str, dict[str, Any]],
        state: RunState,
        resumable: bool,
        what: str = "chunks",
    ) -> None:
        """Stop on a fatal error or when more chunks (or judged questions) failed than
        `max_failed_fraction` allows."""
        if state.fatal:
            raise EmbedlabError(state.fatal)
        for cid, err in state.failures.items():
            log.warning("%s %s failed after retries: %s", what.removesuffix("s"), cid, err)
        missing = [cid for cid in ids if cid not in done]
        if len(missing) > state.allowed_failures:
            first = next(iter(state.failures.values()), "none")
            where = (
                f"; answers so far are kept in {self.checkpoint}, a rerun asks only the rest"
                if resumable
                else ""
            )
            not_asked = len(missing) - len(state.failures)
            stopped = f" ({not_asked} not asked: the run stopped early)" if not_asked else ""
            raise EmbedlabError(
                f"llm: {len(state.failures)} of {len(ids)} {what} failed after retries{stopped}; at most "
                f"{self.max_failed_fraction:.0%} may fail (generators.llm.max_failed_fraction); first error: "
                f"{first}{where}"
            )

    def _assemble(
        self,
        chunks: Sequence[dict[str, Any]],
        done: dict[str, dict[str, Any]],
        lang: str,
        endpoint: Endpoint,
        p_hash: str,
        template: str,
        state: RunState,
    ) -> GeneratorResult:
        """The cleaned questions (`_clean_answers`) through the round-trip filter, with their stats and the
        drop report. Ids are given before that filter: a question keeps its id either way."""
        drops: Counter[str] = Counter()
        examples: dict[str, list[str]] = {}
        queries = self._clean_answers(chunks, done, lang, endpoint, p_hash, drops, examples)
        queries = self._semantic_dedup(queries, drops, examples)
        queries, rt_report = self._round_trip(queries, chunks, drops, examples)
        queries, judge_report = self._judge(queries, chunks, lang, drops, examples)
        with_questions = {q.chunk_ids[0] for q in queries}
        answered = sum(1 for c in chunks if c["id"] in done)
        stats = {
            "chunks": len(chunks),
            "chunks_answered": answered,
            "chunks_failed": len(chunks) - answered,
            "chunks_without_questions": sum(
                1 for c in chunks if c["id"] in done and c["id"] not in with_questions
            ),
            "chunks_reasked": len(self.reasked),
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
                for k in (
                    "chunks",
                    "chunks_answered",
                    "chunks_failed",
                    "chunks_without_questions",
                    "chunks_reasked",
                )
            },
            "queries": len(queries),
            "dropped": ordered_counts(drops),
            "examples": {r: examples[r] for r in DROP_REASONS if r in examples},
            "round_trip": rt_report,
            "judge": judge_report,
            "failed_chunks": failed,
            **self._mix_report(queries),
        }
        return GeneratorResult(queries, stats)

    def _mix_report(self, queries: list[LlmQuery]) -> dict[str, Any]:
        """llm.report.json's `types` and `personas` (when configured): each one's share or instruction, the
        chunks that drew it and the questions kept."""
        out: dict[str, Any] = {}
        if self.types:
            instructions = type_instructions(self.types, self.type_prompts or {})
            drew = Counter(a.query_type for a in self.asks.values())
            kept = Counter(q.query_type for q in queries)
            out["types"] = {
                t: {"share": share, "instruction": instructions[t], "chunks": drew[t], "queries": kept[t]}
                for t, share in self.types.items()
            }
        if self.personas:
            drew = Counter(a.persona for a in self.asks.values())
            kept = Counter(q.persona for q in queries)
            out["personas"] = {p: {"chunks": drew[p], "queries": kept[p]} for p in self.personas}
        return out

    def _clean_answers(
        self,
        chunks: Sequence[dict[str, Any]],
        done: dict[str, dict[str, Any]],
        lang: str,
        endpoint: Endpoint,
        p_hash: str,
        drops: Counter[str],
        examples: dict[str, list[str]],
    ) -> list[LlmQuery]:
        """Clean every answer in chunk order (so the output does not depend on arrival order): a question
        equal or near to one of an earlier chunk is dropped (the first chunk in document order keeps it),
        unless what sets it apart occurs in its own chunk only (cleaning.QuestionIndex). Every dropped line
        is counted in `drops` by reason, with a few `examples`."""
        queries: list[LlmQuery] = []
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
            ask = self.asks.get(chunk["id"]) or ChunkPrompt("")
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
                    LlmQuery(
                        id=f"llm.{chunk['id']}.{k}",
                        text=text,
                        chunk_ids=[chunk["id"], *ask.with_chunks],
                        generator="llm",
                        llm_model=endpoint.label,
                        prompt_hash=rec.get("prompt_hash", p_hash),  # a re-asked chunk: the reminder's
                        raw_text=rec["raw_text"],
                        query_type=ask.query_type,
                        persona=ask.persona,
                    )
                )
                k += 1
        return queries

    def _semantic_dedup(
        self, queries: list[LlmQuery], drops: Counter[str], examples: dict[str, list[str]]
    ) -> list[LlmQuery]:
        """Paraphrases across chunks dropped by the dedup model (data.llm.dedup), when it is on."""
        settings = {**_default("semantic_dedup"), **(self.semantic_dedup or {})}
        if not settings["enabled"]:
            return queries
        if self.dedup_spec is None:
            raise EmbedlabError("semantic_dedup is on but no model was resolved: set semantic_dedup.model")
        t0 = time.perf_counter()
        texts, owners = [q.text for q in queries], [q.chunk_ids[0] for q in queries]
        dropped = semantic_duplicates(texts, owners, self.dedup_spec, settings["threshold"])
        self.timing["semantic_dedup_s"] = time.perf_counter() - t0
        return _without(queries, dropped, "semantic_duplicate_across_chunks", drops, examples)

    def _round_trip(
        self,
        queries: list[LlmQuery],
        chunks: Sequence[dict[str, Any]],
        drops: Counter[str],
        examples: dict[str, list[str]],
    ) -> tuple[list[LlmQuery], dict[str, Any]]:
        """The round-trip filter (data.llm.roundtrip) over every chunk given, when `round_trip` is on."""
        settings = {**_default("round_trip"), **(self.round_trip or {})}
        if not settings["enabled"]:
            return queries, {"enabled": False}
        t0 = time.perf_counter()
        res, report = roundtrip.filter_questions(
            [q.text for q in queries], [q.chunk_ids for q in queries], chunks, settings, self.retriever_spec
        )
        self.timing["round_trip_s"] = time.perf_counter() - t0
        return _without(queries, res.missed, "round_trip_miss", drops, examples), report

    def _judge(
        self,
        queries: list[LlmQuery],
        chunks: Sequence[dict[str, Any]],
        lang: str,
        drops: Counter[str],
        examples: dict[str, list[str]],
    ) -> tuple[list[LlmQuery], dict[str, Any]]:
        """The judge's pass (data.llm.judge) over the questions still kept, when it is on: each question
        keeps its scores or is dropped with the reason counted."""
        settings = {**_default("judge"), **(self.judge or {})}
        if not settings["enabled"] or not queries:
            return queries, {"enabled": bool(settings["enabled"])}
        t0 = time.perf_counter()
        templ = judge.template(settings["prompt"])
        j_hash = prompt_hash(templ)
        texts = self._contexts(chunks)
        asks = {q.id: judge.ask(j_hash, templ, q.text, texts[q.chunk_ids[0]]) for q in queries}
        label, done = self._ask_judge(asks, settings, lang)
        kept, threshold = [], settings["threshold"]
        for q in queries:
            verdict = judge.read_verdict(done[q.id]["raw_text"]) if q.id in done else None
            reason = (
                "judge_failed" if verdict is None
                else "judge_unreadable" if not verdict.readable
                else None if verdict.keeps(threshold)
                else "judge_below_threshold"
            )  # fmt: skip
            if reason:
                drops[reason] += 1
                _example(examples, reason, q.text)
                continue
            q.judge = verdict.provenance()
            kept.append(q)
        self.timing["judge_s"] = time.perf_counter() - t0
        report = {"enabled": True, "llm_model": label, "prompt_hash": j_hash, "threshold": threshold,
                  "judged": len(done), "kept": len(kept)}  # fmt: skip
        return kept, report

    def _ask_judge(
        self, asks: dict[str, Ask], settings: dict[str, Any], lang: str
    ) -> tuple[str, dict[str, dict[str, Any]]]:
        """The judge's replies by question id (its model's label too): from the checkpoint where it has
        them (same judge prompt, model and options), the rest asked and appended there."""
        same = settings["provider"] in (None, self.provider)

        def setting(name: str) -> Any:  # the judge's own, else the generator's when the provider is the same
            return settings[name] or (getattr(self, name) if same else None)

        provider = settings["provider"] or self.provider
        endpoint = resolve_endpoint(provider, setting("model"), setting("base_url"), setting("api_key_env"))
        options = judge.options_hash(0.0, settings["max_tokens"], self.seed)
        key = {"model": endpoint.label, "options": options, "pass": JUDGE_PASS}
        ckpt = Checkpoint(self.checkpoint) if self.checkpoint else None
        state = RunState(allowed_failures=int(self.max_failed_fraction * len(asks)))
        try:
            (done,) = self._resume(ckpt, key, [{qid: a.prompt_hash for qid, a in asks.items()}])
            todo = {qid: a for qid, a in asks.items() if qid not in done}
            if todo:
                llm_options = {"temperature": 0.0, "max_tokens": settings["max_tokens"], "seed": self.seed,
                               "timeout_s": self.timeout_s, "context_window": self.context_window,
                               "is_chat_model": self.is_chat_model}  # fmt: skip
                policy = RetryPolicy(self.retries, self.timeout_s, self.backoff_initial_s, self.backoff_max_s)
                asking = Asking(endpoint, key, llm_options, policy, self.workers())
                desc = f"llm judge ({lang})"
                done.update(ask_chunks(asking, todo, len(asks), desc, self.progress, ckpt, state))
        finally:
            if ckpt:
                ckpt.close()
        self._check_failures(list(asks), done, state, ckpt is not None, "judged questions")
        return endpoint.label, done


def _asks(templates: dict[str, str], texts: dict[str, str], ids: list[str], n: int) -> dict[str, Ask]:
    """The requests of chunks `ids`: each its template's hash and the template filled with its text."""
    return {cid: Ask(prompt_hash(templates[cid]), render(templates[cid], texts[cid], n)) for cid in ids}


def _without(
    queries: list[LlmQuery],
    dropped: Sequence[int],
    reason: str,
    drops: Counter[str],
    examples: dict[str, list[str]],
) -> list[LlmQuery]:
    """`queries` but the `dropped` indices, each counted under `reason` (a few kept as examples)."""
    for i in dropped:
        drops[reason] += 1
        _example(examples, reason, queries[i].text)
    gone = set(dropped)
    return [q for i, q in enumerate(queries) if i not in gone]


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


def generate_llm_queries(
    chunks_path: str | Path,
    output: str | Path,
    report: str | Path,
    checkpoint: str | Path,
    settings: dict[str, Any],
    seed: int,
) -> dict[str, Any]:
    """The rule: ask (or resume), clean, filter, then write the queries file (docs/formats.md) and the drop
    report. `settings` may hold `retriever_spec` and `dedup_spec` (the workflow's plan resolves them:
    `Plan.llm`)."""
    chunks_doc = io.read_json(chunks_path)
    settings = dict(settings)
    specs = {k: settings.get(k) for k in ("retriever_spec", "dedup_spec")}
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
        "settings": {**settings, **{k: spec and asdict(spec) for k, spec in specs.items()}},
        "seed": seed,
        "stats": result.stats,
        "queries": [asdict(q) for q in result.queries],
    }
    io.write_json(report, rep)
    io.write_json(output, doc)
    log.info("%s llm: %s", where, result.stats)
    return doc
