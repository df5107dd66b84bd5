"""README.md model card of a fine-tuned model, rendered from the facts also stored in training.json."""

from __future__ import annotations

import shutil
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from embedlab import filenames, io


def _fmt(value: Any) -> str:
    if isinstance(value, float):
        if value and abs(value) < 0.01:
            return f"{value:.3g}"
        return f"{value:.4f}" if abs(value) < 1000 else f"{value:.0f}"
    if value is None:
        return "—"
    return str(value)


def _table(header: list[str], rows: list[list[Any]]) -> str:
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    lines += ["| " + " | ".join(_fmt(c) for c in row) + " |" for row in rows]
    return "\n".join(lines)


def render_model_card(facts: dict[str, Any]) -> str:
    """Markdown with a Hugging Face-style YAML header; every number comes from `facts`."""
    out = _header(facts) + _training_data(facts)
    if facts.get("status") == "exported":
        at = facts["autotrain"]
        out += [
            "## AutoTrain export",
            "",
            _table(["file", "rows"], [[f, n] for f, n in at["files"].items()]),
            "",
            f"Task `{at['task']}`, config `autotrain/config.yml`.",
            "",
        ]
        return "\n".join(out)
    out += _training(facts)
    out += [
        "Retrieval before → after (val.json, real questions) is measured once, by the evaluation: the "
        "published copy of this model and the report carry those numbers.",
        "",
    ]
    return "\n".join(out)


def _front_matter(base_source: str, kind: str) -> list[str]:
    """The Hugging Face YAML header every embedlab card starts with; `kind`: the backend, or "merge"."""
    tags = dict.fromkeys(["sentence-transformers", "sentence-similarity", "embedlab", kind])
    return [
        "---",
        "library_name: sentence-transformers",
        "pipeline_tag: sentence-similarity",
        f"base_model: {base_source}",
        "tags: [" + ", ".join(tags) + "]",
        "---",
        "",
    ]


def _header(facts: dict[str, Any]) -> list[str]:
    """YAML front matter, title, and what the model is (or that it is not trained yet)."""
    base = facts["base"]
    out = [
        *_front_matter(base["source"], facts["backend"]),
        f"# {facts['name']}",
        "",
    ]
    if facts.get("status") == "exported":
        out += [
            f"**Not trained yet**: embedlab exported AutoTrain training data for base model `{base['name']}` "
            f"(`{base['source']}`) into `autotrain/`. {facts['autotrain']['how_to_run']}",
            "",
        ]
        return out
    out += [
        f"Fine-tuned by embedlab from `{base['name']}` (`{base['source']}`) with the "
        f"`{facts['backend']}` backend on synthetic queries over the datasets below. Load offline with "
        f'`SentenceTransformer("{facts["path"]}")`.',
        "",
    ]
    if base.get("query_prefix") or base.get("passage_prefix"):
        out += [
            f"Prefixes (as in training): queries `{base.get('query_prefix', '')!r}`, passages "
            f"`{base.get('passage_prefix', '')!r}`.",
            "",
        ]
    return out


def _training_data(facts: dict[str, Any]) -> list[str]:
    """The datasets' counts, what the dev slice and val.json are for, and the hard negatives."""
    rows = [
        [name, s["pairs"], s["train_queries"], s["dev_queries"], s["dev_groups"], s["val_queries"]]
        for name, s in facts["datasets"].items()
    ]
    out = [
        "## Training data",
        "",
        _table(
            ["dataset", "training pairs", "train.json queries", "dev queries", "dev groups", "val queries"],
            rows,
        ),
        "",
        f"Training pairs in all: **{facts['pairs']}**. The dev slice (checkpoint selection) is carved out of "
        "train.json by chunk group; val.json (held out by chunk group in the split) is used only for the "
        "numbers below, never for selection.",
        "",
    ]
    hn = facts.get("hard_negatives") or {}
    if hn.get("used"):
        out += [_hard_negatives(hn), ""]
    return out


def _hard_negatives(hn: dict[str, Any]) -> str:
    """How the hard negatives were mined and vetted, and how many of each kind."""
    miner = "the base model" if hn["miner"] == "base" else f"`{hn['miner']}`"
    margins = "".join(
        f", {kind} margin {hn[f'{kind}_margin']}"
        for kind in ("relative", "absolute")
        if hn[f"{kind}_margin"] is not None
    )
    text = (
        f"Hard negatives: {hn['num']} per pair, mined with `mine_hard_negatives` by {miner} (candidates "
        f"ranked {hn['range_min']} to {hn['range_max']}{margins}) against training chunks only"
    )
    if hn.get("oracle"):
        text += (
            f", vetted by the cross-encoder `{hn['oracle']}` (a candidate it scores within "
            f"{hn['oracle_margin']} of the positive is dropped: {hn['oracle_dropped']} dropped)"
        )
    return text + f" ({hn['mined']} mined, {hn['random_fill']} random fills)."


