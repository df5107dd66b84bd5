# Report: every result in one table (summary.csv), readable Markdown (summary.md) and seaborn plots, all
# under results/report/. `snakemake report` builds it; `snakemake report --forcerun draw_plots` redraws the
# plots only. `snakemake --report results/report.html` then packs them into Snakemake's HTML report.
REPORT_PLAN = PLAN.report
REPORT_SETTINGS = PLAN.settings.report


report: "../report/workflow.rst"


rule summarize_results:
    input:
        evals=REPORT_PLAN.eval_csvs,
        queries=REPORT_PLAN.query_csvs,
        provenance=REPORT_PLAN.provenance,
        splits=REPORT_PLAN.splits,
        models=REPORT_PLAN.model_dirs,
        mteb=REPORT_PLAN.mteb,
        compression=REPORT_PLAN.compression,
        real=REPORT_PLAN.real_csvs,
        real_queries=REPORT_PLAN.real_query_csvs,
        mappings=REPORT_PLAN.real_mappings,
        query_sets=REPORT_PLAN.query_set_files,
    output:
        csv=report(
            layout.summary_csv(),
            caption="../report/summary_csv.rst",
            category="Tables",
            labels={"table": Path(layout.summary_csv()).name},
        ),
        md=report(
            layout.summary_md(),
            caption="../report/summary_md.rst",
            category="Tables",
            labels={"table": Path(layout.summary_md()).name},
        ),
        deploy=report(
            layout.deploy_csv(),
            caption="../report/deploy_csv.rst",
            category="Tables",
            labels={"table": Path(layout.deploy_csv()).name},
        ),
        release=report(
            layout.release_csv(),
            caption="../report/release_csv.rst",
            category="Tables",
            labels={"table": Path(layout.release_csv()).name},
        ),
    log:
        layout.log("summarize_results"),
    conda:
        "../envs/report.yaml"
    threads: threads_of("summarize_results", 1)
    resources:
        **res("summarize_results", mem_mb=2048, runtime=10),
    params:
        bases=REPORT_PLAN.bases,
        candidates=REPORT_PLAN.candidates,
        alternatives=REPORT_PLAN.alternatives,
        gate=REPORT_PLAN.gate,
        models=REPORT_PLAN.models,
        notes=REPORT_PLAN.notes,
        metric=REPORT_SETTINGS.metric,
        paired_metric=REPORT_SETTINGS.paired_metric,
        test_samples=REPORT_SETTINGS.test_samples,
        max_ci_halfwidth=REPORT_SETTINGS.max_ci_halfwidth,
        min_real_questions=REPORT_SETTINGS.min_real_questions,
        seed=PLAN.settings.seed,
    script:
        "../scripts/summarize_results.py"


rule draw_plots:
    input:
        summary=layout.summary_csv(),
        deploy=layout.deploy_csv(),
        queries=REPORT_PLAN.query_csvs,
        models=REPORT_PLAN.model_dirs,
        mteb=REPORT_PLAN.mteb,
    output:
        **REPORT_PLAN.plot_outputs(report),
    log:
        layout.log("draw_plots"),
    conda:
        "../envs/report.yaml"
    threads: threads_of("draw_plots", 1)
    resources:
        **res("draw_plots", mem_mb=2048, runtime=10),
    params:
        plots={name: REPORT_PLAN.plot_paths(name) for name in REPORT_PLAN.plots},
        models=REPORT_PLAN.models,
        metric=REPORT_SETTINGS.metric,
        dpi=REPORT_SETTINGS.dpi,
    script:
        "../scripts/draw_plots.py"


rule report:
    input:
        rules.summarize_results.output,
        rules.draw_plots.output,
    localrule: True
