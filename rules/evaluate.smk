# Evaluation stage: retrieval metrics per model x corpus x language (and across languages), the tutorial's
# evaluators as cross-checks, paired model comparisons, and MTEB (custom val-split tasks + standard tasks).
# Settings come from the plan's typed settings (the schema has filled every default); the options every
# evaluator shares come whole, as EVAL_OPTIONS (rules/common.smk).
EVAL = PLAN.settings.evaluation
# Encoders (evaluate_retrieval, evaluate_crosslingual, crosscheck, MTEB; the forgetting guard's models on its
# datasets) and hybrids (evaluate_hybrid).
_MODELS = one_of(sorted({*PLAN.eval_models, *PLAN.mteb_models, *PLAN.guard_models} - set(PLAN.hybrids)))
_ANY_MODEL = one_of(sorted({*PLAN.eval_models, *PLAN.mteb_models, *PLAN.pipelines}))
# Evaluation jobs of one set take one core each (resources.rules.<rule>.threads raises it): most of such a job
# is starting Python and loading its model, so on a CPU machine jobs side by side beat one job on every core.
# A model's job (evaluate_model) is mostly encoding and takes two: the default run is faster so, as the
# fine-tunes, which take two, no longer wait for a one-core job to end (benchmarks/README.md, the default run).


# evaluation.shards > 1: fixed row ranges of a dense model's val corpus, one job each, as files that
# evaluate_retrieval searches one by one (BM25, API models and hybrids stay one job).
rule encode_shard:
    input:
        val=layout.val(),
        model=model_files,
    output:
        vectors=layout.corpus_shard(),
        meta=layout.corpus_shard_meta(),
    log:
        layout.log("encode_shard", "{model}", "{corpus}", "{lang}", "{shard}-of-{shards}"),
    wildcard_constraints:
        model=one_of(PLAN.sharded_models),
        shard="[0-9]+",
        shards="[0-9]+",
    conda:
        "../envs/eval.yaml"
    threads: threads_of("encode_shard", 1)
    resources:
        **res("encode_shard", gpu=model_gpus, mem_mb=model_mem_mb, runtime=120),
    params:
        spec=model_spec,
        block=EVAL.shard_block,
        device=EVAL.device,
        cache=EVAL.shard_cache_dir,
    script:
        "../scripts/encode_shard.py"


rule evaluate_retrieval:
    input:
        val=layout.val(),
        chunks=layout.chunks(),
        model=model_files,
        shard_vectors=lambda wc: [v for v, _ in PLAN.corpus_shards(wc.model, wc.corpus, wc.lang)],
        shard_meta=lambda wc: [m for _, m in PLAN.corpus_shards(wc.model, wc.corpus, wc.lang)],
    output:
        summary=layout.eval_summary(),
        queries=layout.eval_queries(),
    log:
        layout.log("evaluate_retrieval", "{model}", "{corpus}", "{lang}"),
    wildcard_constraints:
        model=_MODELS,
    conda:
        "../envs/eval.yaml"
    threads: threads_of("evaluate_retrieval", 1)
    resources:
        **res("evaluate_retrieval", gpu=model_gpus, mem_mb=model_mem_mb, runtime=120),
    params:
        spec=model_spec,
        options=EVAL_OPTIONS,
    script:
        "../scripts/evaluate_retrieval.py"


# Real questions (rules/queries.smk: map_questions): the same evaluation on real.json, into {lang}.real.csv.
# `encoded_first` (here and below) are inputs for order only: the jobs that encode the texts this one reads
# again run before it, so it reads their vectors from the embedding cache (rules/common.smk); ancient(), as
# the job does not read those files, so their being rewritten does not rerun it.
use rule evaluate_retrieval as evaluate_retrieval_real with:
    input:
        val=layout.real_set(),
        chunks=layout.chunks(),
        model=model_files,
        shard_vectors=[],
        shard_meta=[],
        encoded_first=encoded_first(),
    output:
        summary=layout.eval_summary(query_set="real"),
        queries=layout.eval_queries(query_set="real"),
    log:
        layout.log("evaluate_retrieval", "{model}", "{corpus}", "{lang}.real"),


