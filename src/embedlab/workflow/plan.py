"""Every target of a config, planned once: datasets, evaluation runs, comparisons, MTEB tasks, fine-tune
inputs, word2vec runs and the report's inputs and plots (paths from `workflow.layout`).

Kept out of the .smk files so it is testable and the rules stay declarative; the report reads this plan
instead of re-deriving it.

Why this long (over the house's ~400 lines): it is the one place targets are planned (issue 13 asked for
that after five modules each planned a part); split, the report and deployment plans would import each
other again.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from itertools import permutations
from pathlib import Path
from typing import Any

from embedlab.data.beir import is_beir_folder
from embedlab.data.corpus import plan_sources
from embedlab.errors import EmbedlabError
from embedlab.evaluation.mteb_tasks import custom_task_name
from embedlab.evaluation.shards import SHARDABLE_KINDS
from embedlab.models.encoders import needs_gpu
from embedlab.models.spec import ModelSpec, model_spec, onnx_exports
from embedlab.report.plots import FORMATS
from embedlab.train.data import DatasetFiles
from embedlab.word2vec.run import OUTPUT_FILES as W2V_FILES
from embedlab.workflow import layout
from embedlab.workflow.config import corpus_languages, language_spec
from embedlab.workflow.settings import EvaluationSettings, Settings

# Report plots: name -> (caption file under report/, category in Snakemake's HTML report), in report order.
PLOTS: dict[str, tuple[str, str]] = {
    "mrr_heatmap": ("mrr_heatmap.rst", "Retrieval"),
    "finetune_vs_base": ("finetune_vs_base.rst", "Fine-tuning"),
    "deploy_frontier": ("deploy_frontier.rst", "Deployment"),
    "rank_distribution": ("rank_distribution.rst", "Retrieval"),
    "mteb_scores": ("mteb_scores.rst", "MTEB"),
    "loss_curves": ("loss_curves.rst", "Fine-tuning"),
}


def evaluation_settings(config: dict[str, Any]) -> EvaluationSettings:
    return Settings.of(config).evaluation


def exported_only(config: dict[str, Any]) -> list[str]:
    """Fine-tunes that only export data (backend autotrain with `autotrain.run: false`): no model to score."""
    return [
        name
        for name, ft in config["finetune"].items()
        if ft["backend"] == "autotrain" and not ft["autotrain"]["run"]
    ]


def _check_trained(config: dict[str, Any], names: list[str], key: str) -> None:
    for name in names:
        if name in exported_only(config):
            raise EmbedlabError(
                f"config error at {key}: fine-tune {name} only exports AutoTrain data (autotrain.run: "
                f"false), so there is no model to evaluate: set finetune.{name}.autotrain.run: true or drop "
                f"it from {key}"
            )


def hybrid_models(config: dict[str, Any]) -> list[str]:
    """`models` entries of kind hybrid, their members checked (at parse time, one line each)."""
    names = [name for name, entry in config["models"].items() if entry["kind"] == "hybrid"]
    for name in names:
        where = f"config error at models.{name}"
        members = config["models"][name]["of"]
        if len(set(members)) < 2:
            raise EmbedlabError(f"{where}.of: {members} needs two or more different models to fuse")
        for member in members:
            try:
                spec = model_spec(config, member)
            except EmbedlabError as exc:
                raise EmbedlabError(f"{where}.of: {exc}") from None
            if spec.kind == "hybrid":
                raise EmbedlabError(f"{where}.of: {member} is a hybrid itself: list its members instead")
        _check_trained(config, members, f"models.{name}.of")
    return names


def eval_models(config: dict[str, Any]) -> list[str]:
    """evaluation.models, or every `models` entry, every trained `finetune` entry and its ONNX exports."""
    chosen = evaluation_settings(config).models
    if chosen is None:
        skip = exported_only(config)
        trained = [n for n in config["finetune"] if n not in skip]
        chosen = [*config["models"], *trained, *onnx_exports(config["finetune"])]
    _check_trained(config, chosen, "evaluation.models")
    for name in chosen:
        model_spec(config, name)  # unknown names fail here, at parse time, with the list of known ones
    hybrid_models(config)
    return list(dict.fromkeys(chosen))


def encoder_models(config: dict[str, Any]) -> list[str]:
    """Evaluated models that are encoders (not hybrids): what cross-lingual runs and cross-checks take."""
    hybrids = set(hybrid_models(config))
    return [m for m in eval_models(config) if m not in hybrids]


def compression_models(config: dict[str, Any]) -> list[str]:
    """evaluation.compression.models, or every evaluated dense model (not BM25, not a hybrid, not an ONNX
    export: its int8 file is already a quantized variant)."""
    chosen = evaluation_settings(config).compression.models
    dense = [m for m in encoder_models(config) if model_spec(config, m).kind not in ("bm25", "onnx")]
    if chosen is None:
        return dense
    for name in chosen:
        if name not in dense:
            raise EmbedlabError(
                f"config error at evaluation.compression.models: {name} is not an evaluated dense model "
                f"(dense: {', '.join(dense) or 'none'})"
            )
    return list(dict.fromkeys(chosen))


@dataclass(frozen=True)
class RerankPipeline:
    """evaluation.rerank entry: `retriever`'s top_k chunks reordered by cross-encoder `reranker`."""

    retriever: str
    reranker: str
    top_k: int

    @property
    def name(self) -> str:
        """The pipeline's model name in every results file and table."""
        return f"{self.retriever}.{self.reranker}@{self.top_k}"


