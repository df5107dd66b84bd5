"""Markdown tables for the report (summary.md) and its sections, and the cells every section formats alike
(a number, a p-value, a value with its interval), so one number reads the same in every table."""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

import numpy as np


def md_table(header: Sequence[str], rows: Sequence[Sequence[Any]]) -> list[str]:
    def cell(x: Any) -> str:
        return str(x).replace("|", "\\|").replace("\n", " ")

    out = ["| " + " | ".join(map(cell, header)) + " |", "|" + "|".join("---" for _ in header) + "|"]
    out += ["| " + " | ".join(map(cell, r)) + " |" for r in rows]
    return out


def missing(x: Any) -> bool:
    """Whether a summary.csv value is absent (None, or NaN where pandas read an empty cell)."""
    return x is None or (isinstance(x, float) and math.isnan(x))


def num_cell(x: Any, digits: int = 3) -> str:
    """A number to `digits` decimals, "–" when absent; anything else as text."""
    if missing(x):
        return "–"
    if isinstance(x, float | np.floating):
        return f"{x:.{digits}f}"
    return str(x)


def p_cell(x: Any) -> str:
    """A p-value: three decimals, two significant digits below 0.001 (where three decimals would say 0)."""
    if missing(x):
        return "–"
    return f"{x:.2g}" if x < 0.001 else f"{x:.3f}"


def ci_cell(r: Any, metric: str) -> str:
    """Row `r`'s `metric` with its 95 % interval (`<metric>_lo`, `<metric>_hi`); the value alone without."""
    lo, hi = r[f"{metric}_lo"], r[f"{metric}_hi"]
    if missing(lo):
        return num_cell(r[metric])
    return f"{num_cell(r[metric])} [{num_cell(lo)}, {num_cell(hi)}]"
