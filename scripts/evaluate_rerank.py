from embedlab.evaluation.rerank import evaluate_rerank
from embedlab.workflow.run_rule import run_rule

p = snakemake.params
run_rule(
    snakemake,
    evaluate_rerank,
    snakemake.input.val,
    snakemake.input.chunks,
    snakemake.output.summary,
    snakemake.output.queries,
    model=snakemake.wildcards.model,
    retriever=p.retriever,
    reranker_source=p.source,
    reranker_name=p.pipeline.reranker,
    top_k=p.pipeline.top_k,
    corpus=snakemake.wildcards.corpus,
    lang=snakemake.wildcards.lang,
    options=p.options,
    batch_size=p.reranker["batch_size"],
    max_length=p.reranker["max_length"],
)
