# Query stage: one file per generator, merged into the dataset, then split by chunk group.


rule generate_queries:
    input:
        layout.chunks(),
    output:
        layout.queries(),
    log:
        layout.log("generate_queries", "{corpus}", "{lang}", "{generator}"),
    conda:
        "../envs/data.yaml"
    threads: threads_of("generate_queries", 1)
    resources:
        **res("generate_queries", mem_mb=2048, runtime=60),
    params:
        settings=lambda wc: PLAN.generator_settings(wc.generator),
        seed=PLAN.settings.seed,
    script:
        "../scripts/generate_queries.py"


# The llm generator has its own rule: a drop report as a second output, a checkpoint beside the output that
# is deliberately NOT an output (Snakemake never deletes it, so a killed or failed run resumes from it), and
# a GPU slot only when a model computes on this machine (Ollama/OpenAI-compatible server on localhost, or a
# neural round-trip retriever, resolved in `models` by the plan before any job: PLAN.llm_gpu).
ruleorder: generate_llm_queries > generate_queries


rule generate_llm_queries:
    input:
        layout.chunks(),
    output:
        queries=layout.queries(generator="llm"),
        report=layout.llm_report(),
    log:
        layout.log("generate_queries", "{corpus}", "{lang}", "llm"),
    conda:
        "../envs/llm.yaml"
    threads: threads_of("generate_llm_queries", 1)
    resources:
        **res(
            "generate_llm_queries",
            mem_mb=2048,
            runtime=1440,
            gpu=PLAN.llm_gpu,
        ),
    params:
        settings=PLAN.llm,
        seed=PLAN.settings.seed,
        checkpoint=lambda wc: layout.llm_checkpoint(wc.corpus, wc.lang),
    script:
        "../scripts/generate_llm_queries.py"


rule build_dataset:
    input:
        chunks=layout.chunks(),
        queries=lambda wc: [layout.queries(wc.corpus, wc.lang, g) for g in PLAN.query_generators(wc.corpus)],
    output:
        dataset=layout.dataset(),
        provenance=layout.provenance(),
    log:
        layout.log("build_dataset", "{corpus}", "{lang}"),
    conda:
        "../envs/data.yaml"
    threads: threads_of("build_dataset", 1)
    resources:
        **res("build_dataset", mem_mb=1024, runtime=10),
    script:
        "../scripts/build_dataset.py"


rule split_dataset:
    input:
        unpack(lambda wc: PLAN.real_split_inputs(wc.corpus, wc.lang)),
        chunks=layout.chunks(),
        dataset=layout.dataset(),
        provenance=layout.provenance(),
    output:
        train=layout.train(),
        val=layout.val(),
        report=layout.split_report(),
    log:
        layout.log("split_dataset", "{corpus}", "{lang}"),
    conda:
        "../envs/data.yaml"
    threads: threads_of("split_dataset", 1)
    resources:
        **res("split_dataset", mem_mb=1024, runtime=10),
    params:
        val_fraction=PLAN.settings.split.val_fraction,
        seed=PLAN.settings.seed,
    script:
        "../scripts/split_dataset.py"


# Real questions (corpora.<c>.languages.<l>.questions): each label mapped onto the chunks that hold it; an
# evaluation set scored against every chunk like val.json (real.json), and the questions trained on
# (real.train.json: questions.training split's train side, a BEIR folder's train qrels).
rule map_questions:
    input:
        chunks=layout.chunks(),
        questions=lambda wc: PLAN.question_files[(wc.corpus, wc.lang)],
    output:
        real=layout.real_set(),
        train=layout.real_train_set(),
        mapping=layout.real_mapping(),
    log:
        layout.log("map_questions", "{corpus}", "{lang}"),
    conda:
        "../envs/data.yaml"
    threads: threads_of("map_questions", 1)
    resources:
        **res("map_questions", mem_mb=3072, runtime=10),
    params:
        source=lambda wc: PLAN.question_source(wc.corpus, wc.lang),
        val_fraction=PLAN.settings.split.val_fraction,
        seed=PLAN.settings.seed,
    script:
        "../scripts/map_questions.py"


# How lexical each query set is (every generator's val queries, and real questions): content words found in
# the relevant chunk, BM25's rank of it, length, language, duplicates.
rule diagnose_queries:
    input:
        unpack(
            lambda wc: (
                {"real": layout.real_set(wc.corpus, wc.lang)}
                if (wc.corpus, wc.lang) in PLAN.question_files
                else {}
            )
        ),
        chunks=layout.chunks(),
        val=layout.val(),
        provenance=layout.provenance(),
    output:
        sets=layout.query_sets(),
        queries=layout.query_set_queries(),
    log:
        layout.log("diagnose_queries", "{corpus}", "{lang}"),
    conda:
        "../envs/eval.yaml"
    threads: threads_of("diagnose_queries", 1)
    resources:
        **res("diagnose_queries", mem_mb=3072, runtime=15),
    params:
        bm25=PLAN.bm25,
    script:
        "../scripts/diagnose_queries.py"
