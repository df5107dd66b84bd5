"""The report on a small real run: snakemake takes slices of tests/corpora through chunking, queries,
split, evaluation (BM25, a tiny BERT and its fine-tuned version) and MTEB to `report`; then the summary,
the plots (checked as matplotlib objects), `--forcerun draw_plots`, Snakemake's HTML report and, where
Chromium is installed, a screenshot of that report in a real headless browser."""

from __future__ import annotations

import json
import os
import re
import subprocess
import time
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import yaml
from ft_fixtures import build_tiny_model

from embedlab import io
from embedlab.report import figures
from embedlab.report import summary as report_summary
from embedlab.report.plots import FORMATS, RANK_BINS
from embedlab.workflow import layout
from embedlab.workflow.config import validate_config
from embedlab.workflow.plan import Plan

from conftest import REPO, run_snakemake

pytestmark = pytest.mark.slow
CHROMIUM = "/usr/bin/chromium"
E2E = os.environ.get("EMBEDLAB_REPORT_E2E") == "1"
# (corpus, lang, source file, kept line ranges, file name in the run): AI Act Articles 1-9, law chapters 1-4
SLICES = [
    ("eu_ai_act", "en", "eu_ai_act/EN.md", [(1, 1), (389, 804)], "eu_ai_act/EN.md"),
    ("securities_law", "zh", "securities_law/securities_law_2019.md", [(1, 700)], "securities_law/zh.md"),
]
PAIRS = [(c, lang) for c, lang, *_ in SLICES]
MODELS = ["bm25", "bm25+tiny", "tiny", "tiny-ft"]  # config order (yaml.safe_dump sorts the keys)
ALL_PLOTS = list(figures.PLOTS)


def snakemake(workdir: Path, *args: str, check: bool = True) -> subprocess.CompletedProcess:
    """Run the workflow in `workdir` with its config.yaml; targets go after "--" in `args`."""
    res = run_snakemake(workdir, *args)
    if check:
        assert res.returncode == 0, res.output[-4000:]
    return res


@pytest.fixture(scope="module")
def run(tmp_path_factory, corpora) -> Path:
    """A small real run in a temporary folder, ending in the `report` rule.

    Default (50-100 s on 2 busy cores): snakemake runs the data stage, then the fine-tuning, evaluation and
    MTEB library calls that those rules' scripts make run here in one process (a process per job costs ~10 s
    of torch imports each), then snakemake runs the report rules on their outputs.
    EMBEDLAB_REPORT_E2E=1: the whole workflow from the corpora to `report` in snakemake, every step a rule
    (about 2 minutes)."""
    wd = tmp_path_factory.mktemp("report")
    for _corpus, _lang, rel, ranges, dest in SLICES:
        lines = (corpora / rel).read_text(encoding="utf-8").splitlines()
        (wd / "corpora" / dest).parent.mkdir(parents=True, exist_ok=True)
        text = "\n".join(x for a, b in ranges for x in lines[a - 1 : b]) + "\n"
        (wd / "corpora" / dest).write_text(text, encoding="utf-8")
    tiny = build_tiny_model(corpora, wd / "tiny")
    config = {
        "corpus_root": str(wd / "corpora"),
        "seed": 42,
        "generators": {"use": ["ict", "headings"]},
        "corpora": {c: {"languages": {lang: {"file": dest}}} for c, lang, _, _, dest in SLICES},
        "split": {"val_fraction": 0.3},
        "models": {
            "bm25": {"kind": "bm25"},
            "tiny": {"source": str(tiny), "batch_size": 64},
            "bm25+tiny": {"kind": "hybrid", "of": ["bm25", "tiny"], "fusion": {"method": "rrf"}},
        },
        "finetune": {
            "tiny-ft": {
                "base": "tiny",
                "datasets": [f"{c}/{lang}" for c, lang in PAIRS],
                "batch_size": 8,
                "max_steps": 6,
                "dev_fraction": 0.2,
            }
        },
        "evaluation": {
            "crosslingual": False,
            "bootstrap_samples": 200,
            "latency_queries": 5,
            "compression": {"models": ["tiny"], "dims": [1024, 16]},
        },
        "mteb": {"models": ["bm25"]},
        "report": {"test_samples": 2000},
    }
    (wd / "config.yaml").write_text(yaml.safe_dump(config, allow_unicode=True), encoding="utf-8")
    if E2E:
        snakemake(wd, "--resources", "gpu=2", "--", "report")
        return wd
    snakemake(
        wd,
        "--",
        *(layout.split_report(c, lang) for c, lang in PAIRS),
        *(layout.query_sets(c, lang) for c, lang in PAIRS),
    )
    _model_stages_in_process(wd, _config(wd))
    snakemake(wd, "--allowed-rules", "summarize_results", "draw_plots", "report", "--", "report")
    return wd


