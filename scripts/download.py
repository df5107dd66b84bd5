from embedlab.corpus import download
from embedlab.logs import run_rule

run_rule(snakemake, download, snakemake.params.url, snakemake.output[0])
