from embedlab.evaluation.shards import encode_shard
from embedlab.workflow.run_rule import run_rule

p = snakemake.params
w = snakemake.wildcards
run_rule(
    snakemake,
    encode_shard,
    snakemake.input.val,
    snakemake.output.vectors,
    snakemake.output.meta,
    p.spec,
    corpus=w.corpus,
    lang=w.lang,
    shard=int(w.shard),
    shards=int(w.shards),
    block=p.block,
    device=p.device,
    cache_dir=p.cache,
)
