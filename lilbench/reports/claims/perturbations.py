"""Evidence "general-perturbations": does LIL raise accuracy under random noise and
corruptions, beside the suite's other defences?"""

from __future__ import annotations

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
from lilbench.reports.claims.common import lil_settings, row_name


class PerturbationsParams(NoParams):
    beside_sigma: float = 0.3  # the Gaussian sigma at which the other defences are shown


@evidence("general-perturbations", PerturbationsParams)
def general_perturbations(res: SuiteResults, params: PerturbationsParams) -> Finding:
    """Accuracy under random noise and MNIST-C's corruptions vs plain cross-entropy, as the
    report's section tests it (hierarchical bootstrap, Holm over the section's comparisons):
    holds when some LIL setting rises significantly under both some Gaussian noise and the
    mean over the corruptions, in part when under one of them."""
    from lilbench.data.noise import GAUSSIAN
    from lilbench.reports.noise import CORRUPTIONS, Change, changes
    from lilbench.reports.noise_baseline import head_to_head, head_to_head_sentence

    if not res.suite.perturbs:
        raise ConfigError(f"{res.suite.name}: needs `noise:` and `corruptions:` in the suite")
    lil = {label for label, _ in lil_settings(res)}
    found = [c for c in changes(res.results) if c.setting in lil]
    noise = [c for c in found if c.source.kind == GAUSSIAN]
    corr = [c for c in found if c.source.kind == CORRUPTIONS]
    averaged = max((c.source.count for c in corr), default=0)

    def best(cs: list[Change], what: str) -> str:
        if not cs:
            return f"{what}: not run"
        c = max(cs, key=lambda c: c.boot.value)
        sig = "significant" if c.significant else "not significant"
        change = c.boot.fmt(1, 100)
        return f"{c.perturbation}: largest change {row_name(res, c.setting)}, {change} pp, {sig}"

    by_sigma: dict[str, list[Change]] = {}
    for c in noise:
        by_sigma.setdefault(c.perturbation, []).append(c)
    measured = [best(cs, "Gaussian noise") for cs in by_sigma.values()] or [
        best([], "Gaussian noise")
    ]
    measured.append(best(corr, "corruptions"))
    rise_noise = sorted(
        {
            f"{row_name(res, c.setting)} ({c.perturbation})"
            for c in noise
            if c.significant and c.boot.value > 0
        }
    )
    rise_corr = [row_name(res, c.setting) for c in corr if c.significant and c.boot.value > 0]
    if rise_noise and rise_corr:
        verdict = HOLDS
    elif rise_noise or rise_corr:
        verdict = IN_PART
    else:
        verdict = FAILS
    why = (
        "significant rises under Gaussian noise: "
        + (", ".join(rise_noise) or "none")
        + (
            f"; under the corruptions (mean of {averaged}): " + (", ".join(rise_corr) or "none")
            if corr
            else "; corruptions not run"
        )
        + " (Holm over the report section's comparisons)"
    )
    # the suite's other defences beside LIL: is adversarial training's robustness "specific"?
    others = [
        c
        for c in changes(res.results)
        if c.setting not in lil
        and (
            c.source.kind == CORRUPTIONS
            or (c.source.kind == GAUSSIAN and c.source.level == params.beside_sigma)
        )
    ]
    if others:
        measured.append(
            "beside LIL: " + ", ".join(f"{c.setting} {c.perturbation} {c.fmt()} pp" for c in others)
        )
    # against the defence built for noise (Gaussian augmentation), where the suite trains it
    baseline = head_to_head(res.results)
    if baseline:
        measured.append(
            "against Gaussian augmentation (LIL minus it, paired; Holm over "
            f"{len(baseline)}): "
            + ", ".join(
                f"{h.source.name} {row_name(res, h.ours)} vs {h.rival}"
                + ("" if h.matched else " (nearest in clean accuracy)")
                + f" {h.boot.fmt(1, 100)} pp"
                for h in baseline
            )
            + "; more accurate: "
            + head_to_head_sentence(baseline)
        )
    return Finding("", "; ".join(measured), "", verdict, why)
