"""Evidence "activation-structure": tanh against ReLU representations at beta 0 (related
work)."""

from __future__ import annotations

from typing import Any

import numpy as np

from lilbench.errors import ConfigError
from lilbench.reports.claims.base import (
    FAILS,
    HOLDS,
    IN_PART,
    Finding,
    NoParams,
    SuiteResults,
    evidence,
)
from lilbench.reports.claims.collapse import geometry_panels
from lilbench.reports.claims.common import metric


@evidence("activation-structure")
def activation_structure(res: SuiteResults, params: NoParams) -> Finding:
    """Related work (Alleman, Lindsey & Fusi 2024): at beta 0, ReLU's phi keeps more of the
    input's structure than tanh's. Holds when ReLU has the lower isometry error and the higher
    input-phi CKA in every seed; in part when one of the two."""
    from lilbench.reports.activation import activation_of, is_plain

    plain = [
        r
        for r in res.results
        if r.checkpoint is not None and is_plain(r) and activation_of(r) in ("tanh", "relu")
    ]
    found = dict(((activation_of(r), r.seed), m) for r, m in geometry_panels(res, plain))
    iso = {(activation_of(r), r.seed): metric([r], "test_isometry_error")[0] for r in plain}
    seeds = sorted({s for a, s in found if a == "relu" and ("tanh", s) in found})
    if not seeds:
        raise ConfigError(f"{res.suite.name}: needs tanh and relu models at beta 0")
    lower_iso = all(iso[("relu", s)] < iso[("tanh", s)] for s in seeds)
    higher_cka = all(
        found[("relu", s)]["cka_input_phi"] > found[("tanh", s)]["cka_input_phi"] for s in seeds
    )

    def mean(d: dict[tuple[str, int], Any], act: str, key: str | None = None) -> float:
        return float(np.mean([d[(act, s)] if key is None else d[(act, s)][key] for s in seeds]))

    measured = (
        f"at beta 0, tanh vs ReLU ({len(seeds)} seeds): isometry error "
        f"{mean(iso, 'tanh'):.3f} vs {mean(iso, 'relu'):.3f}; CKA input-phi "
        f"{mean(found, 'tanh', 'cka_input_phi'):.3f} vs {mean(found, 'relu', 'cka_input_phi'):.3f}"
    )
    verdict = HOLDS if lower_iso and higher_cka else IN_PART if lower_iso or higher_cka else FAILS
    why = (
        f"ReLU's isometry error lower in every seed: {'yes' if lower_iso else 'no'}; its "
        f"input-phi CKA higher in every seed: {'yes' if higher_cka else 'no'}"
    )
    return Finding("", measured, "", verdict, why)
