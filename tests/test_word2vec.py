"""Word2vec primer: exact skip-gram pairs, seeded subsampling, the toy run (co-occurring words closer) and a
Chinese corpus run (jieba) on the securities law; plots checked through their matplotlib objects."""

from __future__ import annotations

import json
import time

import numpy as np
import pytest

from embedlab import io
from embedlab.errors import EmbedlabError
from embedlab.filenames import WORD2VEC
from embedlab.word2vec import corpus, plots, sgns
from embedlab.word2vec import settings as w2v_settings
from embedlab.word2vec.run import FORMAT, Word2VecOutputs, run_word2vec
from embedlab.workflow.plan import Plan

from conftest import CORPORA, REPO

TOY = {
    "corpus": "toy",
    "dim": 2,
    "window": 2,
    "negatives": 3,
    "min_count": 1,
    "subsample": 0,
    "epochs": 100,
    "batch_size": 16,
    "lr": 0.05,
    "seed": 42,
    "neighbours_of": ["dog", "apple", "longge"],
    "n_neighbours": 3,
}


def _brute_pairs(sentences, window):
    """The definition, spelled out: every word within `window` of the center, same sentence, not itself."""
    return [
        (s[i], s[j])
        for s in sentences
        for i in range(len(s))
        for j in range(max(0, i - window), min(len(s), i + window + 1))
        if j != i
    ]


def test_skipgram_pairs_exact():
    # "a b c d e" with window 2: a->b,c  b->a,c,d  c->a,b,d,e  d->b,c,e  e->c,d
    a, b, c, d, e = range(5)
    pairs = sgns.skipgram_pairs([[a, b, c, d, e]], window=2)
    assert pairs.tolist() == [
        [a, b],
        [a, c],
        [b, a],
        [b, c],
        [b, d],
        [c, a],
        [c, b],
        [c, d],
        [c, e],
        [d, b],
        [d, c],
        [d, e],
        [e, c],
        [e, d],
    ]
    # Windows stop at sentence ends (the tutorial's joined word stream crossed them).
    assert sgns.skipgram_pairs([[0, 1], [2, 3]], window=5).tolist() == [[0, 1], [1, 0], [2, 3], [3, 2]]
    assert sgns.skipgram_pairs([[7], []], window=2).shape == (0, 2)
    rng = np.random.default_rng(0)
    sentences = [rng.integers(0, 9, size=n).tolist() for n in (1, 2, 5, 11, 3)]
    for window in (1, 2, 4):
        assert [tuple(p) for p in sgns.skipgram_pairs(sentences, window).tolist()] == _brute_pairs(
            sentences, window
        )


def test_tokenizers_and_vocab():
    assert corpus.w2v_tokens("Longge LIKES the dog's toys, e-mail!", "words") == [
        "longge",
        "likes",
        "the",
        "dog's",
        "toys",
        "e-mail",
    ]
    assert corpus.w2v_tokens("证券法（2019）规定AI系统", "chars") == [
        "证",
        "券",
        "法",
        "2019",
        "规",
        "定",
        "ai",
        "系",
        "统",
    ]
    assert corpus.w2v_tokens("为了规范证券发行和交易行为，保护投资者的合法权益。", "jieba")[:4] == [
        "为了",
        "规范",
        "证券",
        "发行",
    ]
    assert "，" not in corpus.w2v_tokens("为了规范证券发行和交易行为，保护投资者的合法权益。", "jieba")
    assert corpus.w2v_sentences("第一条 甲。乙；丙\n\nOne. Two? 3.5 stays") == [
        "第一条 甲",
        "乙",
        "丙",
        "One",
        "Two",
        "3.5 stays",
    ]
    vocab = sgns.build_vocab([["b", "a", "c"], ["a", "b", "d"], ["a"]], min_count=2)
    assert vocab.words == ["a", "b"] and vocab.counts.tolist() == [3, 2]  # by count, ties by word
    assert [ids.tolist() for ids in sgns.encode([["c", "a", "b"], ["d"]], vocab)] == [[0, 1]]


