"""The plan of a config: one object, built once by `Plan.of` (rules/common.smk keeps it as PLAN).

It holds what the validated config says in the shapes the rules take (typed `Settings`, the model
`Registry`, sources, datasets, fine-tunes, rerankers, word2vec runs, LLM settings, real-question files)
and answers every planning question: which models are evaluated, hybrids and their members, shards, MTEB
tasks, comparisons, fine-tune inputs, the report's inputs and plots, and the default target (paths from
`workflow.layout`). Answers without arguments are computed once (cached properties); every config check
(`workflow.checks`) runs in `Plan.of`, so a mistake stops the run before any job.

Kept out of the .smk files so it is testable and the rules stay declarative: the rules read the config only
through it, and the report reads `Plan.report` instead of re-deriving it.

Why this long (over the house's ~400 lines): it is the one object every planning question goes to (issue
24 asked for that after functions each re-derived the registry and settings from the raw config); what
stands alone lives beside it: the model registry (workflow/registry.py), the config checks
(workflow/checks.py) and the report's plan (workflow/report_plan.py).
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from functools import cached_property
from itertools import permutations
from pathlib import Path
from typing import Any

from embedlab.data.beir import is_beir_folder
from embedlab.data.chunking import ChunkingSettings
from embedlab.data.corpus import Source, resolve_source
from embedlab.data.llm.prompts import type_instructions
from embedlab.data.llm.providers import uses_gpu
from embedlab.data.llm.roundtrip import resolve_retriever, retriever_needs_gpu
from embedlab.data.training_data import DatasetFiles
from embedlab.errors import EmbedlabError
from embedlab.evaluation.mteb_tasks import custom_task_name, rerank_task_name
from embedlab.evaluation.options import EvalOptions
from embedlab.evaluation.per_model import EvalRun
from embedlab.evaluation.shards import SHARDABLE_KINDS
from embedlab.models.encoders import needs_gpu
from embedlab.models.spec import ModelSpec, registry_spec
from embedlab.report.release import Candidate, Gate
from embedlab.settings import Settings
from embedlab.train.negatives import Oracle, miner_name
from embedlab.train.teachers import helper_models
from embedlab.workflow import checks, layout, needs, variants
from embedlab.workflow.config import chunking, validate_config
from embedlab.workflow.merging import MergeChoice, MergeJob
from embedlab.workflow.registry import Registry
from embedlab.workflow.report_plan import ReportPlan


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


def dataset_files(name: str) -> DatasetFiles:
    """The files a dataset "corpus/lang" is read from (outputs of the chunking and split rules)."""
    corpus, _, lang = name.partition("/")
    return DatasetFiles(
        name=name,
        train=layout.train(corpus, lang),
        val=layout.val(corpus, lang),
        chunks=layout.chunks(corpus, lang),
    )


def _dataset_pairs(names: list[str]) -> tuple[tuple[str, ...], ...]:
    """`corpus/lang` dataset names as (corpus, lang) pairs."""
    return tuple(tuple(ds.split("/", 1)) for ds in names)


def _seed(entry: dict[str, Any], seed: int) -> int:
    """An entry's own seed (fine-tune, reranker, word2vec run), else the run's."""
    return seed if entry.get("seed") is None else entry["seed"]


def _questions_file(
    corpus: str,
    lang: str,
    spec: dict[str, Any] | None,
    source: Source,
    workflow_dir: str | Path,
    corpus_root: str | Path | None,
) -> str:
    """A language's real-questions file: absolute, or relative to the working directory, else to the
    workflow's folder (the shipped questions are found from any `--directory`, whatever corpus_root is),
    else to corpus_root (beside the documents; a BEIR folder named to set ignore_identical_ids)."""
    if not spec:  # a BEIR folder: its own qrels
        return str(source.path)
    file = Path(spec["file"])
    places = [file, Path(workflow_dir) / file, *([Path(corpus_root) / file] if corpus_root else [])]
    for path in places:
        if path.is_file() or is_beir_folder(path):
            return str(path)
    raise EmbedlabError(
        f"corpus {corpus}/{lang}: questions file {file} not found in the working directory, "
        f"{workflow_dir} or corpus_root: fix corpora.{corpus}.languages.{lang}.questions.file"
    )


@dataclass(frozen=True, eq=False)
class Plan:
    """A validated, checked config and everything planned from it (see the module docstring)."""

    settings: Settings
    registry: Registry
    corpora: dict[str, Any]  # the `corpora` section
    corpus_languages: list[tuple[str, str]]  # (corpus, lang) in config order: chunks, datasets, evaluation
    sources: dict[tuple[str, str], Source]  # where each corpus/language is read (or downloaded) from
    question_files: dict[tuple[str, str], str]  # real questions: every (corpus, lang) that has them
    models: dict[str, Any]  # the `models` section
    finetunes: dict[str, Any]  # the `finetune` section, seed replicas after their entry (workflow.variants)
    merges: dict[str, variants.MergeModel]  # merged models by name (finetune.<name>.merge; rule merge_model)
    rerankers: dict[str, Any]
    generators: dict[str, Any]  # the `generators` section
    chunking: dict[str, ChunkingSettings]  # corpus -> its chunking settings (the corpus's overrides applied)
    word2vec_runs: dict[str, dict[str, Any]]  # name -> run_word2vec's settings (seed filled)
    llm: dict[str, Any]  # generators.llm + the round-trip retriever and the dedup model, resolved (or None)

    @classmethod
    def of(cls, config: dict[str, Any], workflow_dir: str | Path) -> Plan:
        """Validate `config` in place (the schema's defaults filled; see `validate_config` for
        `workflow_dir`), check it and plan it. A missing corpus or questions file, a bad name or an
        unmatched set raises EmbedlabError with one line."""
        validate_config(config, workflow_dir)
        settings = Settings.of(config)
        corpora = config["corpora"]
        pairs = [(c, lang) for c, spec in corpora.items() for lang in spec["languages"]]
        names = [f"{c}/{lang}" for c, lang in pairs]
        entry = {(c, lang): corpora[c]["languages"][lang] for c, lang in pairs}
        sources = {
            (c, lang): resolve_source(
                c, lang, spec["file"], spec.get("url"), settings.corpus_root, settings.resources_dir
            )
            for (c, lang), spec in entry.items()
        }
        questions = {
            key: _questions_file(
                *key, spec.get("questions"), sources[key], workflow_dir, settings.corpus_root
            )
            for key, spec in entry.items()
            if spec.get("questions") or is_beir_folder(sources[key].path)
        }
        checks.finetunes(config["finetune"], config["models"], names)
        checks.hard_negatives(config["finetune"], config["models"], config["rerankers"])
        checks.finetune_variants(config["finetune"], names, settings.evaluation.ks)
        checks.generated(variants.generated(config["finetune"]), config["models"], config["finetune"])
        finetunes = variants.with_replicas(config["finetune"])
        merges = variants.merges_of(config["finetune"])
        runs = config["word2vec"]["runs"]
        checks.word2vec_runs(runs, names)
        llm = config["generators"]["llm"]
        type_instructions(llm["types"], llm["type_prompts"])  # a type without an instruction stops here
        round_trip = llm["round_trip"]  # its retriever resolved now: a bad name stops the run before any job
        retriever = (
            resolve_retriever(round_trip["retriever"], config["models"]) if round_trip["enabled"] else None
        )
        dedup = llm["semantic_dedup"]
        dedup_spec = (
            checks.dedup_spec(dedup, config["finetune"], config["models"]) if dedup["enabled"] else None
        )
        plan = cls(
            settings=settings,
            registry=Registry.of(config["models"], finetunes, {m: mm.finetune for m, mm in merges.items()}),
            corpora=corpora,
            corpus_languages=pairs,
            sources=sources,
            question_files=questions,
            models=config["models"],
            finetunes=finetunes,
            merges=merges,
            rerankers=config["rerankers"],
            generators=config["generators"],
            chunking={c: chunking(config, c) for c in corpora},
            word2vec_runs={name: {**run, "seed": _seed(run, settings.seed)} for name, run in runs.items()},
            llm={**llm, "retriever_spec": retriever, "dedup_spec": dedup_spec},
        )
        plan._check()
        return plan

    def _check(self) -> None:
        """The checks that need the registry, in the order their mistakes have always been reported."""
        ev, mteb = self.settings.evaluation, self.settings.mteb
        checks.trained(ev.models or [], self.exported_only, "evaluation.models")
        checks.known(self.eval_models, self.registry)
        checks.hybrids(self.models, self.registry, self.exported_only)
        checks.crosslingual(ev.crosslingual, self.languages)
        checks.compression(ev.compression.models, self.dense_models)
        checks.rerank(ev.rerank, self.rerankers, self.registry)
        checks.compare(ev.compare, {*self.eval_models, *self.pipelines})
        checks.mteb_models(mteb.models, self.hybrids, self.exported_only)
        checks.mteb_select(mteb)
        checks.rerankers(self.rerankers, list(self.datasets), self.registry)

    # --- data -------------------------------------------------------------------------------------------

    @cached_property
    def languages(self) -> dict[str, list[str]]:
        """corpus -> its languages, in config order."""
        out: dict[str, list[str]] = {}
        for corpus, lang in self.corpus_languages:
            out.setdefault(corpus, []).append(lang)
        return out

    @cached_property
    def datasets(self) -> dict[str, DatasetFiles]:
        """ "corpus/lang" -> the files its chunks, train and val split are in."""
        return {f"{c}/{lang}": dataset_files(f"{c}/{lang}") for c, lang in self.corpus_languages}

    @cached_property
    def url_files(self) -> dict[str, str]:
        """Files that are not here yet, relative to resources_dir -> the URL rule download_source fetches."""
        root = self.settings.resources_dir
        return {str(s.path.relative_to(root)): s.url for s in self.sources.values() if s.url is not None}

    @cached_property
    def source_paths(self) -> dict[str, dict[str, str]]:
        """corpus -> language -> the file (or folder) that chunking reads, local or downloaded."""
        out: dict[str, dict[str, str]] = {}
        for (corpus, lang), source in self.sources.items():
            out.setdefault(corpus, {})[lang] = str(source.path)
        return out

    def query_generators(self, corpus: str) -> list[str]:
        """The generators a corpus's queries come from: its own list, else generators.use."""
        return list(self.corpora[corpus].get("generators") or self.generators["use"])

    def needs(self) -> list[str]:
        """What this config needs that this machine lacks now, one line each (workflow.needs)."""
        uses_llm = any("llm" in self.query_generators(c) for c in self.corpora)
        mt = self.settings.mteb
        specs = [registry_spec(self.models, name) for name in self.models]
        tasks = mt.tasks if mt.enabled else []
        return needs.missing(specs, self.rerankers, self.llm if uses_llm else None, tasks)

    def generator_settings(self, generator: str) -> dict[str, Any]:
        return self.generators.get(generator, {})

    @cached_property
    def llm_gpu(self) -> int:
        """The llm generator's GPU slot: a model computing here (a local server, a neural round-trip
        retriever or dedup model) takes one."""
        here = [self.llm["retriever_spec"], self.llm["dedup_spec"]]
        return int(uses_gpu(self.llm) or any(retriever_needs_gpu(spec) for spec in here))

    @cached_property
    def bm25(self) -> ModelSpec:
        """The BM25 that rates how lexical each query set is: the `models` entry `bm25`, else plain BM25."""
        return resolve_retriever("bm25", self.models)

    # --- real questions ---------------------------------------------------------------------------------

    @cached_property
    def real_question_sets(self) -> list[tuple[str, str]]:
        """(corpus, lang) pairs that have real questions: corpora.<c>.languages.<l>.questions, or a BEIR
        folder (its test qrels)."""
        return list(self.question_files)

    def question_source(self, corpus: str, lang: str) -> dict[str, Any]:
        """What map_questions reads: the language's `questions` entry, or a BEIR folder's own qrels."""
        spec = self.corpora[corpus]["languages"][lang].get("questions")
        return spec or {"file": self.question_files[(corpus, lang)]}

    def real_split_inputs(self, corpus: str, lang: str) -> dict[str, str]:
        """split_dataset's real-question files: real.train.json where the language has real questions, and
        real.json under questions.training: strict (its chunk groups are kept out of training)."""
        if (corpus, lang) not in self.question_files:
            return {}
        inputs = {"real_train": layout.real_train_set(corpus, lang)}
        if (self.corpora[corpus]["languages"][lang].get("questions") or {}).get("training") == "strict":
            inputs["real"] = layout.real_set(corpus, lang)
        return inputs

    @cached_property
    def real_question_models(self) -> list[str]:
        """The models scored on real questions: every evaluated encoder and hybrid (with the rerank pipelines:
        `real_runs`)."""
        return self.eval_models if self.settings.evaluation.enabled else []

    @cached_property
    def real_runs(self) -> list[tuple[str, str, str]]:
        """(model, corpus, lang) scored on real questions: every model of `real_question_models` on every real
        set, and every rerank pipeline on each set labelled with chunks (a BEIR folder's labels name
        documents, which a reranker of chunks does not rank)."""
        if not self.settings.evaluation.enabled:
            return []
        chunk_sets = [key for key, path in self.question_files.items() if not is_beir_folder(Path(path))]
        return [
            *((m, c, lang) for m in self.real_question_models for c, lang in self.real_question_sets),
            *((p, c, lang) for p in self.pipelines for c, lang in chunk_sets),
        ]

    def val_pairs(self, name: str) -> list[tuple[str, str, str]]:
        """(base, corpus, lang) for each dataset fine-tune (or merge) `name` trained on where it and its base
        are both evaluated (the published card's before -> after on val, summary.csv's numbers)."""
        base = self.base_of(name)
        if name not in self.eval_models or base not in self.eval_models:
            return []
        trained_on = _dataset_pairs(self.finetunes[self.entry_of(name)]["datasets"])
        return [(base, c, lang) for c, lang in trained_on]

    def real_pairs(self, name: str) -> list[tuple[str, str, str]]:
        """(base, corpus, lang) for each dataset with real questions on which fine-tune (or merge) `name`
        and its base are both scored (the published card's before -> after)."""
        base = self.base_of(name)
        if name not in self.real_question_models or base not in self.real_question_models:
            return []
        return [(base, c, lang) for c, lang in self.real_question_sets]

    # --- models -----------------------------------------------------------------------------------------

    def entry_of(self, name: str) -> str:
        """The `finetune` entry a fine-tune (or seed replica) is, or a merge was made from."""
        return self.merges[name].finetune if name in self.merges else name

    def base_of(self, name: str) -> str:
        """The model a fine-tune (or seed replica) started from; a merge's is its fine-tune's."""
        return self.finetunes[self.entry_of(name)]["base"]

    @cached_property
    def published_models(self) -> list[str]:
        """Models published with their cards (rule publish_model): each fine-tune entry (its replicas are
        judged with it) and each merge."""
        return [*(m for m in self.finetunes if m not in self.replicas), *self.merges]

    @cached_property
    def exported_only(self) -> list[str]:
        """Fine-tunes that only export data (backend autotrain with `autotrain.run: false`): nothing to
        score."""
        return [
            name
            for name, ft in self.finetunes.items()
            if ft["backend"] == "autotrain" and not ft["autotrain"]["run"]
        ]

    @cached_property
    def hybrids(self) -> list[str]:
        """`models` entries of kind hybrid."""
        return [name for name, entry in self.models.items() if entry["kind"] == "hybrid"]

    def members_of(self, name: str) -> list[ModelSpec]:
        """A hybrid's member specs, in `of` order."""
        return [self.registry.spec(m) for m in self.models[name]["of"]]

    @cached_property
    def eval_models(self) -> list[str]:
        """evaluation.models, or every `models` entry, every trained `finetune` entry (seed replicas too), the
        merges and the ONNX exports."""
        chosen = self.settings.evaluation.models
        if chosen is None:
            trained = [n for n in self.finetunes if n not in self.exported_only]
            chosen = [*self.models, *trained, *self.merges, *self.registry.exports]
        return list(dict.fromkeys(chosen))

    @cached_property
    def encoder_models(self) -> list[str]:
        """Evaluated models that are encoders (not hybrids): what cross-lingual runs and cross-checks take."""
        return [m for m in self.eval_models if m not in self.hybrids]

    @cached_property
    def dense_models(self) -> list[str]:
        """Evaluated dense encoders (not BM25, not an ONNX export: its int8 file is already a quantized
        variant): what the compression sweep may take."""
        return [m for m in self.encoder_models if self.registry.spec(m).kind not in ("bm25", "onnx")]

    @cached_property
    def compression_models(self) -> list[str]:
        """evaluation.compression.models, or every evaluated dense model."""
        chosen = self.settings.evaluation.compression.models
        return self.dense_models if chosen is None else list(dict.fromkeys(chosen))

    @cached_property
    def model_jobs(self) -> list[str]:
        """Models whose evaluations run as one job each (rule evaluate_model, `evaluation.jobs: model`): every
        evaluated encoder but a sharded one (its corpus is encode_shard's). Hybrids, pipelines, guard sets,
        cross-lingual runs and MTEB keep their own rules."""
        if self.settings.evaluation.jobs != "model":
            return []
        return [m for m in self.encoder_models if self.shard_count(m) == 1]

    def model_runs(self, name: str, compression: bool | None = None) -> list[EvalRun]:
        """A model job's runs, each dataset's val set first (its real questions and compression sweep then
        read the chunk vectors from the cache). `name` may be "{model}" (the rule's output patterns), with
        `compression` saying which of the two rules; else it follows `compression_models`."""
        if compression is None:
            compression = name in self.compression_models
        runs: list[EvalRun] = []
        for c, lang in self.corpus_languages:
            chunks, val = layout.chunks(c, lang), layout.val(c, lang)
            runs.append(EvalRun(val, chunks, layout.eval_summary(name, c, lang), c, lang))
            if (c, lang) in self.real_question_sets:
                real = layout.eval_summary(name, c, lang, "real")
                runs.append(EvalRun(layout.real_set(c, lang), chunks, real, c, lang))
            if compression:
                sweep = layout.compression_summary(name, c, lang)
                runs.append(EvalRun(val, chunks, sweep, c, lang, compression=True))
        return runs

    def model_job_outputs(self, compression: bool) -> list[str]:
        """Rule evaluate_model's outputs ({model} left as a wildcard): with `compression`, its variant for
        `compression_models`."""
        return [path for r in self.model_runs("{model}", compression) for path in (r.summary, r.queries)]

    @cached_property
    def pipelines(self) -> dict[str, RerankPipeline]:
        """evaluation.rerank by pipeline name."""
        entries = self.settings.evaluation.rerank
        out = [RerankPipeline(e["retriever"], e["reranker"], e["top_k"]) for e in entries]
        return {p.name: p for p in out}

    def model_inputs(self, name: str) -> list[str]:
        """Files a model needs before it can be evaluated: a fine-tuned model's folder (made by training); a
        hybrid's, those of its members."""
        if name in self.hybrids:
            return [path for m in self.models[name]["of"] for path in self.model_inputs(m)]
        if name in self.registry.exports:
            return [self.registry.spec(name).source]
        return [layout.model_dir(name)] if name in self.finetunes or name in self.merges else []

    def encoded_first(self, name: str, corpus: str, lang: str, real: bool = False) -> list[str]:
        """Evaluation outputs whose jobs encode texts that a job of `name` (or of its hybrid members) on this
        dataset reads again: their val evaluation (every chunk and the val queries), with `real` their
        real-question evaluation too (the real questions). Rules take them as inputs only to run after those
        jobs and read the vectors from the embedding cache: two jobs started side by side both encoded the
        same texts before either had cached them (issue 27). None without the cache, for BM25 (never cached)
        or for a job that is itself the first."""
        if self.settings.evaluation.cache_dir is None:
            return []
        members = self.models[name]["of"] if name in self.hybrids else [name]
        sets = ("val", "real") if real else ("val",)
        wanted = [
            layout.eval_summary(m, corpus, lang, s)
            for m in members
            if self.registry.spec(m).kind != "bm25"
            for s in sets
        ]
        return [path for path in wanted if path in self.evaluation_targets]

    def mteb_encoded_first(self, name: str, task: str) -> list[str]:
        """`encoded_first` for an MTEB custom task (its val split); none for a standard task."""
        if task not in self.mteb_custom_tasks:
            return []
        return self.encoded_first(name, *self.mteb_custom_tasks[task])

    def gpus_for(self, name: str) -> int:
        spec = self.registry.spec(name)
        if spec.kind == "hybrid":
            return max(self.gpus_for(m) for m in spec.of)
        return int(needs_gpu(spec))

    def mem_mb_for(self, name: str) -> int:
        return 12000 if self.gpus_for(name) else 4000

    def shard_count(self, name: str) -> int:
        """Jobs that encode a model's val corpus: evaluation.shards for kinds that shard, else 1 (one job)."""
        shards = self.settings.evaluation.shards
        return shards if shards > 1 and self.registry.spec(name).kind in SHARDABLE_KINDS else 1

    @cached_property
    def sharded_models(self) -> list[str]:
        """Encoders (evaluated or run through MTEB, as evaluate_retrieval's {model}) whose corpus rule
        encode_shard encodes: the rule's {model} constraint."""
        return sorted(m for m in {*self.encoder_models, *self.mteb_models} if self.shard_count(m) > 1)

    def corpus_shards(self, name: str, corpus: str, lang: str) -> list[tuple[str, str]]:
        """(vectors, sidecar) of every corpus shard a model's evaluate_retrieval reads; none for one job."""
        n = self.shard_count(name)
        if n == 1:
            return []
        return [
            (
                layout.corpus_shard(name, corpus, lang, i, n),
                layout.corpus_shard_meta(name, corpus, lang, i, n),
            )
            for i in range(n)
        ]

    @cached_property
    def eval_options(self) -> EvalOptions:
        """The options every evaluator shares (rules pass them whole)."""
        return EvalOptions.of(self.settings.evaluation, self.settings.seed)

    # --- comparisons and MTEB ---------------------------------------------------------------------------

    @cached_property
    def crosslingual_pairs(self) -> list[tuple[str, str, str]]:
        """(corpus, src, tgt): `auto` = every ordered pair of a corpus's languages; or a mapping listing
        them."""
        setting = self.settings.evaluation.crosslingual
        if not setting:
            return []
        if setting == "auto":
            return [(c, a, b) for c, ls in self.languages.items() for a, b in permutations(ls, 2)]
        return [(corpus, src, tgt) for corpus, pairs in setting.items() for src, tgt in pairs]

    @cached_property
    def compare_pairs(self) -> list[tuple[str, str]]:
        """(a, b) pairs for the paired test: evaluation.compare plus each evaluated fine-tune vs its base."""
        models, ev = self.eval_models, self.settings.evaluation
        pairs = [(a, b) for a, b in ev.compare]
        if ev.compare_finetunes:
            for name, ft in self.finetunes.items():
                if name in models and ft["base"] in models:
                    pairs.append((ft["base"], name))
            for name in self.merges:  # a merge against the base it was merged with
                if name in models and self.base_of(name) in models:
                    pairs.append((self.base_of(name), name))
        for name in self.hybrids:  # each hybrid against each evaluated member
            pairs += [(m, name) for m in self.models[name]["of"] if name in models and m in models]
        pairs += [(p.retriever, p.name) for p in self.pipelines.values() if p.retriever in models]
        return list(dict.fromkeys(pairs))

    @cached_property
    def mteb_models(self) -> list[str]:
        """mteb.models, or every evaluated encoder (MTEB encodes texts: a hybrid is not an encoder) but the
        ONNX exports (the same model: their parity and retrieval rows already say how close they are)."""
        chosen = self.settings.mteb.models
        if chosen is None:
            return [m for m in self.encoder_models if m not in self.registry.exports]
        return list(dict.fromkeys(chosen))

    @cached_property
    def mteb_custom_tasks(self) -> dict[str, tuple[str, str]]:
        """Custom task name -> (corpus, lang): a retrieval task per val split when mteb.custom_tasks is on,
        a reranking task per val split with mteb.rerank_negatives."""
        mt = self.settings.mteb
        pairs = self.corpus_languages
        return {
            **({custom_task_name(c, lang): (c, lang) for c, lang in pairs} if mt.custom_tasks else {}),
            **({rerank_task_name(c, lang): (c, lang) for c, lang in pairs} if mt.rerank_negatives else {}),
        }

    @cached_property
    def mteb_tasks(self) -> list[str]:
        """Custom val-split tasks, the named standard tasks, and with `mteb.select` every registry task
        matching task_types / categories / languages (the tutorial's `MTEB(task_types=[...])` selection)."""
        mt = self.settings.mteb
        names = [*self.mteb_custom_tasks, *mt.tasks]
        if mt.select:
            import mteb

            filters = {k: getattr(mt, k) for k in ("task_types", "categories", "languages") if getattr(mt, k)}
            names += [t.metadata.name for t in mteb.get_tasks(**filters)]
        return list(dict.fromkeys(names))

    @cached_property
    def mteb_filters(self) -> dict[str, list[str]]:
        """What rule evaluate_mteb passes on from the `mteb` section: which languages, splits, task kinds."""
        keys = ("languages", "eval_splits", "task_types", "categories")
        return {k: getattr(self.settings.mteb, k) for k in keys}

    def mteb_results(self, model: str) -> list[str]:
        """One model's MTEB result files (the inputs of its MTEB card)."""
        return [layout.mteb_result(model, t) for t in self.mteb_tasks]

    def mteb_val_input(self, task: str) -> list[str]:
        """The val split a custom MTEB task is built from (none for standard tasks)."""
        if task not in self.mteb_custom_tasks:
            return []
        return [layout.val(*self.mteb_custom_tasks[task])]

    # --- training ---------------------------------------------------------------------------------------

    def seed_replicas(self, name: str) -> list[str]:
        """Every seed model of `finetune` entry `name`: first `name` itself (trained with the first of its
        `seeds`), then `{name}.seed{s}` for each further seed s, in `seeds` order; just [name] without
        `seeds`. Each is a model of its own (rule finetune_model, evaluated on every dataset, compared with
        the base, run through MTEB where fine-tunes are), so the report can show a metric's mean ± spread
        across them: how much of a result is training randomness."""
        return [name, *variants.replicas_of(name, self.finetunes[name])]

    @cached_property
    def replicas(self) -> dict[str, str]:
        """Seed replica -> the `finetune` entry it repeats (replicas are not published: the entry is)."""
        return {r: name for name, entry in self.finetunes.items() for r in variants.replicas_of(name, entry)}

    def merge_job(self, name: str) -> MergeJob:
        """What rule merge_model builds for merged model `name`: base and fine-tune specs and the weight, or
        for `{ft}.merged` how the weight is chosen (candidates, guard, the dev slice the fine-tune held out:
        its datasets, dev_fraction and seed)."""
        merge = self.merges[name]
        entry = self.finetunes[merge.finetune]
        base, finetuned = self.registry.spec(entry["base"]), self.registry.spec(merge.finetune)
        if merge.weight is not None:
            return MergeJob(name, base, finetuned, merge.weight)
        guard = entry["guard"]
        choice = MergeChoice(
            weights=list(entry["merge"]["weights"]),
            metric=guard["metric"],
            max_loss=guard["max_loss"],
            datasets=self.finetune_datasets(merge.finetune),
            guard=[self.datasets[ds] for ds in guard["datasets"]],
            dev_fraction=entry["dev_fraction"],
            max_pairs_per_query=entry["max_pairs_per_query"],
            seed=_seed(entry, self.settings.seed),
        )
        return MergeJob(name, base, finetuned, None, choice)

    def merge_inputs(self, name: str) -> dict[str, list[str] | str]:
        """A merge's inputs: the fine-tune's folder, the base's if it is a fine-tune, and for the chosen
        merge the train/val/chunks of the training and guard datasets it scores candidates on."""
        merge = self.merges[name]
        entry = self.finetunes[merge.finetune]
        inputs: dict[str, list[str] | str] = {"finetuned": layout.model_dir(merge.finetune)}
        if entry["base"] in self.finetunes:
            inputs["base_model"] = layout.model_dir(entry["base"])
        if merge.weight is None:
            files = [
                *self.finetune_datasets(merge.finetune),
                *(self.datasets[d] for d in entry["guard"]["datasets"]),
            ]
            inputs |= {
                "train": [str(f.train) for f in files],
                "val": [str(f.val) for f in files],
                "chunks": [str(f.chunks) for f in files],
            }
        return inputs

    def merge_gpus(self, name: str) -> int:
        """The chosen merge encodes its candidates (the fine-tune's GPU slot); a fixed merge only adds
        tensors on the CPU."""
        merge = self.merges[name]
        return self.gpus_for(merge.finetune) if merge.weight is None else 0

    @cached_property
    def guard_runs(self) -> list[tuple[str, str, str]]:
        """(model, corpus, lang): each fine-tune entry with `guard.datasets`, its seed replicas, its merges
        and its base on each guard dataset, evaluated like any dataset (its val): the forgetting the report
        shows. Evaluation targets include them even where evaluation.models leaves one of them out."""
        out: list[tuple[str, str, str]] = []
        for name, entry in self.finetunes.items():
            guard = entry["guard"]["datasets"]
            if not guard or name in self.replicas or name in self.exported_only:
                continue
            merges = [m for m, merge in self.merges.items() if merge.finetune == name]
            pairs = [tuple(ds.split("/", 1)) for ds in guard]
            out += [
                (model, c, lang)
                for model in [entry["base"], *self.seed_replicas(name), *merges]
                for c, lang in pairs
            ]
        return list(dict.fromkeys(out))

    @cached_property
    def guard_models(self) -> list[str]:
        """The models of `guard_runs` (rule evaluate_retrieval's {model} takes them)."""
        return list(dict.fromkeys(m for m, _, _ in self.guard_runs))

    def finetune_datasets(self, name: str) -> list[DatasetFiles]:
        return [self.datasets[ds] for ds in self.finetunes[name]["datasets"]]

    def finetune_inputs(self, name: str) -> dict[str, list[str] | str]:
        """A fine-tune's inputs: train/val/chunks of each dataset, the folder of the base, guide, teacher or
        hard-negative miner that is a fine-tune, and that of a fine-tuned reranker as the miner's oracle."""
        files = self.finetune_datasets(name)
        inputs: dict[str, list[str] | str] = {
            "train": [f.train for f in files],
            "val": [f.val for f in files],
            "chunks": [f.chunks for f in files],
        }
        base = self.finetunes[name]["base"]
        if base in self.finetunes:
            inputs["base_model"] = layout.model_dir(base)
        for role, model in helper_models(self.finetunes[name]).items():
            if model in self.finetunes:
                inputs[f"{role}_model"] = layout.model_dir(model)
        miner, oracle = self.mining_models(name)
        if miner and miner.name in self.finetunes and miner.name != base:
            inputs["miner_model"] = layout.model_dir(miner.name)
        if oracle and oracle.name in self.trained_rerankers:
            inputs["oracle_model"] = layout.reranker_dir(oracle.name)
        return inputs

    def finetune_args(self, name: str) -> dict[str, Any]:
        """What `train.finetune.finetune` takes besides name, output and datasets: the entry (defaults
        filled), the base model's spec, the entry's seed (else the run's), the specs of the guide or
        teacher its loss uses (`guide` null: the base), and its hard-negative miner and oracle."""
        entry = self.finetunes[name]
        miner, oracle = self.mining_models(name)
        return {
            "settings": entry,
            "base": self.registry.spec(entry["base"]),
            "seed": _seed(entry, self.settings.seed),
            **{role: self.registry.spec(model) for role, model in helper_models(entry).items()},
            "miner": miner,
            "oracle": oracle,
        }

    def mining_models(self, name: str) -> tuple[ModelSpec | None, Oracle | None]:
        """The spec of the model that mines a fine-tune's hard negatives (the base's for `base`) and its
        oracle (a `rerankers` entry: its fine-tuned folder, else its source); (None, None) when it mines
        none."""
        miner = miner_name(self.finetunes[name])
        if miner is None:
            return None, None
        oracle = self.finetunes[name]["hard_negatives"]["oracle"]
        if oracle is None:
            return self.registry.spec(miner), None
        entry = self.rerankers[oracle]
        judge = Oracle(oracle, self.reranker_source(oracle), entry["max_length"], entry["batch_size"])
        return self.registry.spec(miner), judge

    @cached_property
    def trained_rerankers(self) -> list[str]:
        """`rerankers` entries with datasets (fine-tuned by rule finetune_reranker)."""
        return [name for name, entry in self.rerankers.items() if entry["datasets"]]

    def reranker_datasets(self, name: str) -> list[DatasetFiles]:
        return [self.datasets[ds] for ds in self.rerankers[name]["datasets"]]

    def reranker_source(self, name: str) -> str:
        """Where a reranker's weights are: its fine-tuned folder, else its `source`."""
        entry = self.rerankers[name]
        return layout.reranker_dir(name) if entry["datasets"] else entry["source"]

    def reranker_args(self, name: str) -> dict[str, Any]:
        """What `train.reranker.finetune_reranker` takes besides the datasets and the output folder."""
        entry = self.rerankers[name]
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
            "retriever": self.registry.spec(entry["retriever"]),
            "seed": _seed(entry, self.settings.seed),
            "name": name,
            **{k: entry[k] for k in keys},
        }

    def word2vec_inputs(self, name: str) -> list[str]:
        """Input files of a word2vec run: the chunk file for `chunks: corpus/lang`, none for the toy
        preset."""
        run = self.word2vec_runs[name]
        return [layout.chunks(*run["chunks"].split("/", 1))] if run.get("chunks") else []

    @cached_property
    def word2vec_targets(self) -> list[str]:
        return [path for name in self.word2vec_runs for path in layout.word2vec(name).values()]

    # --- targets ----------------------------------------------------------------------------------------

    @cached_property
    def evaluation_targets(self) -> list[str]:
        """Every evaluation output the default target asks for."""
        ev = self.settings.evaluation
        out: list[str] = []
        if ev.enabled:
            pairs = self.corpus_languages
            for m in self.eval_models:
                for c, lang in pairs:
                    out += [layout.eval_summary(m, c, lang), layout.eval_queries(m, c, lang)]
                    if ev.cross_check and m in self.encoder_models and self.registry.spec(m).kind != "bm25":
                        out.append(layout.crosscheck(m, c, lang))  # (needs vectors)
                if m in self.encoder_models:
                    out += [layout.eval_summary(m, c, f"{a}-{b}") for c, a, b in self.crosslingual_pairs]
            for m in self.compression_models:
                out += [layout.compression_summary(m, c, lang) for c, lang in pairs]
            for p in self.pipelines.values():
                for c, lang in pairs:
                    out += [layout.eval_summary(p.name, c, lang), layout.eval_queries(p.name, c, lang)]
            for a, b in self.compare_pairs:
                out += [layout.comparison(a, b, c, lang) for c, lang in pairs]
            for m, c, lang in self.real_runs:
                out += [layout.eval_summary(m, c, lang, "real"), layout.eval_queries(m, c, lang, "real")]
            for m, c, lang in self.guard_runs:  # (already there unless evaluation.models leaves one out)
                out += [layout.eval_summary(m, c, lang), layout.eval_queries(m, c, lang)]
        if self.settings.mteb.enabled:
            for m in self.mteb_models:
                out += [*self.mteb_results(m), layout.mteb_card(m)]
                if m in self.published_models:  # its model dir with the MTEB card merged
                    out.append(layout.published(m))
        return list(dict.fromkeys(out))

    @cached_property
    def report(self) -> ReportPlan:
        """Inputs and plot list of the report; plots without data in this config are left out (with a
        note)."""
        evaluated = self.settings.evaluation.enabled
        pairs = self.corpus_languages
        models = [*self.eval_models, *self.pipelines] if evaluated else []
        runs = [(m, c, lang) for m in models for c, lang in pairs]
        encoders = self.encoder_models if evaluated else []
        runs += [(m, c, f"{a}-{b}") for m in encoders for c, a, b in self.crosslingual_pairs]
        runs = list(dict.fromkeys([*runs, *(self.guard_runs if evaluated else [])]))
        bases = {m: self.base_of(m) for m in models if m in self.finetunes or m in self.merges}
        bases |= {
            m: p.retriever
            for m, p in self.pipelines.items()
            if m in models and p.reranker in self.trained_rerankers
        }
        mteb_of = self.mteb_models if self.settings.mteb.enabled else []
        mteb_files = [path for m in mteb_of for path in self.mteb_results(m)]
        trained = [m for m in self.finetunes if m in models or m in mteb_of]
        return ReportPlan.of(
            models=list(dict.fromkeys([*models, *mteb_of])),
            runs=runs,
            real_runs=self.real_runs,
            pairs=pairs,
            trained=trained,
            mteb=mteb_files,
            compression=[
                layout.compression_summary(m, c, lang)
                for m in (self.compression_models if evaluated else [])
                for c, lang in pairs
            ],
            bases=bases,
            exported=self.exported_only,
            candidates=[self.release_candidate(m) for m in bases if m not in self.replicas],
            alternatives=[m for m in models if not self.involves_finetune(m)],
            gate=Gate(**asdict(self.settings.report.release)),
        )

    def release_candidate(self, name: str) -> Candidate:
        """What the release gate needs of fine-tune (or merge) `name`: its base, the datasets its entry
        trained on, its seed replicas and the entry's forgetting guard; of a rerank pipeline with a trained
        reranker: its first stage and the reranker's datasets."""
        if name in self.pipelines:
            pipeline = self.pipelines[name]
            datasets = self.rerankers[pipeline.reranker]["datasets"]
            return Candidate(
                name,
                pipeline.retriever,
                _dataset_pairs(datasets),
                base_role="first stage",
                seedable=False,
            )
        entry_name = self.entry_of(name)
        entry = self.finetunes[entry_name]
        return Candidate(
            name,
            entry["base"],
            _dataset_pairs(entry["datasets"]),
            tuple(self.seed_replicas(name)) if name == entry_name else (name,),
            _dataset_pairs(entry["guard"]["datasets"]),
            entry["guard"]["max_loss"],
            entry["guard"]["metric"],
        )

    def involves_finetune(self, name: str) -> bool:
        """Whether a model is, fuses or reranks a fine-tuned model (or uses a trained reranker): the release
        gate compares fine-tunes with the best option that does not."""
        if name in self.pipelines:
            pipeline = self.pipelines[name]
            return self.involves_finetune(pipeline.retriever) or pipeline.reranker in self.trained_rerankers
        spec = self.registry.spec(name)
        return spec.base is not None or any(self.involves_finetune(m) for m in spec.of)

    @cached_property
    def targets(self) -> list[str]:
        """The default target: every dataset split, evaluation output, fine-tuned model, report file and
        word2vec run of the config."""
        pairs = self.corpus_languages
        splits = [
            path
            for c, lang in pairs
            for path in (layout.train(c, lang), layout.val(c, lang), layout.split_report(c, lang))
        ]
        splits += [layout.query_sets(c, lang) for c, lang in pairs]
        return [
            *splits,
            *self.evaluation_targets,
            *(layout.model_dir(name) for name in [*self.finetunes, *self.merges]),
            *(layout.reranker_dir(name) for name in self.trained_rerankers),
            *self.report.targets(),
            *self.word2vec_targets,
        ]
