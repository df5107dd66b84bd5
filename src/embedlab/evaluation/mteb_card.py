"""Model-card metadata from MTEB results (`model-index`), like mteb's create_meta: rule `write_mteb_card`."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

from embedlab import io


def model_card(result_paths: Sequence[str | Path], out_md: str | Path, model: str) -> dict[str, Any]:
    """Rule `write_mteb_card`: model-card metadata from the results (what mteb's create_meta wrote): a
    README with a YAML `model-index` of every task that ran, and a table; tasks that did not run are listed
    with why."""
    import yaml

    entries, table, missing = [], [], []
    for path in sorted(map(str, result_paths)):
        doc = io.read_json(path)
        if doc.get("status") != "ok":
            missing.append(f"- {doc.get('task')}: {doc.get('status')} — {doc.get('reason', '')}")
            continue
        data = doc["mteb"]
        for split, subsets in sorted(data.get("scores", {}).items()):
            for sub in subsets:
                metrics_list = [
                    {"type": k, "value": round(float(v), 6)}
                    for k, v in sorted(sub.items())
                    if isinstance(v, int | float) and not isinstance(v, bool) and k != "evaluation_time"
                ]
                entries.append(
                    {
                        "task": {"type": doc.get("type")},
                        "dataset": {
                            "name": f"MTEB {doc['task']}",
                            "type": doc["task"],
                            "config": sub.get("hf_subset", "default"),
                            "split": split,
                            "revision": data.get("dataset_revision"),
                        },
                        "metrics": metrics_list,
                    }
                )
                table.append(
                    f"| {doc['task']} | {split} | {sub.get('hf_subset', 'default')} | "
                    f"{sub.get('main_score', float('nan')):.4f} |"
                )
    meta = {"tags": ["mteb", "embedlab"], "model-index": [{"name": model, "results": entries}]}
    body = [
        "---",
        yaml.safe_dump(meta, sort_keys=False, allow_unicode=True).rstrip(),
        "---",
        "",
        f"# {model}: MTEB results",
        "",
        "| task | split | subset | main score |",
        "| --- | --- | --- | --- |",
        *table,
    ]
    if missing:
        body += ["", "Not evaluated:", *missing]
    io.write_text(out_md, "\n".join(body) + "\n")
    return meta