def test_subsampling_is_seeded_and_follows_mikolov():
    counts = np.array([900, 90, 9, 1])
    keep = sgns.keep_probabilities(counts, 1e-2)
    assert keep == pytest.approx(np.minimum(1, np.sqrt(1e-2 / (counts / 1000))))
    assert keep[0] < keep[1] < keep[2] == 1.0
    assert np.all(sgns.keep_probabilities(counts, 0) == 1)
    encoded = [np.array([0] * 50 + [1] * 10 + [2, 3]), np.array([0, 0, 1, 2])]
    runs = [sgns.subsample_tokens(encoded, keep, np.random.default_rng([7, 0])) for _ in range(2)]
    assert [a.tolist() for a in runs[0]] == [a.tolist() for a in runs[1]]
    other = sgns.subsample_tokens(encoded, keep, np.random.default_rng([8, 0]))
    assert [a.tolist() for a in other] != [a.tolist() for a in runs[0]]
    kept = np.concatenate(runs[0])
    assert (kept == 0).sum() < 40 and 2 in kept and 3 in kept  # frequent word thinned, rare words kept


def test_toy_run_cooccurring_words_closer(tmp_path):
    t0 = time.perf_counter()
    result = run_word2vec([], Word2VecOutputs.in_dir(tmp_path / "toy"), TOY)
    seconds = time.perf_counter() - t0
    model = result.model
    assert result.stats["seconds"]["train"] < 10, result.stats  # about 0.5 s of training on 2 cores
    assert seconds < 30
    assert len(model.vocab) == 13 and model.vectors.shape == (13, 2)
    assert model.losses[-1] < model.losses[0]
    cos = lambda a, b: sgns.cosine(model, a, b)  # noqa: E731
    # dog/cat share 5 sentences; book/music/movie only the long one; dog never meets book/movie/music.
    assert cos("dog", "cat") > 0.8
    assert cos("book", "music") > 0.8
    for near, far in [
        (("dog", "cat"), ("dog", "movie")),
        (("dog", "cat"), ("cat", "music")),
        (("book", "music"), ("book", "dog")),
        (("cat", "animal"), ("cat", "movie")),
    ]:
        assert cos(*near) > cos(*far) + 0.5, (near, far)
    met_dog = {w for s in corpus.TOY_SENTENCES for w in s.split() if "dog" in s.split()} - {"dog"}
    assert {w for w, _ in result.neighbours["dog"]} <= met_dog  # never movie/book/music

    files = result.files
    assert sorted(p.name for p in (tmp_path / "toy").iterdir()) == sorted(WORD2VEC.values())  # no temp files
    assert all(files[n].read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" for n in ("scatter.png", "loss.png"))
    rows = files["vectors.tsv"].read_text(encoding="utf-8").splitlines()
    assert len(rows) == 13 and all(len(r.split("\t")) == 3 for r in rows)
    assert files["loss.csv"].read_text().splitlines()[:2] == [
        "epoch,loss,pairs",
        f"1,{model.losses[0]:.6f},106",
    ]
    neighbours = io.read_json(files["neighbours.json"])
    assert neighbours["format"] == FORMAT and list(neighbours["neighbours"]) == ["dog", "apple", "longge"]
    assert len(neighbours["neighbours"]["dog"]) == 3

    ax = result.scatter.axes[0]
    assert (ax.get_xlabel(), ax.get_ylabel()) == ("dimension 1", "dimension 2")
    assert "toy" in ax.get_title()
    assert sorted(t.get_text() for t in ax.texts) == sorted(model.vocab.words)  # 13 words: all labelled
    assert plots.label_overlap(plots.text_boxes(result.scatter)) < 0.02
    loss_ax = result.loss_plot.axes[0]
    assert loss_ax.get_xlabel() == "epoch" and "loss" in loss_ax.get_ylabel()
    assert len(loss_ax.lines[0].get_ydata()) == 100

    # Seeded: same bytes, plots included.
    again = run_word2vec([], Word2VecOutputs.in_dir(tmp_path / "again"), TOY, name="toy")
    for name in WORD2VEC.values():
        assert (tmp_path / "again" / name).read_bytes() == files[name].read_bytes(), name
    assert again.neighbours == result.neighbours


def _chunk_file(path, corpora, lines=200):
    """The first `lines` lines of the securities law as a chunks file (one chunk per paragraph)."""
    text = (corpora / "securities_law" / "securities_law_2019.md").read_text(encoding="utf-8")
    paragraphs = [p for p in text.splitlines()[:lines] if p.strip() and not p.startswith("<!--")]
    io.write_json(
        path,
        {
            "format": "embedlab.chunks/1",
            "chunks": [{"id": f"securities_law.zh.{i}", "text": p} for i, p in enumerate(paragraphs)],
        },
    )
    return path


def test_corpus_run_chinese_jieba(tmp_path, corpora):
    chunks = _chunk_file(tmp_path / "zh.json", corpora)
    settings = {
        "tokenizer": "jieba",
        "dim": 16,
        "window": 4,
        "epochs": 4,
        "min_count": 2,
        "seed": 3,
        "neighbours_of": ["证券", "投资者", "不存在的词"],
        "n_neighbours": 5,
        "label_words": 30,
    }
    result = run_word2vec([chunks], Word2VecOutputs.in_dir(tmp_path / "out"), settings)
    vocab = result.model.vocab
    assert {"证券", "投资者", "发行", "交易"} <= set(vocab.words)  # jieba words, not characters
    assert sum(len(w) > 1 for w in vocab.words) > len(vocab) / 2
    assert result.model.vectors.shape == (len(vocab), 16)
    assert result.stats["tokens"] > 1500 and result.stats["pairs_last_epoch"] > 2000

    data = json.loads((tmp_path / "out" / "neighbours.json").read_text(encoding="utf-8"))
    assert [n["word"] for n in data["neighbours"]["证券"]] == [w for w, _ in result.neighbours["证券"]]
    assert len(data["neighbours"]["证券"]) == 5 and data["missing"] == ["不存在的词"]
    assert all(-1 <= n["cosine"] <= 1 for ns in data["neighbours"].values() for n in ns)
    rows = (tmp_path / "out" / "vectors.tsv").read_text(encoding="utf-8").splitlines()
    assert [r.split("\t")[0] for r in rows] == vocab.words and len(rows[0].split("\t")) == 17
    assert len((tmp_path / "out" / "loss.csv").read_text().splitlines()) == 1 + 4

    ax = result.scatter.axes[0]
    assert ax.get_xlabel().startswith("PC1 (") and ax.get_ylabel().startswith("PC2 (")
    assert "PCA" in ax.get_title()
    labels = [t.get_text() for t in ax.texts]
    assert {"证券", "投资者"} <= set(labels)  # queried words always labelled
    assert plots.label_overlap(plots.text_boxes(result.scatter)) < 0.02
    assert (tmp_path / "out" / "scatter.png").stat().st_size > 10_000


def test_chars_tokenizer_and_tsne(tmp_path, corpora):
    chunks = _chunk_file(tmp_path / "zh.json", corpora, lines=80)
    result = run_word2vec(
        [chunks],
        Word2VecOutputs.in_dir(tmp_path / "out"),
        {
            "tokenizer": "chars",
            "dim": 8,
            "epochs": 1,
            "projection": "tsne",
            "plot_words": 40,
            "label_words": 10,
        },
    )
    assert all(len(w) == 1 or w.isascii() for w in result.model.vocab.words)
    assert result.stats["projection"] == "tsne"
    assert result.scatter.axes[0].get_xlabel() == "t-SNE 1"


def test_user_errors_are_one_line(tmp_path, corpora):
    with pytest.raises(EmbedlabError, match="unknown key 'dims'"):
        w2v_settings.resolve_settings({"dims": 3})
    with pytest.raises(EmbedlabError, match="tokenizer 'spacy' is not allowed"):
        w2v_settings.resolve_settings({"tokenizer": "spacy"})
    with pytest.raises(EmbedlabError, match="mostly CJK but tokenizer is 'words'"):
        run_word2vec(
            [_chunk_file(tmp_path / "zh.json", corpora, 40)],
            Word2VecOutputs.in_dir(tmp_path / "o"),
            {"tokenizer": "words"},
        )
    with pytest.raises(EmbedlabError, match="file not found"):
        run_word2vec([str(tmp_path / "missing.json")], Word2VecOutputs.in_dir(tmp_path / "o"), {})
    with pytest.raises(EmbedlabError, match="takes no input files"):
        run_word2vec(["a b"], Word2VecOutputs.in_dir(tmp_path / "o"), {"corpus": "toy"})
    with pytest.raises(EmbedlabError, match="min_count"):
        run_word2vec(["one two three"], Word2VecOutputs.in_dir(tmp_path / "o"), {"min_count": 2})
    assert not (tmp_path / "o").exists() or not any((tmp_path / "o").iterdir())


def _plan(runs: dict) -> Plan:
    """The plan of a config with the securities-law test corpus and these word2vec runs."""
    law = {"languages": {"zh": {"file": "securities_law/securities_law_2019.pdf"}}}
    config = {"corpus_root": str(CORPORA), "corpora": {"securities_law": law}, "seed": 42}
    return Plan.of({**config, "word2vec": {"runs": runs}}, REPO)


def test_config_runs():
    plan = _plan(
        {
            "toy": {"corpus": "toy", "chunks": None},
            "law": {"corpus": None, "chunks": "securities_law/zh", "seed": None},
        }
    )
    assert plan.word2vec_inputs("toy") == [] and plan.word2vec_inputs("law") == [
        "results/chunks/securities_law/zh.json"
    ]
    assert plan.word2vec_runs["law"]["seed"] == 42
    assert _plan({}).word2vec_runs == {}
    with pytest.raises(EmbedlabError, match=r"word2vec\.runs\.x: give exactly one"):
        _plan({"x": {"corpus": "toy", "chunks": "a/en"}})
    with pytest.raises(EmbedlabError, match="not a configured corpus/lang"):
        _plan({"x": {"chunks": "a/en"}})


def test_label_repulsion_separates_stacked_labels():
    boxes = np.array([[100.0, 100, 140, 112]] * 6)  # six labels on one spot
    out = plots._repel(boxes, boxes[:, :2], np.zeros((0, 2)), np.array([0.0, 0, 600, 400]))
    assert plots.label_overlap(boxes) > 1 and plots.label_overlap(out) == 0
    assert np.allclose(out[:, 2:] - out[:, :2], [40, 12])


def test_outputs_go_to_the_paths_given(tmp_path):
    """The rule passes its own output paths: a renamed output is written under its new name, nothing else."""
    names = {
        "vectors": "v.txt",
        "loss": "l.csv",
        "neighbours": "n.json",
        "scatter": "s.png",
        "loss_plot": "p.png",
    }
    outputs = Word2VecOutputs(**{key: tmp_path / "w" / name for key, name in names.items()})
    result = run_word2vec([], outputs, {**TOY, "epochs": 2}, name="toy")
    assert sorted(p.name for p in (tmp_path / "w").iterdir()) == sorted(names.values())
    assert result.files == {WORD2VEC[key]: tmp_path / "w" / name for key, name in names.items()}
    assert io.read_json(outputs.neighbours)["name"] == "toy"
