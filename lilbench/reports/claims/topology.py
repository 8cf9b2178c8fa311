"""Evidence "topology": LIL keeps each class's persistent loops in phi."""

from __future__ import annotations

from typing import Any

import numpy as np

from lilbench.reports.aggregate import by_setting
from lilbench.reports.claims.base import (
    FAILS,
    HOLDS,
    Finding,
    NoParams,
    NotComputed,
    SuiteResults,
    evidence,
)
from lilbench.reports.claims.common import is_lil, row_name
from lilbench.results.stats import estimate


class TopologyParams(NoParams):
    loops: int = 1  # the persistent H1 features each class's inputs have


@evidence("topology", TopologyParams)
def topology_kept(res: SuiteResults, params: TopologyParams) -> Finding:
    """Persistent homology per class (the report's topology records): holds when every LIL
    model keeps, in phi, the `loops` persistent H1 features each class's inputs have, in every
    class and seed, and (where the suite has plain cross-entropy beside it) its bottleneck
    distance to the input's diagram is smaller than cross-entropy's."""
    from lilbench.results import topology_records

    loops = params.loops
    found: dict[str, list[dict[str, Any]]] = {}
    data_of = topology_records.datasets_of([r.checkpoint for r in res.results if r.checkpoint])
    for r in res.results:
        assert r.checkpoint is not None
        data = data_of[(r.checkpoint.config.dataset, r.checkpoint.config.seed)]
        rec = topology_records.ensure_topology(
            res.runs_dir, r.checkpoint, data, seed=r.seed, compute_missing=False
        )
        if rec is None:
            raise NotComputed(
                "its topology records", f"lilbench report {res.shown} --runs-dir RUNS"
            )
        found.setdefault(r.label, []).extend(rec.classes)
    parts, kept_all, lil_b, ref_b = [], True, [], []
    inputs_ok = all(c["betti_input"][1] == loops for cs in found.values() for c in cs)
    for label, group in by_setting(res.results):
        cs = found[label]
        kept = sum(c["betti_phi"][1] == loops for c in cs)
        b = [c["bottleneck_h1"] for c in cs]
        h_in = float(np.mean([c["h1_input"] for c in cs]))
        h_phi = float(np.mean([c["h1_phi"] for c in cs]))
        parts.append(
            f"{row_name(res, label)}: loop kept in {kept}/{len(cs)} class-seeds, H1 lifetime "
            f"{h_in:.2f} -> {h_phi:.2f}, bottleneck {estimate(b).fmt(3)}"
        )
        if group[0].setting.reference:
            ref_b += b
        elif all(is_lil(r) for r in group):
            lil_b += b
            kept_all &= kept == len(cs)
    contrast = not ref_b or (bool(lil_b) and np.mean(lil_b) < np.mean(ref_b))
    ok = inputs_ok and kept_all and bool(lil_b) and contrast
    why = (
        f"every input class has {loops} persistent loop(s): {'yes' if inputs_ok else 'no'}; "
        f"LIL keeps them in every class and seed: {'yes' if kept_all else 'no'}"
        + (
            f"; bottleneck distance LIL {np.mean(lil_b):.3f} vs cross-entropy {np.mean(ref_b):.3f}"
            if ref_b and lil_b
            else ""
        )
    )
    return Finding("", "; ".join(parts), "", HOLDS if ok else FAILS, why)
