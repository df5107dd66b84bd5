"""Where corpus files come from: the shipped default, local files, URLs downloaded once, and the one-line
errors a run gives before any job starts; config and data errors are not retried."""

from __future__ import annotations

import os

import pytest
import yaml

from embedlab.data.corpus import Source, locate_corpus_root, resolve_source
from embedlab.errors import EmbedlabError

from conftest import REPO, broken_pdf_config, run_snakemake

PROFILE_LINE = "Using workflow specific profile"


def _lines(output: str) -> list[str]:
    return [ln for ln in output.splitlines() if ln.strip() and not ln.startswith(PROFILE_LINE)]


def test_local_file_wins_then_resources_then_url(tmp_path):
    root, res = tmp_path / "root", tmp_path / "res"
    (root / "a").mkdir(parents=True)
    (res / "b").mkdir(parents=True)
    (root / "a" / "x.md").write_text("# x\n")
    (res / "b" / "y.md").write_text("# y\n")
    url = "https://example.org/z.md"
    assert resolve_source("c", "en", "a/x.md", url, str(root), str(res)) == Source(root / "a" / "x.md")
    assert resolve_source("c", "en", "b/y.md", None, str(root), str(res)) == Source(res / "b" / "y.md")
    assert resolve_source("c", "en", "z.md", url, str(root), str(res)) == Source(res / "z.md", url)
    assert (
        resolve_source("c", "en", str(root / "a" / "x.md"), None, None, str(res)).path == root / "a" / "x.md"
    )


def test_missing_file_without_url_names_the_places_and_the_fix(tmp_path):
    with pytest.raises(EmbedlabError) as err:
        resolve_source("law", "zh", "law.pdf", None, str(tmp_path / "root"), "resources")
    msg = str(err.value)
    assert msg.startswith(
        f"corpus law/zh: law.pdf is not at {tmp_path / 'root' / 'law.pdf'} or resources/law.pdf"
    )
    assert "corpora.law.languages.zh.url" in msg and "\n" not in msg


def test_relative_corpus_root_falls_back_to_the_workflow_folder(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    assert locate_corpus_root("data/corpora", REPO) == str(REPO / "data" / "corpora")
    (tmp_path / "data" / "corpora").mkdir(parents=True)
    assert locate_corpus_root("data/corpora", REPO) == "data/corpora"  # the working directory's own wins
    assert locate_corpus_root(None, REPO) is None


def test_default_config_runs_on_the_shipped_documents_without_shared_or_network(tmp_path, monkeypatch):
    monkeypatch.delenv("EMBEDLAB_CORPUS_ROOT", raising=False)
    shipped = REPO / "data" / "corpora"
    cfg = yaml.safe_load((REPO / "config.yaml").read_text())
    assert cfg["corpus_root"] == "data/corpora"
    for corpus in cfg["corpora"].values():
        for spec in corpus["languages"].values():
            assert (shipped / spec["file"]).is_file(), spec["file"]
    assert (
        "2011/833/EU" in (shipped / "SOURCES.md").read_text()
        and "© European Union" in (shipped / "SOURCES.md").read_text()
    )
    res = run_snakemake(tmp_path, "-n", configfile=REPO / "config.yaml", timeout=180)
    assert res.returncode == 0, res.output[-2000:]
    assert "rule download_source" not in res.output and "rule chunk_corpus" in res.output


def test_local_file_with_url_is_used_and_missing_one_is_downloaded(tmp_path, corpora):
    url = "https://eur-lex.europa.eu/legal-content/EN/TXT/HTML/?uri=CELEX:32024R1689"
    cfg = {
        "corpus_root": str(corpora),
        "corpora": {
            "act": {"languages": {"en": {"file": "eu_ai_act/EN.html", "url": url}}},
            "other": {"languages": {"en": {"file": "elsewhere/EN.html", "url": url}}},
        },
    }
    (tmp_path / "config.yaml").write_text(yaml.safe_dump(cfg))
    res = run_snakemake(tmp_path, "-n", "results/chunks/act/en.json", "results/chunks/other/en.json")
    assert res.returncode == 0, res.output[-2000:]
    assert res.output.count("rule download_source") == 1 and "resources/elsewhere/EN.html" in res.output
    assert str(corpora / "eu_ai_act" / "EN.html") in res.output


@pytest.mark.parametrize(
    ("config", "expected"),
    [
        (
            {"corpora": {"x": {"languages": {"en": {"file": "nothere.md"}}}}},
            "corpus x/en: nothere.md is not at resources/nothere.md: put it there",
        ),
        (
            {"corpora": {"x": {"languages": {"en": {"fiel": "a.md"}}}}},
            "config error at corpora.x.languages.en: unknown key 'fiel' (allowed: file, questions, url)",
        ),
    ],
)
def test_dag_time_problems_print_one_line_and_no_traceback(tmp_path, config, expected):
    (tmp_path / "config.yaml").write_text(yaml.safe_dump(config))
    res = run_snakemake(tmp_path, "-n")
    assert res.returncode == 1
    lines = _lines(res.output)
    assert len(lines) == 1 and lines[0].startswith(expected), res.output


def test_a_data_error_is_not_retried(tmp_path):
    root = broken_pdf_config(tmp_path).parent
    cfg = yaml.safe_load((tmp_path / "config.yaml").read_text())
    res = run_snakemake(tmp_path, "--retries", "1", "results/chunks/bad/en.json")
    assert res.returncode != 0
    log = (tmp_path / "logs" / "chunk_corpus" / "bad" / "en.log").read_text()  # the second attempt's log
    assert "is not a readable PDF" in log and "(not retried: a config or data error" in log
    assert "chunking bad/en" not in log  # the second attempt did no work
    assert not (tmp_path / "results" / "chunks" / "bad" / "en.json").exists()
    # a fixed input starts afresh: the remembered failure is dropped on the next first attempt
    (root / "broken.pdf").unlink()
    (root / "broken.md").write_text("# Doc\n\n## Part one\n\nSome text. More text here.\n")
    cfg["corpora"]["bad"]["languages"]["en"]["file"] = "broken.md"
    (tmp_path / "config.yaml").write_text(yaml.safe_dump(cfg))
    res = run_snakemake(tmp_path, "--retries", "1", "results/chunks/bad/en.json")
    assert res.returncode == 0, res.output[-2000:]
    assert os.listdir(tmp_path / ".snakemake" / "embedlab-failures") == []