def _model_stages_in_process(wd: Path, cfg: dict) -> None:
    """What the finetune, evaluate and mteb rules do (their scripts' library calls and arguments)."""
    from embedlab.evaluation.compression import evaluate_variants
    from embedlab.evaluation.hybrid import evaluate_hybrid
    from embedlab.evaluation.mteb_tasks import run_mteb
    from embedlab.evaluation.retrieval import evaluate
    from embedlab.train.finetune import finetune

    cwd = Path.cwd()
    os.chdir(wd)
    try:
        name = "tiny-ft"
        plan = Plan.of(cfg, REPO)
        files = plan.finetune_datasets(name)
        finetune(name, layout.model_dir(name), files, threads=2, **plan.finetune_args(name))
        options = plan.eval_options._replace(device="cpu", cache_dir=None)
        for model in plan.eval_models:
            for c, lang in PAIRS:
                outputs = (layout.val(c, lang), layout.eval_summary(model, c, lang))
                if model in plan.hybrids:
                    evaluate_hybrid(
                        outputs[0], layout.train(c, lang), layout.chunks(c, lang), outputs[1],
                        layout.eval_queries(model, c, lang), spec=plan.registry.spec(model),
                        members=plan.members_of(model), corpus=c, lang=lang, options=options,
                    )  # fmt: skip
                    continue
                evaluate(
                    *outputs, layout.eval_queries(model, c, lang), plan.registry.spec(model),
                    chunks_path=layout.chunks(c, lang), corpus=c, lang=lang, options=options,
                )  # fmt: skip
        for model in plan.compression_models:
            for c, lang in PAIRS:
                evaluate_variants(
                    layout.val(c, lang), layout.chunks(c, lang), layout.compression_summary(model, c, lang),
                    layout.compression_queries(model, c, lang), spec=plan.registry.spec(model),
                    sweep=plan.settings.evaluation.compression, corpus=c, lang=lang, options=options,
                )  # fmt: skip
        for model in plan.mteb_models:
            for task, (c, lang) in plan.mteb_custom_tasks.items():
                run_mteb(
                    f"results/mteb/{model}/{task}.json",
                    plan.registry.spec(model),
                    task,
                    val_path=f"results/qa/{c}/{lang}/val.json",
                    corpus=c,
                    lang=lang,
                    device="cpu",
                )
    finally:
        os.chdir(cwd)


def _config(run: Path) -> dict:
    """The run's config as the workflow sees it (validated, defaults filled)."""
    return validate_config(yaml.safe_load((run / "config.yaml").read_text()), REPO)


def _summary(run: Path) -> pd.DataFrame:
    return pd.read_csv(run / "results" / "report" / "summary.csv", keep_default_na=False, na_values=[""])


