from pathlib import Path

from embedlab.word2vec.model import run_word2vec
from embedlab.workflow.run_rule import run_rule

run_rule(
    snakemake,
    run_word2vec,
    [Path(p) for p in snakemake.input],
    Path(snakemake.output.vectors).parent,
    snakemake.params.settings,
    name=snakemake.wildcards.name,
    threads=snakemake.threads,
)
