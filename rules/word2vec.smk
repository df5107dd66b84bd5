# Word2vec primer: skip-gram word vectors (PyTorch, negative sampling) on the tutorial's toy sentences or a
# corpus's chunks, with vectors, loss curve, 2-D scatter and nearest neighbours. Runs: config word2vec.runs.


rule train_word2vec:
    input:
        lambda wc: plan.word2vec_inputs(W2V_RUNS[wc.name]),
    output:
        vectors=layout.word2vec(file="vectors.tsv"),
        loss=layout.word2vec(file="loss.csv"),
        neighbours=layout.word2vec(file="neighbours.json"),
        scatter=layout.word2vec(file="scatter.png"),
        loss_plot=layout.word2vec(file="loss.png"),
    log:
        layout.log("train_word2vec", "{name}"),
    wildcard_constraints:
        name=one_of(W2V_RUNS),
    conda:
        "../envs/word2vec.yaml"
    threads: threads_of("train_word2vec", 1)
    resources:
        **res("train_word2vec", mem_mb=2048, runtime=30),
    params:
        settings=lambda wc: w2v_run_settings(W2V_RUNS[wc.name], config["seed"]),
    script:
        "../scripts/train_word2vec.py"


# Every configured run's output files: `snakemake word2vec_all`.
rule word2vec_all:
    input:
        plan.word2vec_targets(W2V_RUNS),
    localrule: True
