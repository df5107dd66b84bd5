from embedlab.data.chunking import chunk_corpus
from embedlab.workflow.run_rule import run_rule

run_rule(
    snakemake,
    chunk_corpus,
    snakemake.input[0],
    snakemake.output[0],
    snakemake.wildcards.corpus,
    snakemake.wildcards.lang,
    snakemake.params.settings,
)