def rerank_pipelines(config: dict[str, Any]) -> list[RerankPipeline]:
    """evaluation.rerank, checked: registry retrievers that are not hybrids, known rerankers."""
    out = []
    for i, entry in enumerate(evaluation_settings(config).rerank):
        where = f"config error at evaluation.rerank[{i}]"
        if entry["reranker"] not in config["rerankers"]:
            known = ", ".join(config["rerankers"]) or "none"
            raise EmbedlabError(
                f"{where}.reranker: {entry['reranker']!r} is not in rerankers (known: {known})"
            )
        try:
            spec = model_spec(config, entry["retriever"])
        except EmbedlabError as exc:
            raise EmbedlabError(f"{where}.retriever: {exc}") from None
        if spec.kind == "hybrid":
            raise EmbedlabError(f"{where}.retriever: {spec.name} is a hybrid: rerank one of its members")
        out.append(RerankPipeline(entry["retriever"], entry["reranker"], entry["top_k"]))
    return list(dict.fromkeys(out))


def trained_rerankers(config: dict[str, Any]) -> list[str]:
    """`rerankers` entries with datasets (fine-tuned by rule finetune_reranker), each checked."""
    pairs = {f"{c}/{lang}" for c, lang in corpus_languages(config)}
    names = []
    for name, entry in config["rerankers"].items():
        if not entry["datasets"]:
            continue
        for ds in entry["datasets"]:
            if ds not in pairs:
                raise EmbedlabError(
                    f"config error at rerankers.{name}.datasets: {ds!r} is not a configured corpus/language"
                )
        model_spec(config, entry["retriever"])  # an unknown miner fails here
        names.append(name)
    return names


def reranker_source(config: dict[str, Any], name: str) -> str:
    """Where a reranker's weights are: its fine-tuned folder, else its `source`."""
    return (
        layout.reranker_dir(name)
        if config["rerankers"][name]["datasets"]
        else config["rerankers"][name]["source"]
    )


def reranker_args(config: dict[str, Any], name: str) -> dict[str, Any]:
    """What `train.reranker.finetune_reranker` takes besides the datasets and the output folder."""
    entry = config["rerankers"][name]
    keys = (
        "loss",
        "epochs",
        "batch_size",
        "learning_rate",
        "max_length",
        "negatives",
        "dev_fraction",
        "max_queries",
    )
    return {
        "base_source": entry["source"],
        "retriever": model_spec(config, entry["retriever"]),
        "seed": config["seed"] if entry["seed"] is None else entry["seed"],
        "name": name,
        **{k: entry[k] for k in keys},
    }


def spec_of(config: dict[str, Any], name: str) -> ModelSpec:
    return model_spec(config, name)


def members_of(config: dict[str, Any], name: str) -> list[ModelSpec]:
    """A hybrid's member specs, in `of` order."""
    return [model_spec(config, m) for m in config["models"][name]["of"]]


def gpus_for(config: dict[str, Any], name: str) -> int:
    spec = model_spec(config, name)
    if spec.kind == "hybrid":
        return max(gpus_for(config, m) for m in spec.of)
    return int(needs_gpu(spec))


def mem_mb_for(config: dict[str, Any], name: str) -> int:
    return 12000 if gpus_for(config, name) else 4000


