from embedlab.evaluation.mteb_tasks import run_mteb
from embedlab.workflow.run_rule import run_rule

p = snakemake.params
corpus, lang = p.custom or (None, None)
run_rule(
    snakemake,
    run_mteb,
    snakemake.output[0],
    p.spec,
    snakemake.wildcards.task,
    val_path=snakemake.input.val[0] if snakemake.input.val else None,
    corpus=corpus,
    lang=lang,
    filters=p.filters,
    device=p.device,
    cache_dir=p.cache,
    probe_network=p.probe_network,
    rerank_negatives=p.rerank_negatives,
)