# A hybrid: its members' top candidates fused (weights tuned on the dev slice of train, never on val); the
# same output files as any model, so comparisons and the report treat it as one.
rule evaluate_hybrid:
    input:
        val=layout.val(),
        train=layout.train(),
        chunks=layout.chunks(),
        model=model_files,
        encoded_first=encoded_first(real=True),
    output:
        summary=layout.eval_summary(),
        queries=layout.eval_queries(),
    log:
        layout.log("evaluate_hybrid", "{model}", "{corpus}", "{lang}"),
    wildcard_constraints:
        model=one_of(PLAN.hybrids),
    conda:
        "../envs/eval.yaml"
    threads: threads_of("evaluate_hybrid", 1)
    resources:
        **res("evaluate_hybrid", gpu=model_gpus, mem_mb=model_mem_mb, runtime=120),
    params:
        spec=model_spec,
        members=lambda wc: PLAN.members_of(wc.model),
        options=EVAL_OPTIONS,
    script:
        "../scripts/evaluate_hybrid.py"


# Real questions may point at train chunks (the documents are the deployment corpus): only their texts must
# differ from the dev slice's queries the weights are tuned on.
use rule evaluate_hybrid as evaluate_hybrid_real with:
    input:
        val=layout.val(),
        questions=layout.real_set(),
        train=layout.train(),
        chunks=layout.chunks(),
        model=model_files,
        encoded_first=encoded_first(real=True),
    output:
        summary=layout.eval_summary(query_set="real"),
        queries=layout.eval_queries(query_set="real"),
    log:
        layout.log("evaluate_hybrid", "{model}", "{corpus}", "{lang}.real"),


# Truncated dimensions x quantized precisions of a dense model: encoded once, every variant ranked, with bytes
# per vector, index size and query latency (evaluation.compression).
rule evaluate_compression:
    input:
        val=layout.val(),
        chunks=layout.chunks(),
        model=model_files,
        encoded_first=encoded_first(),
    output:
        summary=layout.compression_summary(),
        queries=layout.compression_queries(),
    log:
        layout.log("evaluate_compression", "{model}", "{corpus}", "{lang}"),
    wildcard_constraints:
        model=_MODELS,
    conda:
        "../envs/eval.yaml"
    threads: threads_of("evaluate_compression", 1)
    resources:
        **res("evaluate_compression", gpu=model_gpus, mem_mb=model_mem_mb, runtime=120),
    params:
        spec=model_spec,
        settings=EVAL.compression,
        options=EVAL_OPTIONS,
    script:
        "../scripts/evaluate_compression.py"


# evaluation.jobs: model (PLAN.model_jobs): every evaluation of one encoder in one job, one model load: each
# dataset's val set, then its real questions and compression sweep (reading the vectors the val run cached),
# into the files the three rules above write. The ruleorder prefers these; the rules above then serve sharded
# models, guard sets, and evaluation.jobs: dataset (no model matches these then). Two rules, as a model with a
# sweep has more outputs.
rule evaluate_model:
    input:
        questions=lambda wc: sorted({r.questions for r in PLAN.model_runs(wc.model)}),
        chunks=lambda wc: sorted({r.chunks for r in PLAN.model_runs(wc.model)}),
        model=model_files,
    output:
        PLAN.model_job_outputs(compression=False),
    log:
        layout.log("evaluate_model", "{model}"),
    wildcard_constraints:
        model=one_of([m for m in PLAN.model_jobs if m not in PLAN.compression_models]),
    conda:
        "../envs/eval.yaml"
    threads: threads_of("evaluate_model", 2)
    resources:
        **res(
            "evaluate_model",
            gpu=model_gpus,
            mem_mb=model_mem_mb,
            runtime=lambda wc: 120 * len(PLAN.model_runs(wc.model)),
        ),
    params:
        spec=model_spec,
        runs=lambda wc: PLAN.model_runs(wc.model),
        options=EVAL_OPTIONS,
        compression=EVAL.compression,
    script:
        "../scripts/evaluate_model.py"