def test_summary_has_a_row_per_model_corpus_language_with_cis_durations_and_paired_test(run):
    df = _summary(run)
    assert sorted(zip(df["model"], df["corpus"], df["lang"], strict=True)) == sorted(
        (m, c, lang) for m in MODELS for c, lang in PAIRS
    )
    for metric in ("hit@1", "hit@10", "mrr@10", "recall@10", "ndcg@10", "map@100"):
        assert df[metric].between(0, 1).all()
        assert (df[f"{metric}_lo"] <= df[metric] + 1e-9).all() and (
            df[metric] <= df[f"{metric}_hi"] + 1e-9
        ).all()
    assert (df["eval_seconds"] > 0).all() and (df["n_queries"] > 0).all()
    # the numbers are the evaluation rule's, unchanged
    for r in df.itertuples():
        ev = pd.read_csv(run / "results" / "eval" / r.model / r.corpus / f"{r.lang}.csv")
        assert np.isclose(df.loc[r.Index, "mrr@10"], ev["mrr@10"].iloc[0], atol=1e-6)
    ft = df[df["model"] == "tiny-ft"]
    assert (ft["base_model"] == "tiny").all()
    assert ft["p_value_vs_base"].between(0, 1).all() and ft["p_wilcoxon_vs_base"].between(0, 1).all()
    assert (ft["n_paired"] == ft["n_queries"]).all()
    assert (ft["training_seconds"] > 0).all()
    base = df[df["model"] != "tiny-ft"]
    assert base["base_model"].isna().all() and base["p_value_vs_base"].isna().all()
    # the paired test is the documented one on per-query reciprocal ranks, seeded
    r = ft.iloc[0]
    qa = pd.read_csv(
        run / "results" / "eval" / "tiny" / r["corpus"] / f"{r['lang']}.queries.csv", dtype={"query_id": str}
    )
    qb = pd.read_csv(
        run / "results" / "eval" / "tiny-ft" / r["corpus"] / f"{r['lang']}.queries.csv",
        dtype={"query_id": str},
    )
    m = qa.merge(qb, on="query_id", suffixes=("_a", "_b"))
    assert (m["group_a"] == m["group_b"]).all()  # the same queries, so the same chunk groups
    a, b = m["reciprocal_rank_a"].to_numpy(), m["reciprocal_rank_b"].to_numpy()
    again = report_summary.paired(a, b, 2000, 42, groups=list(m["group_a"]))
    assert again["n_groups"] < again["n"]  # whole groups were resampled and flipped
    assert np.isclose(again["p_value"], r["p_value_vs_base"], rtol=1e-5)
    assert np.isclose(again["diff"], r["diff_vs_base"], atol=1e-6)
    # MTEB's custom val-split task score lands on the bm25 rows
    assert df[df["model"] == "bm25"]["mteb_main_score"].between(0, 1).all()
    assert df[df["model"] != "bm25"]["mteb_main_score"].isna().all()


def test_deploy_table_lists_every_configuration_with_costs_and_a_frontier(run):
    """deploy.csv: each evaluated model (the hybrid included) and each compression variant of `tiny` except
    its full float32 one (tiny's own row), with sizes, latency and Pareto rows, as summary.md shows."""
    table = pd.read_csv(run / "results/report/deploy.csv", keep_default_na=False, na_values=[""])
    for c, lang in PAIRS:
        sub = table[(table["corpus"] == c) & (table["lang"] == lang)]
        variants = sub[sub["model"] == "tiny"]
        assert sorted(sub["model"].unique()) == sorted(MODELS)
        assert len(variants) == 6  # plain + {full int8, full binary, 16d x 3 precisions}
        assert sorted(variants["precision"]) == ["binary", "binary", "float32", "float32", "int8", "int8"]
        full = variants[variants["precision"] == "float32"]["bytes_per_vector"].max()
        assert (variants[variants["precision"] == "binary"]["bytes_per_vector"] < full / 16).all()
        assert (sub["query_ms"] > 0).all() and sub["pareto"].any()
        assert sub[sub["model"] == "bm25+tiny"]["fusion"].tolist() == ["rrf"]
    md = (run / "results/report/summary.md").read_text(encoding="utf-8")
    assert "## What to deploy" in md and "bm25+tiny · fusion rrf" in md


def test_summary_md_names_generators_counts_and_the_tutorial_table(run):
    md = (run / "results" / "report" / "summary.md").read_text(encoding="utf-8")
    df = _summary(run)
    assert "## Language × model × MRR × duration" in md
    assert "ict = a sentence cut out of the chunk" in md and "headings = section titles" in md
    assert "No LLM-written queries in this run" in md
    for c, lang in PAIRS:
        prov = io.read_json(run / "results" / "qa" / c / lang / "provenance.json")
        total = sum(1 for _ in prov["queries"])
        gens = {q["generator"] for q in prov["queries"].values()}
        row = next(line for line in md.splitlines() if line.startswith(f"| {c} | {lang} |")).split(" | ")
        assert row[2] == ", ".join(sorted(gens))
        assert sum(int(n) for n in re.findall(r"\w+ (\d+)", row[3])) == total
    for r in df[~df["crosslingual"].astype(bool)].itertuples():
        assert f"| {r.lang} | {r.corpus} | {r.model} | " in md
    assert "## Fine-tuned vs base" in md and "p (permutation)" in md
    assert "## MTEB" in md and "EmbedlabVal.eu_ai_act.en" in md
    assert "## By query generator" in md


