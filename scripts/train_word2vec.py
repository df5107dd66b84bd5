from pathlib import Path

from embedlab.word2vec.run import Word2VecOutputs, run_word2vec
from embedlab.workflow.run_rule import run_rule

run_rule(
    snakemake,
    run_word2vec,
    [Path(p) for p in snakemake.input],
    Word2VecOutputs(**{key: Path(path) for key, path in snakemake.output.items()}),
    snakemake.params.settings,
    name=snakemake.wildcards.name,
    threads=snakemake.threads,
)
