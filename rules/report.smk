# Report: every result in one table (summary.csv), readable Markdown (summary.md) and seaborn plots, all
# under results/report/. `snakemake report` builds it; `snakemake report --forcerun plots` redraws the plots
# only. `snakemake --report results/report.html` then packs them into Snakemake's self-contained HTML report.
from embedlab.report import plan as report_plan
from embedlab.workflow.settings import Settings

REPORT_PLAN = report_plan.plan(config)
REPORT_SETTINGS = Settings.of(config).report


report: "../report/workflow.rst"


rule report_summary:
    input:
        evals=REPORT_PLAN.eval_csvs,
        queries=REPORT_PLAN.query_csvs,
        provenance=REPORT_PLAN.provenance,
        splits=REPORT_PLAN.splits,
        models=REPORT_PLAN.model_dirs,
        mteb=REPORT_PLAN.mteb,
    output:
        csv=report(
            "results/report/summary.csv",
            caption="../report/summary_csv.rst",
            category="Tables",
            labels={"table": "summary.csv"},
        ),
        md=report(
            "results/report/summary.md",
            caption="../report/summary_md.rst",
            category="Tables",
            labels={"table": "summary.md"},
        ),
    log:
        "logs/report/summary.log",
    conda:
        "../envs/report.yaml"
    threads: threads_of("report_summary", 1)
    resources:
        **res("report_summary", mem_mb=2048, runtime=10),
    params:
        bases=REPORT_PLAN.bases,
        models=REPORT_PLAN.models,
        notes=REPORT_PLAN.notes,
        metric=REPORT_SETTINGS.metric,
        paired_metric=REPORT_SETTINGS.paired_metric,
        test_samples=REPORT_SETTINGS.test_samples,
        max_ci_halfwidth=REPORT_SETTINGS.max_ci_halfwidth,
        seed=config["seed"],
    script:
        "../scripts/report_summary.py"


rule plots:
    input:
        summary="results/report/summary.csv",
        queries=REPORT_PLAN.query_csvs,
        models=REPORT_PLAN.model_dirs,
        mteb=REPORT_PLAN.mteb,
    output:
        **report_plan.plot_outputs(REPORT_PLAN, report),
    log:
        "logs/report/plots.log",
    conda:
        "../envs/report.yaml"
    threads: threads_of("plots", 1)
    resources:
        **res("plots", mem_mb=2048, runtime=10),
    params:
        plots={name: report_plan.plot_paths(name) for name in REPORT_PLAN.plots},
        models=REPORT_PLAN.models,
        metric=REPORT_SETTINGS.metric,
        dpi=REPORT_SETTINGS.dpi,
    script:
        "../scripts/report_plots.py"


rule report:
    input:
        rules.report_summary.output,
        rules.plots.output,
    localrule: True