def test_trust_section_numbers_match_summary_csv(run):
    md = (run / "results" / "report" / "summary.md").read_text(encoding="utf-8")
    df = _summary(run)
    trust_md = md.split("## How far to trust this", 1)[1].split("\n## ", 1)[0]
    assert "resample" in trust_md and "unlabeled verbatim matches" in trust_md
    mono = df[~df["crosslingual"].astype(bool)]
    for (c, lang), sub in mono.groupby(["corpus", "lang"]):
        line = next(ln for ln in trust_md.splitlines() if ln.startswith(f"| {c} | {lang} | synthetic val |"))
        row = line.split(" | ")
        assert int(row[3]) == int(sub["n_queries"].iloc[0]) and int(row[4]) == int(sub["n_groups"].iloc[0])
        widest = sub["ci_halfwidth"].max()
        assert row[5].startswith(f"±{widest:.3f}")
        assert ("too few queries to rank models" in row[5]) == bool(sub["too_few_queries"].any())
        assert widest == pytest.approx(((sub["mrr@10_hi"] - sub["mrr@10_lo"]) / 2).max(), abs=1e-5)
        assert (sub["bootstrap_unit"] == "chunk group").all()


def test_every_plot_file_is_written_and_non_empty(run):
    for name in ALL_PLOTS:
        for fmt in FORMATS:
            path = run / "results" / "report" / "plots" / f"{name}.{fmt}"
            assert path.stat().st_size > 2000, path
    png = (run / "results" / "report" / "plots" / "mrr_heatmap.png").read_bytes()
    assert png.startswith(b"\x89PNG")
    svg = (run / "results" / "report" / "plots" / "mrr_heatmap.svg").read_text(encoding="utf-8")
    assert "<svg" in svg and "<dc:date>" not in svg  # no timestamps: same inputs, same bytes


def test_plot_figures_have_the_expected_axes_and_labels(run, tmp_path, monkeypatch):
    monkeypatch.chdir(run)
    outputs = {name: {fmt: tmp_path / f"{name}.{fmt}" for fmt in FORMATS} for name in ALL_PLOTS}
    p = Plan.of(_config(run), REPO).report
    figs = figures.make_plots(
        "results/report/summary.csv", outputs, model_dirs=p.model_dirs, mteb=p.mteb,
        deploy_csv="results/report/deploy.csv", models=MODELS,
    )  # fmt: skip
    # same bytes as the rule wrote: deterministic drawing
    for name in ALL_PLOTS:
        assert (tmp_path / f"{name}.png").read_bytes() == (
            run / "results/report/plots" / f"{name}.png"
        ).read_bytes()

    heat = figs["mrr_heatmap"].axes[0]
    assert heat.get_xlabel() == "language (corpus)" and heat.get_ylabel() == "model"
    assert [t.get_text() for t in heat.get_yticklabels()] == MODELS
    assert [t.get_text() for t in heat.get_xticklabels()] == [f"{lang}\n{c}" for c, lang in PAIRS]
    assert "MRR@10" in heat.get_title()
    df = _summary(run).set_index(["model", "corpus", "lang"])
    cells = [float(t.get_text()) for t in heat.texts]
    expected = [df.loc[(m, c, lang), "mrr@10"] for m in MODELS for c, lang in PAIRS]
    assert np.allclose(cells, expected, atol=5e-4)

    ft_axes = [a for a in figs["finetune_vs_base"].axes if a.get_title()]
    assert [a.get_title() for a in ft_axes] == sorted(c for c, _ in PAIRS)
    assert ft_axes[0].get_ylabel() == "MRR@10"
    for ax in ft_axes:
        assert ax.get_xlabel() == "language"
        assert [t.get_text() for t in ax.get_legend().get_texts()] == ["tiny", "tiny-ft"]
        assert any(t.get_text().startswith("p=") for t in ax.texts)

    size, speed = figs["deploy_frontier"].axes[:2]
    assert size.get_xscale() == speed.get_xscale() == "log" and size.get_ylabel() == "MRR@10"
    assert "bytes per chunk vector" in size.get_xlabel() and "query latency" in speed.get_xlabel()

    rank_axes = [a for a in figs["rank_distribution"].axes if a.get_title()]
    assert [a.get_title() for a in rank_axes] == sorted(f"{c}/{lang}" for c, lang in PAIRS)
    assert [t.get_text() for t in rank_axes[0].get_xticklabels()] == [b[0] for b in RANK_BINS]
    assert rank_axes[0].get_ylabel() == "share of queries"

    mteb_ax = figs["mteb_scores"].axes[0]
    assert mteb_ax.get_xlabel() == "MTEB main score"
    assert sorted(t.get_text() for t in mteb_ax.get_yticklabels()) == sorted(
        f"EmbedlabVal.{c}.{lang}" for c, lang in PAIRS
    )

    loss_ax = figs["loss_curves"].axes[0]
    assert loss_ax.get_xlabel() == "training step" and loss_ax.get_ylabel() == "training loss"
    facts = io.read_json(run / "results" / "models" / "tiny-ft" / "training.json")
    line = loss_ax.get_lines()[0]
    assert list(line.get_ydata()) == pytest.approx([p["loss"] for p in facts["loss_curve"]])