def shard_count(config: dict[str, Any], name: str) -> int:
    """Jobs that encode a model's val corpus: evaluation.shards for kinds that shard, else 1 (one job)."""
    shards = evaluation_settings(config).shards
    return shards if shards > 1 and model_spec(config, name).kind in SHARDABLE_KINDS else 1


def sharded_models(config: dict[str, Any]) -> list[str]:
    """Encoders (evaluated or run through MTEB, as evaluate_retrieval's {model}) whose corpus rule
    encode_shard encodes: the rule's {model} constraint."""
    return sorted(m for m in {*encoder_models(config), *mteb_models(config)} if shard_count(config, m) > 1)


def corpus_shards(config: dict[str, Any], name: str, corpus: str, lang: str) -> list[tuple[str, str]]:
    """(vectors, sidecar) of every corpus shard a model's evaluate_retrieval reads; none for one job."""
    n = shard_count(config, name)
    if n == 1:
        return []
    return [
        (layout.corpus_shard(name, corpus, lang, i, n), layout.corpus_shard_meta(name, corpus, lang, i, n))
        for i in range(n)
    ]


def mteb_val_input(config: dict[str, Any], task: str) -> list[str]:
    """The val split a custom MTEB task is built from (none for standard tasks)."""
    custom = mteb_custom_tasks(config)
    if task not in custom:
        return []
    return [layout.val(*custom[task])]


def model_inputs(config: dict[str, Any], name: str) -> list[str]:
    """Files a model needs before it can be evaluated: a fine-tuned model's folder (made by training); a
    hybrid's, those of its members."""
    if name in config["models"] and config["models"][name]["kind"] == "hybrid":
        return [path for m in config["models"][name]["of"] for path in model_inputs(config, m)]
    if name in onnx_exports(config["finetune"]):
        return [model_spec(config, name).source]
    return [layout.model_dir(name)] if name in config["finetune"] else []


def crosslingual_pairs(config: dict[str, Any]) -> list[tuple[str, str, str]]:
    """(corpus, src, tgt): `auto` = every ordered pair of a corpus's languages; or a mapping listing them."""
    setting = evaluation_settings(config).crosslingual
    langs: dict[str, list[str]] = {}
    for corpus, lang in corpus_languages(config):
        langs.setdefault(corpus, []).append(lang)
    if not setting:
        return []
    if setting == "auto":
        return [(c, a, b) for c, ls in langs.items() for a, b in permutations(ls, 2)]
    out = []
    for corpus, pairs in setting.items():
        for src, tgt in pairs:
            if corpus not in langs or src not in langs[corpus] or tgt not in langs[corpus]:
                raise EmbedlabError(
                    f"config error at evaluation.crosslingual.{corpus}: {src}-{tgt} needs both languages in "
                    f"corpora.{corpus}.languages (has: {', '.join(langs.get(corpus, [])) or 'none'})"
                )
            out.append((corpus, src, tgt))
    return out


def compare_pairs(config: dict[str, Any]) -> list[tuple[str, str]]:
    """(a, b) pairs for the paired test: evaluation.compare plus each evaluated fine-tune vs its base."""
    models = eval_models(config)
    ev = evaluation_settings(config)
    pairs = [tuple(p) for p in ev.compare]
    if ev.compare_finetunes:
        for name, ft in config["finetune"].items():
            if name in models and ft["base"] in models:
                pairs.append((ft["base"], name))
    for name in hybrid_models(config):  # each hybrid against each evaluated member
        pairs += [(m, name) for m in config["models"][name]["of"] if name in models and m in models]
    pairs += [(p.retriever, p.name) for p in rerank_pipelines(config) if p.retriever in models]
    evaluated = {*models, *(p.name for p in rerank_pipelines(config))}
    for a, b in pairs:
        if a not in evaluated or b not in evaluated:
            raise EmbedlabError(
                f"config error at evaluation.compare: {a} vs {b}: both must be in evaluation.models"
            )
    return list(dict.fromkeys(pairs))


def mteb_models(config: dict[str, Any]) -> list[str]:
    """mteb.models, or every evaluated encoder (MTEB encodes texts: a hybrid is not an encoder) but the ONNX
    exports (the same model: their parity and retrieval rows already say how close they are)."""
    chosen = Settings.of(config).mteb.models
    if chosen is None:
        exports = set(onnx_exports(config["finetune"]))
        return [m for m in encoder_models(config) if m not in exports]
    _check_trained(config, chosen, "mteb.models")
    hybrids = [m for m in chosen if m in hybrid_models(config)]
    if hybrids:
        raise EmbedlabError(
            f"config error at mteb.models: {hybrids[0]} is a hybrid; MTEB needs an encoder: list its members"
        )
    return list(dict.fromkeys(chosen))


