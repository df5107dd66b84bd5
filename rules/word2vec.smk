# Word2vec primer: skip-gram word vectors (PyTorch, negative sampling) on the tutorial's toy sentences or a
# corpus's chunks, with vectors, loss curve, 2-D scatter and nearest neighbours. Runs: config word2vec.runs.

import re

from embedlab.word2vec import settings as w2v
from embedlab.word2vec.run import OUTPUT_FILES as W2V_FILES
from embedlab.errors import EmbedlabError

try:
    W2V_RUNS = w2v.runs(config)
except EmbedlabError as _exc:
    raise WorkflowError(str(_exc)) from None

# Every configured run's output files (for `rule all`, or `snakemake word2vec_all`).
W2V_TARGETS = expand("results/word2vec/{name}/{file}", name=list(W2V_RUNS), file=W2V_FILES)


rule word2vec:
    input:
        lambda wc: w2v.run_inputs(W2V_RUNS[wc.name]),
    output:
        vectors="results/word2vec/{name}/vectors.tsv",
        loss="results/word2vec/{name}/loss.csv",
        neighbours="results/word2vec/{name}/neighbours.json",
        scatter="results/word2vec/{name}/scatter.png",
        loss_plot="results/word2vec/{name}/loss.png",
    log:
        "logs/word2vec/{name}.log",
    wildcard_constraints:
        name="|".join(re.escape(n) for n in W2V_RUNS) or "(?!)",
    conda:
        "../envs/word2vec.yaml"
    threads: threads_of("word2vec", 1)
    resources:
        **res("word2vec", mem_mb=2048, runtime=30),
    params:
        settings=lambda wc: w2v.run_settings(W2V_RUNS[wc.name], config["seed"]),
    script:
        "../scripts/word2vec.py"


rule word2vec_all:
    input:
        W2V_TARGETS,
    localrule: True