def test_forcerun_plots_redraws_plots_only_in_seconds(run):
    summary = run / "results" / "report" / "summary.csv"
    before = summary.stat().st_mtime_ns
    heat = run / "results" / "report" / "plots" / "mrr_heatmap.svg"
    old = heat.stat().st_mtime_ns
    started = time.monotonic()
    res = snakemake(run, "--forcerun", "draw_plots", "--", "report")
    assert time.monotonic() - started < 45
    table = res.output.split("Job stats:")[1].split("\n\n")[0].splitlines()[3:]
    jobs = {line.split()[0] for line in table if line.strip() and not line.startswith("total")}
    assert jobs == {"draw_plots", "report"}, res.output[-3000:]
    assert summary.stat().st_mtime_ns == before and heat.stat().st_mtime_ns > old


def test_missing_optional_inputs_leave_plots_out_with_a_note(run, tmp_path, monkeypatch):
    bare = yaml.safe_load((run / "config.yaml").read_text()) | {"finetune": {}, "mteb": {"enabled": False}}
    p = Plan.of(bare, REPO).report
    assert "finetune_vs_base" not in p.plots and "mteb_scores" not in p.plots and "loss_curves" not in p.plots
    assert any("fine-tuned" in n for n in p.notes) and any("MTEB" in n for n in p.notes)
    monkeypatch.chdir(run)
    evals = [e for e in p.eval_csvs if "/tiny-ft/" not in e]
    df = report_summary.summarize(
        evals, tmp_path / "s.csv", tmp_path / "s.md", provenance=p.provenance, notes=p.notes
    )
    md = (tmp_path / "s.md").read_text(encoding="utf-8")
    assert "No fine-tuned model in this run." in md and "MTEB was not run" in md
    assert df["base_model"].eq("").all() and "## MTEB" not in md
    # a plot asked for without data says so instead of failing
    figs = figures.make_plots(
        tmp_path / "s.csv",
        {"finetune_vs_base": {"png": tmp_path / "ft.png"}, "mteb_scores": {"png": tmp_path / "mteb.png"}},
    )
    assert "No fine-tuned model" in figs["finetune_vs_base"].axes[0].texts[0].get_text()
    assert (tmp_path / "mteb.png").stat().st_size > 0