use rule evaluate_model as evaluate_model_compression with:
    output:
        PLAN.model_job_outputs(compression=True),
    wildcard_constraints:
        model=one_of([m for m in PLAN.model_jobs if m in PLAN.compression_models]),


ruleorder: evaluate_model > evaluate_retrieval
ruleorder: evaluate_model > evaluate_retrieval_real
ruleorder: evaluate_model_compression > evaluate_retrieval
ruleorder: evaluate_model_compression > evaluate_retrieval_real
ruleorder: evaluate_model_compression > evaluate_compression


# A retrieve-then-rerank pipeline {retriever}.{reranker}@{k}: the retriever's top k reordered by the
# cross-encoder; the same output files as any model, with the rerank latency per query.
rule evaluate_rerank:
    input:
        unpack(pipeline_files),
        val=layout.val(),
        chunks=layout.chunks(),
    output:
        summary=layout.eval_summary(),
        queries=layout.eval_queries(),
    log:
        layout.log("evaluate_rerank", "{model}", "{corpus}", "{lang}"),
    wildcard_constraints:
        model=one_of(PLAN.pipelines),
    conda:
        "../envs/eval.yaml"
    threads: threads_of("evaluate_rerank", 1)
    resources:
        **res("evaluate_rerank", gpu=1, mem_mb=8000, runtime=120),
    params:
        pipeline=lambda wc: PLAN.pipelines[wc.model],
        retriever=lambda wc: PLAN.registry.spec(PLAN.pipelines[wc.model].retriever),
        source=lambda wc: PLAN.reranker_source(PLAN.pipelines[wc.model].reranker),
        reranker=lambda wc: PLAN.rerankers[PLAN.pipelines[wc.model].reranker],
        options=EVAL_OPTIONS,
    script:
        "../scripts/evaluate_rerank.py"


# Real questions labelled with chunks (PLAN.real_runs): the same pipeline on real.json, into
# {lang}.real.csv, so a trained reranker is judged against its first stage on real data.
use rule evaluate_rerank as evaluate_rerank_real with:
    input:
        unpack(pipeline_files),
        val=layout.real_set(),
        chunks=layout.chunks(),
    output:
        summary=layout.eval_summary(query_set="real"),
        queries=layout.eval_queries(query_set="real"),
    log:
        layout.log("evaluate_rerank", "{model}", "{corpus}", "{lang}.real"),


rule evaluate_crosslingual:
    input:
        val=layout.val(lang="{src}"),
        src_chunks=layout.chunks(lang="{src}"),
        tgt_chunks=layout.chunks(lang="{tgt}"),
        model=model_files,
    output:
        summary=layout.eval_summary(lang="{src}-{tgt}"),
        queries=layout.eval_queries(lang="{src}-{tgt}"),
    log:
        layout.log("evaluate_crosslingual", "{model}", "{corpus}", "{src}-{tgt}"),
    wildcard_constraints:
        model=_MODELS,
        src="[a-z]{2,3}",
        tgt="[a-z]{2,3}",
    conda:
        "../envs/eval.yaml"
    threads: threads_of("evaluate_crosslingual", 1)
    resources:
        **res("evaluate_crosslingual", gpu=model_gpus, mem_mb=model_mem_mb, runtime=120),
    params:
        spec=model_spec,
        options=EVAL_OPTIONS,
    script:
        "../scripts/evaluate_crosslingual.py"


