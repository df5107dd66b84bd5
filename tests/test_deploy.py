"""The "what to deploy" table: Pareto flags on a hand-made frame, defaults for missing columns, the markdown
and the figure."""

import numpy as np
import pandas as pd

from embedlab.report.deploy import deploy_figure, deploy_markdown, deploy_table, frontier, pareto_mask


def frame():
    rows = [  # model, dims, precision, mrr, bytes, ms
        ("minilm", 384, "float32", 0.66, 1536, 9.0),  # best quality: optimal
        ("minilm", 384, "int8", 0.66, 384, 9.0),  # same quality, fewer bytes: dominates the float32 row
        ("minilm", 384, "binary", 0.62, 48, 8.0),  # cheaper on both costs: optimal
        ("minilm", 128, "float32", 0.60, 512, 8.5),  # worse than 384-binary on all three: dominated
        ("minilm", 64, "binary", 0.40, 8, 8.0),  # smallest: optimal
        ("minilm", 64, "int8", 0.55, 64, 7.0),  # fastest: optimal
    ]
    df = pd.DataFrame(rows, columns=["model", "dims", "precision", "mrr@10", "bytes_per_vector", "query_ms"])
    df["mrr@10_lo"], df["mrr@10_hi"] = df["mrr@10"] - 0.03, df["mrr@10"] + 0.03
    df["index_bytes"] = df["bytes_per_vector"] * 600
    df["corpus"], df["lang"], df["kind"] = "eu_ai_act", "en", "sentence-transformers"
    bm25 = {"model": "bm25", "kind": "bm25", "corpus": "eu_ai_act", "lang": "en", "mrr@10": 0.84,
            "mrr@10_lo": 0.8, "mrr@10_hi": 0.87, "query_ms": 3.0}  # fmt: skip
    other = df.iloc[[0]].assign(
        lang="fr", **{"mrr@10": 0.1, "mrr@10_lo": 0.05, "mrr@10_hi": 0.2}
    )  # another dataset: compared on its own
    return pd.concat([df, pd.DataFrame([bm25]), other], ignore_index=True)


def test_pareto_mask_by_hand():
    got = pareto_mask(
        [0.66, 0.66, 0.62, 0.60, 0.40, 0.55], [[1536, 384, 48, 512, 8, 64], [9, 9, 8, 8.5, 8, 7]]
    )
    assert got.tolist() == [False, True, True, False, True, True]
    assert pareto_mask([0.5, 0.5], [[10, 10]]).tolist() == [True, True]  # identical rows: neither dominates
    assert pareto_mask([np.nan, 0.1], [[1, 2]]).tolist() == [False, True]
    assert pareto_mask([0.9, 0.5], [[np.nan, 4]]).tolist() == [True, True]  # unknown cost = worst cost


def test_deploy_table_flags_and_defaults():
    t = deploy_table(frame(), "mrr@10")
    en = t[t["lang"] == "en"].set_index("configuration")
    assert en["pareto"].to_dict() == {
        "bm25": True,  # best MRR; its unknown bytes per vector cannot make it dominated
        "minilm · 384d int8": True,
        "minilm · 384d float32": False,
        "minilm · 384d binary": True,
        "minilm · 128d float32": False,
        "minilm · 64d int8": True,
        "minilm · 64d binary": True,
    }
    assert list(en.index) == list(en.sort_values("mrr@10", ascending=False, kind="stable").index)
    assert en.loc["bm25", ["fusion", "reranker", "precision", "backend"]].tolist() == [
        "none", "none", "float32", "default"
    ]  # fmt: skip
    fr = t[t["lang"] == "fr"]
    assert fr["pareto"].tolist() == [True]  # alone in its dataset
    labelled = deploy_table(frame().assign(reranker="ce-mini", backend="onnx").iloc[[0]], "mrr@10")
    assert labelled["configuration"].iloc[0] == "minilm · → ce-mini · 384d float32 · onnx"


def test_deploy_markdown_and_figure():
    t = deploy_table(frame(), "mrr@10")
    md = deploy_markdown(t, "mrr@10")
    assert md[0] == "### eu_ai_act / en" and "### eu_ai_act / fr" in md
    row = next(line for line in md if line.startswith("| minilm · 384d int8 "))
    assert row == "| minilm · 384d int8 | 0.660 [0.630, 0.690] | 384 | 225.0 KiB | 9.0 | ✓ |"
    bm25 = next(line for line in md if line.startswith("| bm25 "))
    assert "| – | – | 3.0 | ✓ |" in bm25
    xs, ys = frontier([1536, 384, 48, 512, 8, 64], [0.66, 0.66, 0.62, 0.60, 0.40, 0.55])
    assert xs.tolist() == [8, 48, 384] and ys.tolist() == [0.40, 0.62, 0.66]
    fig = deploy_figure(t, "mrr@10", models=["bm25", "minilm"])
    axes = fig.get_axes()
    assert len(axes) == 4  # two datasets × (bytes, latency)
    assert [a.get_xscale() for a in axes] == ["log"] * 4
    assert axes[0].get_title() == "eu_ai_act/en" and axes[0].get_xlabel().startswith("bytes per chunk vector")