def _training(facts: dict[str, Any]) -> list[str]:
    """Loss, hyperparameters, selection, times, hardware and versions."""
    loss = facts["loss"]
    loss_text = loss["name"] + (
        f" (mini-batch {loss['mini_batch_size']})" if "mini_batch_size" in loss else ""
    )
    loss_text += "".join(f", {role} {loss[role]['name']}" for role in ("guide", "teacher") if role in loss)
    if loss.get("matryoshka_dims"):
        loss_text = f"MatryoshkaLoss({loss_text}, dims {loss['matryoshka_dims']})"
    return [
        "## Training",
        "",
        _table(
            ["setting", "value"],
            [
                ["loss", loss_text],
                ["batch sampler", facts.get("batch_sampler")],
                *_batch_plan(facts.get("batch_plan")),
                *[[k, v] for k, v in facts["hyperparameters"].items()],
                ["selection", facts["selection"].get("metric")],
                ["best step", facts["selection"].get("best_step")],
                ["best dev score", facts["selection"].get("best_score")],
                ["training time (s)", facts["training_time_s"]],
                ["total time (s)", facts.get("total_time_s")],
                ["pairs/s", facts.get("pairs_per_second")],
            ],
        ),
        "",
        *_lora(facts.get("lora")),
        "Hardware: " + ", ".join(f"{k} {v}" for k, v in facts["hardware"].items()) + ".",
        *_processes(facts.get("distributed")),
        "Versions: " + ", ".join(f"{k} {v}" for k, v in facts.get("versions", {}).items()) + ".",
        "",
    ]


def _lora(lora: dict[str, Any] | None) -> list[str]:
    """What LoRA trained (none for full fine-tuning)."""
    if not lora or not lora["enabled"]:
        return []
    share = 100 * lora["trainable_parameters"] / lora["total_parameters"]
    return [
        f"LoRA: rank {lora['r']}, alpha {lora['alpha']}, dropout {lora['dropout']} on "
        + ", ".join(f"`{m}`" for m in lora["target_modules"])
        + f": {lora['trainable_parameters']:,} of {lora['total_parameters']:,} parameters trained "
        f"({share:.2f} %); the adapter is merged into these weights, and kept alone in `{lora['adapter']}/`.",
        "",
    ]


def _batch_plan(plan: dict[str, Any] | None) -> list[list[Any]]:
    """The no-false-negatives sampler's counts over the planned epochs (none for other samplers)."""
    if not plan:
        return []
    epochs = plan["epochs"]
    return [
        ["pairs moved (false negatives avoided)", sum(e["moved"] for e in epochs)],
        [
            "short batches / pairs dropped",
            f"{sum(e['short'] for e in epochs)} / {sum(e['dropped'] for e in epochs)}",
        ],
    ]


def _processes(dist: dict[str, Any] | None) -> list[str]:
    """The world the model was trained in (none for cards of older training.json files)."""
    if not dist:
        return []
    if dist["world_size"] == 1:
        return ["Processes: world size 1 (one process, no data parallelism)."]
    return [
        f"Processes: world size {dist['world_size']} ({dist['nodes']} node(s) x {dist['processes_per_node']} "
        f"processes, {dist['launcher']}, DDP over {dist['backend']}); {dist['gathered_loss']} gathered the "
        f"in-batch negatives across devices: effective batch {dist['effective_batch_size']} = "
        f"{dist['world_size']} x {dist['per_device_batch_size']}. What differs from one process is listed "
        "in training.json (`distributed`)."
    ]


def _split_front_matter(text: str) -> tuple[dict[str, Any], str]:
    """(YAML header, body) of a Hugging Face-style README; no header -> ({}, text)."""
    import yaml

    if text.startswith("---\n"):
        end = text.find("\n---\n", 4)
        if end > 0:
            return yaml.safe_load(text[4:end]) or {}, text[end + 5 :]
    return {}, text


def merge_cards(training_card: str, mteb_card: str) -> str:
    """One README: the training card's header plus the MTEB `model-index` (what mteb's create_meta gives a
    Hub model card), the training body, then the MTEB results table."""
    import yaml

    head, body = _split_front_matter(training_card)
    mteb_head, mteb_body = _split_front_matter(mteb_card)
    merged = dict(head)
    merged["tags"] = list(dict.fromkeys([*head.get("tags", []), *mteb_head.get("tags", [])]))
    if "model-index" in mteb_head:
        merged["model-index"] = mteb_head["model-index"]
    mteb_lines = mteb_body.strip().splitlines()
    if mteb_lines and mteb_lines[0].startswith("# "):
        mteb_lines = ["## MTEB results", *mteb_lines[1:]]
    return (
        "---\n"
        + yaml.safe_dump(merged, sort_keys=False, allow_unicode=True)
        + "---\n"
        + body.rstrip()
        + "\n\n"
        + "\n".join(mteb_lines).strip()
        + "\n"
    )


BEFORE_AFTER_METRICS = ("mrr@10", "ndcg@10", "hit@1", "hit@10")
BEFORE_AFTER = {  # query set -> (section title, what the queries are, column name)
    "val": (
        "Validation (val.json, before → after)",
        "Synthetic queries of each trained-on dataset's val split (chunk groups never trained on)",
        "val queries",
    ),
    "real": (
        "On real questions (before → after)",
        "Questions written outside the pipeline (`corpora.<c>.languages.<l>.questions`), never trained on",
        "real questions",
    ),
}