def mteb_custom_tasks(config: dict[str, Any]) -> dict[str, tuple[str, str]]:
    """Custom task name -> (corpus, lang), one per val split, when mteb.custom_tasks is on."""
    if not Settings.of(config).mteb.custom_tasks:
        return {}
    return {custom_task_name(c, lang): (c, lang) for c, lang in corpus_languages(config)}


def mteb_tasks(config: dict[str, Any]) -> list[str]:
    """Custom val-split tasks, the named standard tasks, and with `mteb.select` every registry task matching
    task_types / categories / languages (the tutorial's `MTEB(task_types=[...])` selection)."""
    mt = Settings.of(config).mteb
    names = [*mteb_custom_tasks(config), *mt.tasks]
    if mt.select:
        import mteb

        filters = {k: getattr(mt, k) for k in ("task_types", "categories", "languages") if getattr(mt, k)}
        if not filters:
            raise EmbedlabError(
                "config error at mteb.select: set task_types, categories or languages to select by"
            )
        names += [t.metadata.name for t in mteb.get_tasks(**filters)]
    return list(dict.fromkeys(names))


def mteb_results(config: dict[str, Any], model: str) -> list[str]:
    """One model's MTEB result files (the inputs of its MTEB card)."""
    return [layout.mteb_result(model, t) for t in mteb_tasks(config)]


def dataset_files(name: str) -> DatasetFiles:
    """The files a dataset "corpus/lang" is read from (outputs of the chunking and split rules)."""
    corpus, _, lang = name.partition("/")
    return DatasetFiles(
        name=name,
        train=layout.train(corpus, lang),
        val=layout.val(corpus, lang),
        chunks=layout.chunks(corpus, lang),
    )


def finetune_inputs(config: dict[str, Any], name: str) -> dict[str, list[str] | str]:
    """A fine-tune's inputs: train/val/chunks of each dataset, and the base folder if it is a fine-tune."""
    finetunes = config["finetune"]
    entry = finetunes[name]
    files = [dataset_files(ds) for ds in entry["datasets"]]
    inputs: dict[str, list[str] | str] = {
        "train": [f.train for f in files],
        "val": [f.val for f in files],
        "chunks": [f.chunks for f in files],
    }
    if entry["base"] in finetunes:
        inputs["base_model"] = layout.model_dir(entry["base"])
    return inputs


def finetune_args(config: dict[str, Any], name: str) -> dict[str, Any]:
    """What `train.finetune.finetune` takes besides name, output and datasets: the entry (defaults filled),
    the base model's spec, and the entry's seed (else the run's)."""
    entry = config["finetune"][name]
    return {
        "settings": entry,
        "base": model_spec(config, entry["base"]),
        "seed": config["seed"] if entry["seed"] is None else entry["seed"],
    }


def word2vec_inputs(run: dict[str, Any]) -> list[str]:
    """Input files of a word2vec run: the chunk file for `chunks: corpus/lang`, none for the toy preset."""
    return [layout.chunks(*run["chunks"].split("/", 1))] if run.get("chunks") else []


def word2vec_targets(runs: dict[str, dict[str, Any]]) -> list[str]:
    return [layout.word2vec(name, file) for name in runs for file in W2V_FILES]


def real_question_sets(config: dict[str, Any]) -> list[tuple[str, str]]:
    """(corpus, lang) pairs that have real questions: corpora.<c>.languages.<l>.questions, or a BEIR folder
    (its test qrels)."""
    sources = plan_sources(config)
    return [
        (c, lang)
        for c, lang in corpus_languages(config)
        if language_spec(config, c, lang).get("questions") or is_beir_folder(sources[(c, lang)].path)
    ]


def questions_file(config: dict[str, Any], corpus: str, lang: str, workflow_dir: str | Path) -> str:
    """A language's real-questions file: absolute, or relative to the working directory, else to the
    workflow's folder (the shipped questions are found from any `--directory`, whatever corpus_root is)."""
    spec = language_spec(config, corpus, lang)
    if not spec.get("questions"):  # a BEIR folder: its own qrels
        return str(plan_sources(config)[(corpus, lang)].path)
    file = Path(spec["questions"]["file"])
    for path in (file, Path(workflow_dir) / file):
        if path.is_file() or is_beir_folder(path):  # a BEIR folder named to set ignore_identical_ids
            return str(path)
    raise EmbedlabError(
        f"corpus {corpus}/{lang}: questions file {file} not found in the working directory or "
        f"{workflow_dir}: fix corpora.{corpus}.languages.{lang}.questions.file"
    )