def test_paired_test_is_seeded_and_identical_models_do_not_differ():
    rng = np.random.default_rng(0)
    a = rng.random(80)
    b = a + rng.normal(0.1, 0.05, 80)
    one, two = report_summary.paired(a, b, 3000, 7), report_summary.paired(a, b, 3000, 7)
    assert one == two and one["p_value"] < 0.01 and one["p_wilcoxon"] < 0.01 and one["diff"] > 0
    same = report_summary.paired(a, a, 1000, 7)
    assert same["p_value"] == 1.0 and same["p_wilcoxon"] == 1.0


@pytest.fixture(scope="module")
def html(run) -> Path:
    out = run / "results" / "report.html"
    snakemake(run, "--report", str(out), "--", "report")
    return out


def test_snakemake_report_is_one_self_contained_html(html):
    text = html.read_text(encoding="utf-8")
    assert html.stat().st_size > 100_000
    start = text.index("var categories = ") + len("var categories = ")
    categories = json.loads(text[start : text.index(";\n", start)])
    files = {cat: sorted(f for sub in subs.values() for f in sub) for cat, subs in categories.items()}
    plots = "results/report/plots/{}.png".format
    assert files == {
        "Tables": [f"results/report/{n}" for n in ("deploy.csv", "release.csv", "summary.csv", "summary.md")],
        "Retrieval": [plots("mrr_heatmap"), plots("rank_distribution")],
        "Deployment": [plots("deploy_frontier")],
        "Fine-tuning": [plots("finetune_vs_base"), plots("loss_curves")],
        "MTEB": [plots("mteb_scores")],
    }
    assert not re.search(
        r"<(script|link|img)[^>]+(src|href)=[\"']https?:", text
    )  # nothing fetched when opened


def _screenshot(page: Path, png: Path, profile: Path) -> np.ndarray:
    """Render `page` in headless Chromium (JS on, 5 s of virtual time) and return the screenshot's pixels."""
    from matplotlib.image import imread

    cmd = [
        CHROMIUM,
        "--headless",
        "--no-sandbox",
        "--disable-gpu",
        "--disable-quic",
        "--no-first-run",
        "--disable-background-networking",
        "--disable-component-update",
        "--disable-sync",
        f"--user-data-dir={profile}",
        "--virtual-time-budget=5000",
        "--window-size=1400,1000",
        f"--screenshot={png}",
        page.resolve().as_uri(),
    ]
    res = subprocess.run(cmd, capture_output=True, text=True, timeout=120)
    assert png.is_file(), res.stderr[-2000:]
    img = (imread(png)[..., :3] * 255).astype(np.int16)
    assert img.shape[:2] == (1000, 1400)
    return img


# Opens Results > Retrieval > mrr_heatmap as a reader would (the report has no URLs for its pages).
CLICK_TO_HEATMAP = """<script>
const byText = (sel, text) => [...document.querySelectorAll(sel)].find(e => e.textContent.trim() === text);
setTimeout(() => byText("a", "Retrieval").click(), 300);
setTimeout(() => byText("td", "mrr_heatmap").parentElement.querySelector("a[iconname=eye]").click(), 800);
</script>"""


@pytest.mark.skipif(
    not Path(CHROMIUM).exists(), reason=f"{CHROMIUM} not installed (apt-get install chromium)"
)
def test_html_report_renders_in_headless_chromium(html, tmp_path):
    def teal_pixels(img: np.ndarray) -> int:  # viridis mid-range: the heatmap's cells, not the page's chrome
        r, g, b = img[..., 0], img[..., 1], img[..., 2]
        return int(((g > r + 40) & (b > r + 20) & (g > 90)).sum())

    home = _screenshot(html, tmp_path / "home.png", tmp_path / "profile1")
    flat = home.reshape(-1, 3)
    assert len(np.unique(flat, axis=0)) > 50 and flat.std() > 10  # the app rendered: not a blank page
    text = html.read_text(encoding="utf-8")
    clicked = tmp_path / "heatmap.html"
    clicked.write_text(
        text[: text.rindex("</body>")] + CLICK_TO_HEATMAP + text[text.rindex("</body>") :], encoding="utf-8"
    )
    heat = _screenshot(clicked, tmp_path / "heatmap.png", tmp_path / "profile2")
    assert teal_pixels(heat) > 10 * max(teal_pixels(home), 500)