def before_after_section(pairs: Sequence[tuple[str | Path, str | Path]], query_set: str) -> str:
    """The card's "before -> after" on `query_set` ("val" or "real"): the evaluation's (base, model) summary
    CSVs per dataset, so the card's numbers are summary.csv's (measured once, by rule evaluate_retrieval)."""
    if not pairs:
        return ""
    import pandas as pd

    title, what, count = BEFORE_AFTER[query_set]
    rows = []
    for base_csv, model_csv in pairs:
        base = pd.read_csv(base_csv).iloc[0]
        tuned = pd.read_csv(model_csv).iloc[0]
        cells = [f"{base[m]:.3f} → {tuned[m]:.3f}" for m in BEFORE_AFTER_METRICS]
        rows.append([f"{tuned['corpus']}/{tuned['lang']}", int(tuned["n_queries"]), *cells])
    header = ["dataset", count, *(f"{m} base → this model" for m in BEFORE_AFTER_METRICS)]
    return (
        f"\n## {title}\n\n{what}; the base and this model on the same queries (summary.md has the paired "
        "test).\n\n" + _table(header, rows) + "\n"
    )


def release_section(release_csv: str | Path, model: str) -> str:
    """The card's release verdict: the gate's lines for `model` from the report's release.csv."""
    import pandas as pd

    table = pd.read_csv(release_csv, keep_default_na=False)
    mine = table[table["model"] == model] if not table.empty else table
    if mine.empty:
        return ""
    lines = [f"- {r.corpus}/{r.lang}: **{r.verdict}**: {r.reason}" for r in mine.itertuples()]
    return (
        "\n## Release verdict\n\nembedlab's release gate (report/release.csv).\n\n" + "\n".join(lines) + "\n"
    )


def publish_model(
    model_dir: str | Path,
    mteb_card: str | Path,
    out_dir: str | Path,
    val: Sequence[tuple[str | Path, str | Path]] = (),
    real: Sequence[tuple[str | Path, str | Path]] = (),
    release: str | Path | None = None,
) -> Path:
    """Rule `publish_model`: a copy of a fine-tuned (or merged) model dir whose README also carries its MTEB
    model-index, the base's and its scores per dataset it trained on (`val`: (base, model) evaluation CSVs)
    and per dataset with real questions (`real`), and the release gate's verdict (`release`: the report's
    release.csv).

    A copy, because the model dir is the finetune rule's output: writing into it would make Snakemake
    retrain. Written atomically (`io.atomic_dir`), so a partial copy is never taken as finished.
    """
    src = Path(model_dir)
    card = (src / filenames.MODEL_CARD).read_text(encoding="utf-8")
    merged = merge_cards(card, Path(mteb_card).read_text(encoding="utf-8"))
    merged += before_after_section(val, "val") + before_after_section(real, "real")
    if release is not None:
        merged += release_section(release, src.name)
    with io.atomic_dir(out_dir) as tmp:
        shutil.copytree(src, tmp, dirs_exist_ok=True)
        io.write_text(tmp / filenames.MODEL_CARD, merged)
    return Path(out_dir)


def render_merge_card(facts: dict[str, Any]) -> str:
    """A merged model's card (merge.json's facts): what was mixed in what share and, for a chosen weight,
    the candidates' dev and guard scores, so the folder explains itself when published or copied."""
    base, ft, weight = facts["base"], facts["finetuned"], facts["weight"]
    out = [
        *_front_matter(base["source"], "merge"),
        f"# {facts['name']}",
        "",
        f"Merged by embedlab: every floating-point parameter is {1 - weight:g} × `{base['name']}` "
        f"(`{base['source']}`) + {weight:g} × its fine-tune `{ft['name']}` (`{ft['source']}`) "
        f"({facts['method']} interpolation, LM-Cocktail style; {facts['parameters']} tensors). Load offline "
        f'with `SentenceTransformer("{facts["name"]}")` from its folder.',
        "",
    ]
    choice = facts.get("choice")
    if choice:
        guards = list(choice["candidates"][0]["guard"])
        dev = choice.get("dev")
        on = f" ({dev['queries']} queries of {', '.join(dev['datasets'])})" if dev else ""
        rows = [
            [f"{c['weight']:g}", c["dev"], *(c["guard"][g] for g in guards),
             "yes" if c["qualifies"] else "no", "**chosen**" if c["chosen"] else ""]
            for c in choice["candidates"]
        ]  # fmt: skip
        out += [
            "## How the weight was chosen",
            "",
            f"The best {choice['metric']} on the fine-tune's dev slice{on} among the weights that stay "
            f"within {choice['max_loss']:g} of the base on every forgetting-guard dataset (train side; "
            "weight 0, the base, always qualifies).",
            "",
            _table(["weight", "dev", *guards, "within the guard", ""], rows),
            "",
        ]
    return "\n".join(out)
