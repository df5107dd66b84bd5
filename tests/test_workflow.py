"""Integration: the real workflow on real text (.test/config.yaml over tests/corpora) up to the splits."""

from __future__ import annotations

import re
import shutil
import signal
import subprocess
import sys

import pytest
import yaml

from embedlab import io
from embedlab.data.split import POSITIVE_SEP

from conftest import REPO, broken_pdf_config, run_snakemake

pytestmark = pytest.mark.slow
TARGETS = [
    "results/qa/eu_ai_act/en/split.json",
    "results/qa/eu_ai_act/fr/split.json",
    "results/qa/securities_law/zh/split.json",
]


def snakemake(workdir, *args):
    return run_snakemake(workdir, *args)


@pytest.fixture(scope="module")
def run(tmp_path_factory, corpora):
    workdir = tmp_path_factory.mktemp("wf")
    cfg = yaml.safe_load((REPO / ".test" / "config.yaml").read_text())
    cfg["corpus_root"] = str(corpora)
    (workdir / "config.yaml").write_text(yaml.safe_dump(cfg, allow_unicode=True))
    res = snakemake(workdir, *TARGETS)
    assert res.returncode == 0, res.output[-3000:]
    return workdir


def _chunks(run, corpus, lang):
    return io.read_json(run / "results" / "chunks" / corpus / f"{lang}.json")["chunks"]


def test_every_article_is_chunked(run):
    for lang in ("en", "fr"):
        labels = {c["headings"][-1]["label"] for c in _chunks(run, "eu_ai_act", lang) if c["headings"]}
        numbers = {
            int(m.group(1)) if m.group(1) != "premier" else 1
            for m in (re.fullmatch(r"Article (\d+|premier)", lab) for lab in labels)
            if m
        }
        assert numbers == set(range(1, 114)), lang
    zh = {c["headings"][-1]["label"] for c in _chunks(run, "securities_law", "zh") if c["headings"]}
    assert len({lab for lab in zh if lab.endswith("条")}) == 226


def test_splits_are_leak_free_and_headings_complete(run):
    for corpus, lang in (("eu_ai_act", "en"), ("eu_ai_act", "fr"), ("securities_law", "zh")):
        qa = run / "results" / "qa" / corpus / lang
        train, val = io.read_json(qa / "train.json"), io.read_json(qa / "val.json")
        train_chunks = {cid.split(POSITIVE_SEP)[0] for cid in train["corpus"]}
        val_pos = {cid for ids in val["relevant_docs"].values() for cid in ids}
        assert val_pos and not train_chunks & val_pos
        chunks = _chunks(run, corpus, lang)
        assert set(val["corpus"]) == {c["id"] for c in chunks}
        dataset = io.read_json(qa / "dataset.json")
        by_group = {}
        for c in chunks:
            by_group.setdefault(c["group"], []).append(c["id"])
        headings = [q for q in dataset["queries"] if q.startswith("headings.")]
        assert headings
        for qid in headings:
            positives = dataset["relevant_docs"][qid]
            group = next(c["group"] for c in chunks if c["id"] == positives[0])
            assert positives == by_group[group]
        prov = io.read_json(qa / "provenance.json")
        assert {p["generator"] for p in prov["queries"].values()} == {"ict", "headings"}


def test_rerun_does_nothing_and_outputs_are_byte_identical(run, tmp_path):
    res = snakemake(run, *TARGETS, "-n")
    assert "Nothing to be done" in res.output, res.output[-2000:]
    before = {t: (run / t).read_bytes() for t in TARGETS}
    again = tmp_path / "again"
    again.mkdir()
    shutil.copy(run / "config.yaml", again / "config.yaml")
    res = snakemake(again, *TARGETS)
    assert res.returncode == 0, res.output[-2000:]
    for t in TARGETS:
        assert (again / t).read_bytes() == before[t]
    for name in (
        "chunks/securities_law/zh.json",
        "qa/securities_law/zh/train.json",
        "qa/eu_ai_act/en/val.json",
    ):
        assert (again / "results" / name).read_bytes() == (run / "results" / name).read_bytes()


def test_bad_corpus_fails_with_one_line_and_leaves_no_output(tmp_path):
    root = broken_pdf_config(tmp_path).parent
    res = snakemake(tmp_path, "results/chunks/bad/en.json")
    assert res.returncode != 0
    log = (tmp_path / "logs" / "chunk_corpus" / "bad" / "en.log").read_text()
    assert f"corpus bad/en: {root / 'broken.pdf'} is not a readable PDF" in log
    assert not (tmp_path / "results" / "chunks" / "bad" / "en.json").exists()
    assert not list((tmp_path / "results").rglob("*.json*"))


def test_killed_chunking_leaves_no_partial_file(tmp_path, corpora):
    """SIGKILL while the chunk file is being written (after its temp file is complete, before the rename):
    the target never exists half-written, and a rerun produces it."""
    out = tmp_path / "out" / "zh.json"
    args = f"{str(corpora / 'securities_law' / 'securities_law_2019.pdf')!r}, {str(out)!r}, 'c', 'zh'"
    code = (
        "import os, sys, time\n"
        "import embedlab.io as eio\n"
        "def stuck(src, dst):\n"
        "    print('WRITING', flush=True)\n"
        "    time.sleep(60)\n"
        "eio.os.replace = stuck\n"
        "from embedlab.data.chunking import chunk_corpus\n"
        f"chunk_corpus({args})\n"
    )
    proc = subprocess.Popen([sys.executable, "-c", code], stdout=subprocess.PIPE, text=True)
    assert proc.stdout.readline().strip() == "WRITING"
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    assert not out.exists()  # only a hidden temp file may remain; no later run takes it for the output
    code = f"from embedlab.data.chunking import chunk_corpus\nchunk_corpus({args})\n"
    subprocess.run([sys.executable, "-c", code], check=True, capture_output=True)
    assert len(io.read_json(out)["chunks"]) > 200


def test_url_source_is_downloaded_once_into_resources(tmp_path, corpora):
    import functools
    import http.server
    import threading

    handler = functools.partial(http.server.SimpleHTTPRequestHandler, directory=str(corpora / "eu_ai_act"))
    handler.log_message = lambda *a: None
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        url = f"http://127.0.0.1:{server.server_port}/FR.md"
        cfg = {
            "corpora": {"act": {"languages": {"fr": {"file": "act/FR.md", "url": url}}}},
            "generators": {"use": ["headings"]},
        }
        (tmp_path / "config.yaml").write_text(yaml.safe_dump(cfg))
        res = snakemake(tmp_path, "results/qa/act/fr/split.json")
        assert res.returncode == 0, res.output[-3000:]
        assert (tmp_path / "resources" / "act" / "FR.md").read_bytes() == (
            corpora / "eu_ai_act" / "FR.md"
        ).read_bytes()
        res = snakemake(tmp_path, "results/qa/act/fr/split.json", "-n")
        assert "Nothing to be done" in res.output
    finally:
        server.shutdown()
        server.server_close()
    # offline: the download fails with the URL and the path where the file can be put by hand
    other = tmp_path / "offline"
    other.mkdir()
    (other / "config.yaml").write_text(yaml.safe_dump(cfg))
    res = snakemake(other, "results/chunks/act/fr.json")
    assert res.returncode != 0
    log = (other / "logs" / "download_source" / "act" / "FR.md.log").read_text()
    assert f"cannot download {url}" in log and "save it as resources/act/FR.md" in log