def real_question_models(config: dict[str, Any]) -> list[str]:
    """The models scored on real questions: every evaluated encoder and hybrid (rerank pipelines: not yet)."""
    return eval_models(config) if evaluation_settings(config).enabled else []


def real_pairs(config: dict[str, Any], name: str) -> list[tuple[str, str, str]]:
    """(base, corpus, lang) for each dataset with real questions on which fine-tune `name` and its base are
    both scored (the published card's before -> after)."""
    models = real_question_models(config)
    base = config["finetune"][name]["base"]
    if name not in models or base not in models:
        return []
    return [(base, c, lang) for c, lang in real_question_sets(config)]


def evaluation_targets(config: dict[str, Any]) -> list[str]:
    """Every evaluation output the default target asks for."""
    ev = evaluation_settings(config)
    out: list[str] = []
    if ev.enabled:
        models = eval_models(config)
        encoders = encoder_models(config)
        pairs = corpus_languages(config)
        for m in models:
            for c, lang in pairs:
                out += [layout.eval_summary(m, c, lang), layout.eval_queries(m, c, lang)]
                if ev.cross_check and m in encoders and model_spec(config, m).kind != "bm25":  # need vectors
                    out.append(layout.crosscheck(m, c, lang))
            if m in encoders:
                out += [layout.eval_summary(m, c, f"{a}-{b}") for c, a, b in crosslingual_pairs(config)]
        for m in compression_models(config):
            out += [layout.compression_summary(m, c, lang) for c, lang in pairs]
        for p in rerank_pipelines(config):
            for c, lang in pairs:
                out += [layout.eval_summary(p.name, c, lang), layout.eval_queries(p.name, c, lang)]
        for a, b in compare_pairs(config):
            for c, lang in pairs:
                out.append(layout.comparison(a, b, c, lang))
        for m in real_question_models(config):
            for c, lang in real_question_sets(config):
                out += [layout.eval_summary(m, c, lang, "real"), layout.eval_queries(m, c, lang, "real")]
    if Settings.of(config).mteb.enabled:
        for m in mteb_models(config):
            out += [*mteb_results(config, m), layout.mteb_card(m)]
            if m in config["finetune"]:  # fine-tuned: its model dir with the MTEB card merged
                out.append(layout.published(m))
    return out


@dataclass
class ReportPlan:
    """What the report rules read and write for a config."""

    models: list[str]
    runs: list[tuple[str, str, str]]  # (model, corpus, lang or "src-tgt")
    real_runs: list[tuple[str, str, str]]  # (model, corpus, lang) scored on real questions
    provenance: list[str]
    splits: list[str]  # split.json per dataset: the label checks of the trust section
    model_dirs: list[str]
    mteb: list[str]
    compression: list[str]  # compression variant CSVs: rows of the "what to deploy" table
    bases: dict[str, str]
    plots: list[str]
    notes: list[str] = field(default_factory=list)

    @property
    def eval_csvs(self) -> list[str]:
        return [layout.eval_summary(m, c, lang) for m, c, lang in self.runs]

    @property
    def query_csvs(self) -> list[str]:
        return [layout.eval_queries(m, c, lang) for m, c, lang in self.runs]

    @property
    def real_csvs(self) -> list[str]:
        return [layout.eval_summary(m, c, lang, "real") for m, c, lang in self.real_runs]

    @property
    def real_query_csvs(self) -> list[str]:
        return [layout.eval_queries(m, c, lang, "real") for m, c, lang in self.real_runs]

    @property
    def real_mappings(self) -> list[str]:
        return list(dict.fromkeys(layout.real_mapping(c, lang) for _, c, lang in self.real_runs))

    @property
    def query_set_files(self) -> list[str]:
        """Every dataset's query_sets.csv (how lexical each query set is)."""
        return list(dict.fromkeys(layout.query_sets(c, lang) for _, c, lang in self.runs if "-" not in lang))

    def plot_paths(self, name: str) -> dict[str, str]:
        return {fmt: layout.plot(name, fmt) for fmt in FORMATS}

    def targets(self) -> list[str]:
        """The report's files: summary.csv, summary.md and every planned plot (nothing without runs)."""
        if not self.runs:
            return []
        plots = [path for name in self.plots for path in self.plot_paths(name).values()]
        return [layout.summary_csv(), layout.summary_md(), layout.deploy_csv(), *plots]


