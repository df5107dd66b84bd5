"""The tutorial's two evaluators agree with ours to 1e-6 on the metrics they share (same model, same data)."""

import pytest
from eval_data import MINILM, build_split

from embedlab import io
from embedlab.errors import EmbedlabError
from embedlab.evaluation.crosscheck import crosscheck, llamaindex_loop
from embedlab.evaluation.options import EvalOptions
from embedlab.evaluation.qaset import load_qa
from embedlab.models.spec import ModelSpec


@pytest.fixture(scope="module")
def val(corpora, tmp_path_factory):
    return build_split(corpora, "en", tmp_path_factory.mktemp("en")) / "val.json"


def test_three_evaluators_agree(val, tmp_path):
    spec = ModelSpec(name="minilm", source=MINILM, max_seq_length=128)
    res = crosscheck(
        val,
        tmp_path / "x.crosscheck.json",
        tmp_path / "x.ir_evaluator.csv",
        spec,
        evaluators=["llamaindex", "sentence-transformers"],
        options=EvalOptions.default(ks=(1, 3, 5, 10), device="cpu", cache_dir=None),
    )
    ours = res["embedlab"]
    li, st = res["evaluators"]["llamaindex"], res["evaluators"]["sentence-transformers"]
    assert li["status"] == st["status"] == "ok"
    for k in ("hit@1", "hit@5", "mrr@5", "mrr@10"):
        assert abs(li[k] - ours[k]) < 1e-6
    for k in ("hit@1", "hit@10", "mrr@10", "recall@5", "ndcg@10", "map@100"):
        assert abs(st[k] - ours[k]) < 1e-6
    assert max(res["max_abs_diff"].values()) < 1e-6
    assert 0 < ours["mrr@10"] < 1  # not a degenerate case
    header = (tmp_path / "x.ir_evaluator.csv").read_text().splitlines()[0]
    assert "cosine-MRR@10" in header and io.read_json(tmp_path / "x.crosscheck.json")["model"] == "minilm"


def test_custom_kind_goes_through_the_adapter_and_first_only_is_the_tutorial(val):
    qa = load_qa(val)
    spec = ModelSpec(name="hash", kind="custom", class_path="custom_models:HashingEncoder")
    multi = llamaindex_loop(qa, spec, [5])
    first = llamaindex_loop(qa, spec, [5], first_only=True)
    assert first["hit@5"] <= multi["hit@5"]
    with pytest.raises(EmbedlabError, match="bm25"):
        llamaindex_loop(qa, ModelSpec(name="b", kind="bm25"), [5])


def test_the_loop_can_reuse_cached_vectors(val, tmp_path):
    from embedlab.evaluation.crosscheck import _encoder_embedding
    from embedlab.evaluation.retrieval import retrieve
    from embedlab.models.embcache import open_encoder

    qa = load_qa(val)
    spec = ModelSpec(name="hash", kind="custom", class_path="custom_models:HashingEncoder")
    enc = open_encoder(spec, "cpu", tmp_path)
    ours = retrieve(enc, qa, [1, 5]).per_query
    loop = llamaindex_loop(qa, spec, [1, 5], embed_model=_encoder_embedding(enc))
    assert enc.stats["encoded"] == len(qa.queries) + len(qa.corpus)  # the loop was served from the cache
    assert (
        abs(loop["mrr@5"] - ours["mrr@5"].mean()) < 1e-6 and abs(loop["hit@1"] - ours["hit@1"].mean()) < 1e-6
    )
