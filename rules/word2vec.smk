# Word2vec primer: skip-gram word vectors (PyTorch, negative sampling) on the tutorial's toy sentences or a
# corpus's chunks, with vectors, loss curve, 2-D scatter and nearest neighbours. Runs: config word2vec.runs.


rule train_word2vec:
    input:
        lambda wc: PLAN.word2vec_inputs(wc.name),
    output:
        **layout.word2vec(),
    log:
        layout.log("train_word2vec", "{name}"),
    wildcard_constraints:
        name=one_of(PLAN.word2vec_runs),
    conda:
        "../envs/word2vec.yaml"
    threads: threads_of("train_word2vec", 1)
    resources:
        **res("train_word2vec", mem_mb=2048, runtime=30),
    params:
        settings=lambda wc: PLAN.word2vec_runs[wc.name],
    script:
        "../scripts/train_word2vec.py"


# Every configured run's output files: `snakemake word2vec_all`.
rule word2vec_all:
    input:
        PLAN.word2vec_targets,
    localrule: True