rule crosscheck_evaluators:
    input:
        val=layout.val(),
        model=model_files,
    output:
        report=layout.crosscheck(),
        st_csv=layout.ir_evaluator_csv(),
    log:
        layout.log("crosscheck_evaluators", "{model}", "{corpus}", "{lang}"),
    wildcard_constraints:
        model=_MODELS,
    conda:
        "../envs/eval.yaml"
    threads: threads_of("crosscheck_evaluators", 1)
    resources:
        **res("crosscheck_evaluators", gpu=model_gpus, mem_mb=model_mem_mb, runtime=240),
    params:
        spec=model_spec,
        evaluators=EVAL.cross_check,
        options=EVAL_OPTIONS,
    script:
        "../scripts/crosscheck_evaluators.py"


rule compare_models:
    input:
        a=layout.eval_queries(model="{a}"),
        b=layout.eval_queries(model="{b}"),
    output:
        layout.comparison(),
    log:
        layout.log("compare_models", "{a}__vs__{b}", "{corpus}", "{lang}"),
    wildcard_constraints:
        a=_ANY_MODEL,
        b=_ANY_MODEL,
    conda:
        "../envs/eval.yaml"
    threads: threads_of("compare_models", 1)
    resources:
        **res("compare_models", mem_mb=1024, runtime=10),
    params:
        metric=EVAL.compare_metric,
        samples=EVAL.compare_samples,
        seed=PLAN.settings.seed,
    script:
        "../scripts/compare_models.py"


rule evaluate_mteb:
    input:
        val=lambda wc: PLAN.mteb_val_input(wc.task),
        model=model_files,
        encoded_first=lambda wc: ancient(PLAN.mteb_encoded_first(wc.model, wc.task)),
    output:
        layout.mteb_result(),
    log:
        layout.log("evaluate_mteb", "{model}", "{task}"),
    wildcard_constraints:
        model=_MODELS,
        task="[A-Za-z0-9_.-]+",
    conda:
        "../envs/eval.yaml"
    threads: threads_of("evaluate_mteb", 1)
    resources:
        **res("evaluate_mteb", gpu=model_gpus, mem_mb=model_mem_mb, runtime=480),
    params:
        spec=model_spec,
        custom=lookup(dpath="{task}", within=PLAN.mteb_custom_tasks, default=None),
        filters=PLAN.mteb_filters,
        device=EVAL.device,
        cache=EMB_CACHE,
        probe_network=PLAN.settings.mteb.probe_network,
        rerank_negatives=PLAN.settings.mteb.rerank_negatives,
    script:
        "../scripts/evaluate_mteb.py"


rule write_mteb_card:
    input:
        lambda wc: PLAN.mteb_results(wc.model),
    output:
        layout.mteb_card(),
    log:
        layout.log("write_mteb_card", "{model}"),
    wildcard_constraints:
        model=_MODELS,
    conda:
        "../envs/eval.yaml"
    threads: threads_of("write_mteb_card", 1)
    resources:
        **res("write_mteb_card", mem_mb=1024, runtime=5),
    script:
        "../scripts/write_mteb_card.py"


rule publish_model:
    input:
        model=layout.model_dir(),
        card=layout.mteb_card(model="{name}"),
        release=layout.release_csv(),
        val_base=lambda wc: [layout.eval_summary(b, c, lang) for b, c, lang in PLAN.val_pairs(wc.name)],
        val_model=lambda wc: [layout.eval_summary(wc.name, c, lang) for _, c, lang in PLAN.val_pairs(wc.name)],
        real_base=lambda wc: [
            layout.eval_summary(b, c, lang, "real") for b, c, lang in PLAN.real_pairs(wc.name)
        ],
        real_model=lambda wc: [
            layout.eval_summary(wc.name, c, lang, "real") for _, c, lang in PLAN.real_pairs(wc.name)
        ],
    output:
        directory(layout.published()),
    log:
        layout.log("publish_model", "{name}"),
    wildcard_constraints:
        name=one_of(PLAN.published_models),
    conda:
        "../envs/eval.yaml"
    threads: threads_of("publish_model", 1)
    resources:
        **res("publish_model", mem_mb=1024, runtime=10),
    script:
        "../scripts/publish_model.py"
