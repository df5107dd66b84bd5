from embedlab.data.corpus import download
from embedlab.workflow.run_rule import run_rule

run_rule(snakemake, download, snakemake.params.url, snakemake.output[0])
