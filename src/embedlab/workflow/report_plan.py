"""What the report rules read and write for a config: `Plan.report` fills it from the plan's answers (models,
runs, MTEB files, fine-tunes), and it decides which plots have data, with a note for each one left out."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from embedlab.report.figures import PLOTS
from embedlab.report.plots import FORMATS
from embedlab.report.release import Candidate, Gate
from embedlab.workflow import layout


@dataclass
class ReportPlan:
    """What the report rules read and write for a config."""

    models: list[str]
    runs: list[tuple[str, str, str]]  # (model, corpus, lang or "src-tgt")
    real_runs: list[tuple[str, str, str]]  # (model, corpus, lang) scored on real questions
    provenance: list[str]
    splits: list[str]  # split.json per dataset: the label checks of the trust section
    model_dirs: list[str]
    mteb: list[str]
    compression: list[str]  # compression variant CSVs: rows of the "what to deploy" table
    bases: dict[str, str]
    plots: list[str]
    candidates: list[Candidate]  # the fine-tunes the release gate judges
    alternatives: list[str]  # evaluated models that involve no fine-tune (the gate's "best option without")
    gate: Gate
    notes: list[str] = field(default_factory=list)

    @classmethod
    def of(
        cls,
        models: list[str],
        runs: list[tuple[str, str, str]],
        real_runs: list[tuple[str, str, str]],
        pairs: list[tuple[str, str]],
        trained: list[str],
        mteb: list[str],
        compression: list[str],
        bases: dict[str, str],
        exported: list[str],
        candidates: list[Candidate],
        alternatives: list[str],
        gate: Gate,
    ) -> ReportPlan:
        """The report of these runs over the datasets `pairs`; `trained`: the fine-tunes whose folders it
        reads (loss curves), `exported`: fine-tunes that only export AutoTrain data (a note each)."""
        notes = []
        plots = ["mrr_heatmap"]
        if any(b in models for b in bases.values()):
            plots.append("finetune_vs_base")
        else:
            notes.append(
                "No fine-tuned model was evaluated next to its base model (config `finetune:`), so there is "
                "no base-vs-fine-tuned plot and no paired test."
            )
        plots += ["deploy_frontier", "rank_distribution"]
        if mteb:
            plots.append("mteb_scores")
        else:
            notes.append(
                "MTEB was not run (config `mteb.enabled: false` or no tasks), so there is no MTEB plot."
            )
        if trained:
            plots.append("loss_curves")
        notes += [
            f"Fine-tune `{name}` was exported, not trained (backend autotrain, `autotrain.run: false`): its "
            f"AutoTrain data and config are in {layout.model_dir(name)}/autotrain; it is not evaluated, run "
            "through MTEB or published."
            for name in exported
        ]
        return cls(
            models=models,
            runs=runs,
            real_runs=real_runs,
            provenance=[layout.provenance(c, lang) for c, lang in pairs] if runs else [],
            splits=[layout.split_report(c, lang) for c, lang in pairs] if runs else [],
            model_dirs=[layout.model_dir(m) for m in trained],
            mteb=mteb,
            compression=compression,
            bases=bases,
            plots=plots if runs else [],
            candidates=candidates,
            alternatives=alternatives,
            gate=gate,
            notes=notes,
        )

    @property
    def eval_csvs(self) -> list[str]:
        return [layout.eval_summary(m, c, lang) for m, c, lang in self.runs]

    @property
    def query_csvs(self) -> list[str]:
        return [layout.eval_queries(m, c, lang) for m, c, lang in self.runs]

    @property
    def real_csvs(self) -> list[str]:
        return [layout.eval_summary(m, c, lang, "real") for m, c, lang in self.real_runs]

    @property
    def real_query_csvs(self) -> list[str]:
        return [layout.eval_queries(m, c, lang, "real") for m, c, lang in self.real_runs]

    @property
    def real_mappings(self) -> list[str]:
        return list(dict.fromkeys(layout.real_mapping(c, lang) for _, c, lang in self.real_runs))

    @property
    def query_set_files(self) -> list[str]:
        """Every dataset's query_sets.csv (how lexical each query set is)."""
        return list(dict.fromkeys(layout.query_sets(c, lang) for _, c, lang in self.runs if "-" not in lang))

    def plot_paths(self, name: str) -> dict[str, str]:
        return {fmt: layout.plot(name, fmt) for fmt in FORMATS}

    def plot_outputs(self, report: Any) -> dict[str, Any]:
        """Named outputs of the plot rule: each plot's SVG, and its PNG wrapped in Snakemake's `report()`
        (shown in the HTML report with its caption from report/*.rst, under its category)."""
        out: dict[str, Any] = {}
        for name in self.plots:
            caption, category = PLOTS[name]
            paths = self.plot_paths(name)
            out[f"{name}_svg"] = paths["svg"]
            out[f"{name}_png"] = report(
                paths["png"], caption=f"../report/{caption}", category=category, labels={"plot": name}
            )
        return out

    def targets(self) -> list[str]:
        """The report's files: summary.csv, summary.md and every planned plot (nothing without runs)."""
        if not self.runs:
            return []
        plots = [path for name in self.plots for path in self.plot_paths(name).values()]
        return [layout.summary_csv(), layout.summary_md(), layout.deploy_csv(), layout.release_csv(), *plots]
