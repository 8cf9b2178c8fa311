"""Evidence "hierarchy": stacked LILs classify every label level."""

from __future__ import annotations

import numpy as np

from lilbench.reports.aggregate import by_setting
from lilbench.reports.claims.base import FAILS, HOLDS, Finding, NoParams, SuiteResults, evidence
from lilbench.reports.claims.common import row_name


class HierarchyParams(NoParams):
    min_accuracy: float = 0.99  # every level's accuracy at least this


@evidence("hierarchy", HierarchyParams)
def hierarchy(res: SuiteResults, params: HierarchyParams) -> Finding:
    """Stacked LILs: every label level classified with accuracy >= `min_accuracy` (the
    paper's "> 0.99") and its block's within-level isometry error."""
    floor = params.min_accuracy
    parts, lowest = [], 1.0
    for label, group in by_setting(res.results):
        metrics = [r.checkpoint.metrics for r in group if r.checkpoint is not None]
        accs = np.mean([m["level_accuracy"] for m in metrics], axis=0)
        isos = np.mean([m["level_isometry_error"] for m in metrics], axis=0)
        lowest = min(lowest, float(accs.min()))
        levels = ", ".join(
            f"level {i}: {a:.3f} (isometry error {e:.3f})"
            for i, (a, e) in enumerate(zip(accs, isos, strict=True))
        )
        parts.append(f"{row_name(res, label)}: {levels}")
    ok = lowest >= floor
    why = f"lowest level accuracy {lowest:.3f} (criterion: >= {floor:g})"
    return Finding("", "; ".join(parts), "", HOLDS if ok else FAILS, why)