def report_plan(config: dict[str, Any]) -> ReportPlan:
    """Inputs and plot list of the report; plots without data in this config are left out (with a note)."""
    settings = Settings.of(config)
    pairs = corpus_languages(config)
    models = eval_models(config) if settings.evaluation.enabled else []
    if settings.evaluation.enabled:
        models += [p.name for p in rerank_pipelines(config)]
    runs = [(m, c, lang) for m in models for c, lang in pairs]
    real_sets = real_question_sets(config)
    encoders = encoder_models(config) if settings.evaluation.enabled else []
    runs += [(m, c, f"{a}-{b}") for m in encoders for c, a, b in crosslingual_pairs(config)]
    finetunes = config["finetune"]
    bases = {m: finetunes[m]["base"] for m in models if m in finetunes}
    mteb_of = mteb_models(config) if settings.mteb.enabled else []
    mteb_files = [path for m in mteb_of for path in mteb_results(config, m)]
    trained = [m for m in finetunes if m in models or m in mteb_of]
    notes = []
    plots = ["mrr_heatmap"]
    if any(b in models for b in bases.values()):
        plots.append("finetune_vs_base")
    else:
        notes.append(
            "No fine-tuned model was evaluated next to its base model (config `finetune:`), so there is "
            "no base-vs-fine-tuned plot and no paired test."
        )
    plots += ["deploy_frontier", "rank_distribution"]
    if mteb_files:
        plots.append("mteb_scores")
    else:
        notes.append("MTEB was not run (config `mteb.enabled: false` or no tasks), so there is no MTEB plot.")
    if trained:
        plots.append("loss_curves")
    notes += [
        f"Fine-tune `{name}` was exported, not trained (backend autotrain, `autotrain.run: false`): its "
        f"AutoTrain data and config are in {layout.model_dir(name)}/autotrain; it is not evaluated, run "
        "through MTEB or published."
        for name in exported_only(config)
    ]
    return ReportPlan(
        models=list(dict.fromkeys([*models, *mteb_of])),
        runs=runs,
        real_runs=[(m, c, lang) for m in real_question_models(config) for c, lang in real_sets],
        provenance=[layout.provenance(c, lang) for c, lang in pairs] if runs else [],
        splits=[layout.split_report(c, lang) for c, lang in pairs] if runs else [],
        model_dirs=[layout.model_dir(m) for m in trained],
        mteb=mteb_files,
        compression=[
            layout.compression_summary(m, c, lang)
            for m in (compression_models(config) if settings.evaluation.enabled else [])
            for c, lang in pairs
        ],
        bases=bases,
        plots=plots if runs else [],
        notes=notes,
    )


def plot_outputs(plan: ReportPlan, report: Any) -> dict[str, Any]:
    """Named outputs of the plot rule: each plot's SVG, and its PNG wrapped in Snakemake's `report()` (shown
    in the HTML report with its caption from report/*.rst, under its category)."""
    out: dict[str, Any] = {}
    for name in plan.plots:
        caption, category = PLOTS[name]
        paths = plan.plot_paths(name)
        out[f"{name}_svg"] = paths["svg"]
        out[f"{name}_png"] = report(
            paths["png"], caption=f"../report/{caption}", category=category, labels={"plot": name}
        )
    return out


def targets(config: dict[str, Any], word2vec_runs: dict[str, dict[str, Any]]) -> list[str]:
    """The default target: every dataset split, evaluation output, fine-tuned model, report file and
    word2vec run of the config."""
    splits = [
        path
        for c, lang in corpus_languages(config)
        for path in (layout.train(c, lang), layout.val(c, lang), layout.split_report(c, lang))
    ]
    splits += [layout.query_sets(c, lang) for c, lang in corpus_languages(config)]
    return [
        *splits,
        *evaluation_targets(config),
        *(layout.model_dir(name) for name in config["finetune"]),
        *(layout.reranker_dir(name) for name in trained_rerankers(config)),
        *report_plan(config).targets(),
        *word2vec_targets(word2vec_runs),
    ]
