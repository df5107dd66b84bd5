from pathlib import Path

from embedlab.logs import run_rule
from embedlab.word2vec import run_word2vec

run_rule(
    snakemake,
    run_word2vec,
    [Path(p) for p in snakemake.input],
    Path(snakemake.output.vectors).parent,
    snakemake.params.settings,
    name=snakemake.wildcards.name,
    threads=snakemake.threads,
)
