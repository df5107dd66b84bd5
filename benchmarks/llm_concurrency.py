"""LLM query generation throughput: the tutorial's one-call-at-a-time path vs embedlab's concurrent one,
against the local fake server (tests/llm_server.py, in its own process) with a fixed latency per request,
in the same run.

- tutorial: llama-index's `generate_qa_embedding_pairs` with `Ollama(model=…, request_timeout=120)`, as the
  course runs it (sequential `llm.complete`);
- embedlab at concurrency 1, 8 and 16 (`LlmGenerator`, checkpoint on, real cleaning), the same chunks.
Also the share of wall time spent parsing/cleaning replies and writing (fsync'ing) the checkpoint.

Targets (issue 3): 8 concurrent requests >= 6x the throughput of one at a time; parsing + checkpointing
< 5 % of wall time.

Usage: .venv/bin/python benchmarks/llm_concurrency.py [--chunks 48] [--latency 0.2]
"""

from __future__ import annotations

import argparse
import logging
import subprocess
import sys
import tempfile
import time
import warnings
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from types import SimpleNamespace

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "src"))

from embedlab import io  # noqa: E402
from embedlab.data.chunking import ChunkingSettings, chunk_corpus  # noqa: E402
from embedlab.data.llm.generation import LlmGenerator  # noqa: E402


@contextmanager
def server_process(latency: float) -> Iterator[str]:
    """The fake server in its own process, so its threads do not share the client's interpreter lock."""
    proc = subprocess.Popen(
        [sys.executable, str(REPO / "tests" / "llm_server.py"), str(latency)],
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        yield proc.stdout.readline().strip()
    finally:
        proc.terminate()
        proc.wait()


def real_chunks(corpora: Path, n: int, tmp: Path) -> list[dict]:
    """n chunks of the AI Act (EN), 300 cl100k tokens at most, from the real chunker."""
    lines = (corpora / "eu_ai_act" / "EN.md").read_text(encoding="utf-8").split("\n")
    src = tmp / "EN.md"
    src.write_text("\n".join(lines[:1] + lines[180:900]), encoding="utf-8")
    chunk_corpus(
        src,
        tmp / "en.json",
        "eu_ai_act",
        "en",
        ChunkingSettings.default(chunk_size=300, chunk_overlap=0, tokenizer="cl100k_base"),
    )
    chunks = io.read_json(tmp / "en.json")["chunks"]
    if len(chunks) < n:
        raise SystemExit(f"only {len(chunks)} chunks in the slice; ask for fewer")
    return chunks[:n]


def tutorial(chunks: list[dict], url: str, tmp: Path) -> float:
    warnings.filterwarnings("ignore", category=DeprecationWarning)
    from llama_index.core.schema import TextNode
    from llama_index.finetuning import generate_qa_embedding_pairs
    from llama_index.llms.ollama import Ollama

    nodes = [TextNode(id_=c["id"], text=c["text"]) for c in chunks]
    llm = Ollama(model="qwen2:7b-instruct-q4_0", base_url=url, request_timeout=120.0)
    start = time.perf_counter()
    ds = generate_qa_embedding_pairs(
        nodes=nodes, llm=llm, num_questions_per_chunk=2, output_path=str(tmp / "tutorial.json"), verbose=False
    )
    wall = time.perf_counter() - start
    if len(ds.queries) < len(chunks):  # it swallows errors (on_failure="continue"): make sure it worked
        raise SystemExit(f"the tutorial path made only {len(ds.queries)} queries: its timing is meaningless")
    return wall


def embedlab(chunks: list[dict], url: str, tmp: Path, concurrency: int) -> tuple[float, dict]:
    gen = LlmGenerator(
        provider="ollama",
        base_url=url,
        concurrency=concurrency,
        checkpoint=str(tmp / f"c{concurrency}.jsonl"),
        progress=False,
    )
    start = time.perf_counter()
    gen.generate(chunks, "en", 42)
    return time.perf_counter() - start, gen.timing


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--chunks", type=int, default=48)
    parser.add_argument("--latency", type=float, default=0.2, help="seconds per request at the fake server")
    parser.add_argument("--corpora", type=Path, default=REPO / "tests" / "corpora")
    args = parser.parse_args()
    logging.basicConfig(level=logging.WARNING)
    with tempfile.TemporaryDirectory() as d, server_process(args.latency) as url:
        srv = SimpleNamespace(url=url)
        tmp = Path(d)
        chunks = real_chunks(args.corpora, args.chunks, tmp)
        (tmp / "warm").mkdir()
        embedlab(chunks[:2], srv.url, tmp / "warm", 2)  # imports and first connections, outside the timings
        rows = [("tutorial (generate_qa_embedding_pairs)", tutorial(chunks, srv.url, tmp), None)]
        for c in (1, 8, 16):
            wall, timing = embedlab(chunks, srv.url, tmp, c)
            rows.append((f"embedlab, concurrency {c}", wall, timing))
    n, base, one = args.chunks, rows[0][1], rows[1][1]
    print(f"{n} chunks, {args.latency * 1000:.0f} ms per request (fake Ollama server)\n")
    print(
        "| path | wall s | chunks/s | vs tutorial | vs embedlab c=1 | parse+checkpoint % of wall "
        "| fsync s (background) |"
    )
    print("|---|---|---|---|---|---|---|")
    for name, wall, timing in rows:
        over = fsync = ""
        if timing is not None:
            over = f"{100 * (timing['checkpoint_s'] + timing['clean_s']) / wall:.2f}"
            fsync = f"{timing['fsync_s']:.2f}"
        print(
            f"| {name} | {wall:.2f} | {n / wall:.1f} | {base / wall:.1f}x | {one / wall:.1f}x | {over} "
            f"| {fsync} |"
        )


if __name__ == "__main__":
    main()
