"""Per-image results from the stored bits: which images each model gets right unperturbed,
the smallest eps of each attack's grid that broke each image, and one wide row per model,
image and eps for `lilbench export --per-image`.

An image counts as robust at eps only when the model classifies it correctly unperturbed and
the attack's returned point too (AutoAttack's per-image rule): an attack never makes an
image "more correct", so everything here takes the clean mask into account.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import torch

from lilbench.attacks.base import attack_facts
from lilbench.attacks.checks import pack_mask, unpack_mask
from lilbench.data import Dataset, load_dataset
from lilbench.results.diagnostic_records import ensure_diagnostic
from lilbench.results.suite_results import ModelResult
from lilbench.schemas import AttackRecord
from lilbench.threats import threat


def _searches(r: ModelResult) -> set[str]:
    """Labels of the minimal-perturbation attacks (a per-image bisection over their grid)."""
    facts = attack_facts(r.completed_attacks())
    return {label for label, spec in facts.items() if spec.minimal_perturbation}


def records_n(r: ModelResult) -> int:
    """How many test images the model's attack records cover (0: none ran)."""
    return next((rec.samples.n for rec in r.completed_attacks().values()), 0)


def clean_mask(r: ModelResult, runs_dir: Path | None, data_dir: Path | None) -> np.ndarray | None:
    """The model's own verdict on the unperturbed images its records cover (a diagnostic
    record, cached per weights and image count)."""
    n = records_n(r)
    if not n or r.checkpoint is None:
        return None

    def correct(model: torch.nn.Module, data: Dataset) -> dict[str, Any]:
        with torch.no_grad():
            pred = model(data.x_test[:n]).argmax(1)
        return {"n": n, "bits": pack_mask((pred == data.y_test[:n]).numpy())}

    found = ensure_diagnostic(
        r.checkpoint, "clean-bits", {"n": n}, correct, runs_dir=runs_dir, data_dir=data_dir
    )
    return unpack_mask(found["bits"], n)


def clean_masks(
    results: list[ModelResult], data_dir: Path | None, runs_dir: Path | None
) -> dict[tuple[str, int], np.ndarray]:
    """(setting label, seed) -> clean mask, for every model with attack records."""
    masks = {}
    for r in results:
        mask = clean_mask(r, runs_dir, data_dir)
        if mask is not None:
            masks[(r.label, r.seed)] = mask
    return masks


def eps_records(r: ModelResult, norm: str) -> dict[str, AttackRecord]:
    """The model's completed eps-sweep records of one norm, by label, with per-image bits."""
    done = r.completed_attacks()
    facts = attack_facts(done)
    return {
        label: rec
        for label, rec in done.items()
        if rec.sweep == "eps"
        and facts[label].norm == norm
        and all(p.correct_bits for p in rec.points)
    }


def broken_eps(rec: AttackRecord, clean: np.ndarray) -> np.ndarray:
    """Per image: the smallest eps of the record's grid at which the attack broke it (0 for
    an image misclassified unperturbed, +inf where it never did)."""
    n = len(clean)
    out = np.full(n, np.inf)
    for p in rec.points:
        if p.eps > 0 and p.correct_bits:
            broken = ~unpack_mask(p.correct_bits, n)
            out = np.where(broken, np.minimum(out, float(p.eps)), out)
    return np.where(clean, out, 0.0)


def minimal_eps(r: ModelResult, clean: np.ndarray, norm: str = "inf") -> np.ndarray:
    """Per image: the smallest eps at which any attack of this norm broke it."""
    out = np.full(len(clean), np.inf)
    for rec in eps_records(r, norm).values():
        if rec.samples.n == len(clean):
            out = np.minimum(out, broken_eps(rec, clean))
    return np.where(clean, out, 0.0)


def norms_of(results: list[ModelResult]) -> list[str]:
    """The norms of the eps-sweep attacks that ran, L-inf first."""
    found = {
        attack_facts({label: rec})[label].norm
        for r in results
        for label, rec in r.completed_attacks().items()
        if rec.sweep == "eps"
    }
    return sorted(found, key=lambda n: threat(n).order)


RUN_INDICATORS = ("unstable-predictions", "unconstrained-failure")


def earlier_unavailable_definition(rec: AttackRecord) -> bool:
    """Whether the record's "unavailable gradients" bits follow the first definition (a zero
    gradient in any step, before zero DLR gradients were told apart): such bits are not the
    indicator, and are left out wherever indicators are read."""
    return any(
        "zero-dlr-gradient" not in p.indicators
        for p in rec.points
        if p.indicators and "silent-success" in p.indicators
    )


def point_flags(rec: AttackRecord, *, one_step: bool = False) -> dict[float, dict[str, np.ndarray]]:
    """Per eps of the record: indicator name -> images flagged at any point of that eps (the
    run's own indicators, unstable predictions and unconstrained failure, at every eps of
    the run; unconstrained failure not for a one-step attack, which need not break
    everything). Empty for a record written before the indicators."""
    if rec.indicators is None:
        return {}
    n = rec.samples.n
    skip = {"unavailable-gradients"} if earlier_unavailable_definition(rec) else set()
    if one_step:
        skip.add("unconstrained-failure")
    run: dict[str, np.ndarray] = {}
    for name in RUN_INDICATORS:
        found = rec.indicators.get(name)
        if name not in skip and isinstance(found, dict) and found.get("bits"):
            # both probe the first images only (unstable predictions on every image in
            # records written before indicators sampled their images, which say no images_probed)
            size = min(int(found.get("images_probed", n)), n)
            mask = np.zeros(n, dtype=bool)
            mask[:size] = unpack_mask(str(found["bits"]), size)
            run[name] = mask
    out: dict[float, dict[str, np.ndarray]] = {}
    for p in rec.points:
        # a step sweep has several points at one eps: an image flagged at any of them counts
        flags = out.setdefault(float(p.eps), dict(run))
        for name, bits in (p.indicators or {}).items():
            if name not in skip:
                mask = unpack_mask(bits, n)
                flags[name] = flags[name] | mask if name in flags else mask
    return out


PER_IMAGE_FIXED = (
    "suite",
    "model",
    "setting",
    "seed",
    "norm",
    "eps",
    "index",
    "label",
    "clean_correct",
    "broken_by",
    "first_broken_by",
    "minimal_eps_search",
    "minimal_eps_any",
    "indicators",
)


def per_image_columns(results: list[ModelResult], attack_order: list[str]) -> tuple[str, ...]:
    """The fixed columns, then one `broken:<attack>` column per fixed-eps attack that ran."""
    ran = {label for r in results for label in r.completed_attacks()}
    searches = {label for r in results for label in _searches(r)}
    return PER_IMAGE_FIXED + tuple(
        f"broken:{label}" for label in attack_order if label in ran and label not in searches
    )


def per_image_rows(
    suite: str,
    results: list[ModelResult],
    attack_order: list[str],
    *,
    runs_dir: Path | None,
    data_dir: Path | None,
) -> Iterator[dict[str, Any]]:
    """One row per model, norm, eps (of the fixed-eps attacks' grids) and image: its label,
    whether the model gets it right unperturbed, which attacks broke it at that eps (1, 0, or
    empty where the attack did not run at that eps), the first of them in the suite's attack
    order, its minimal eps found by the minimal-perturbation attack (apgd-search) and by
    any attack of that norm, and the indicators of attack failure that fired on it at that eps
    ("name:attack", ";"-joined; the run's own indicators at every eps of the run)."""
    columns = per_image_columns(results, attack_order)
    for r in results:
        clean = clean_mask(r, runs_dir, data_dir)
        if clean is None or r.checkpoint is None:
            continue
        n = len(clean)
        cfg = r.checkpoint.config
        labels = load_dataset(cfg.dataset, data_dir=data_dir, seed=cfg.seed).y_test[:n]
        labels_np = labels.numpy()
        for norm in norms_of([r]):
            recs = {k: v for k, v in eps_records(r, norm).items() if v.samples.n == n}
            found = [recs.pop(label) for label in sorted(_searches(r)) if label in recs]
            search_eps = None if not found else broken_eps(found[0], clean)
            any_eps = minimal_eps(r, clean, norm)
            order = [label for label in attack_order if label in recs]
            facts = attack_facts(recs)
            flags = {
                label: point_flags(recs[label], one_step=facts[label].one_step) for label in order
            }
            bits: dict[tuple[str, float], np.ndarray] = {
                (label, float(p.eps)): ~unpack_mask(str(p.correct_bits), n) & clean
                for label in order
                for p in recs[label].points
                if p.eps > 0
            }
            for eps in sorted({e for _, e in bits}):
                ran = [label for label in order if (label, eps) in bits]
                for i in range(n):
                    broke = [label for label in ran if bits[(label, eps)][i]]
                    fired = [
                        f"{name}:{label}"
                        for label in ran
                        for name, mask in flags[label].get(eps, {}).items()
                        if mask[i]
                    ]
                    # None where a value does not apply: empty in CSV, null in Parquet
                    row: dict[str, Any] = dict.fromkeys(columns)
                    row.update(
                        suite=suite,
                        model=r.checkpoint.config_hash[:16],
                        setting=r.label,
                        seed=r.seed,
                        norm=norm,
                        eps=eps,
                        index=i,
                        label=int(labels_np[i]),
                        clean_correct=int(clean[i]),
                        broken_by=";".join(broke),
                        first_broken_by=broke[0] if broke else None,
                        minimal_eps_search=None if search_eps is None else float(search_eps[i]),
                        minimal_eps_any=float(any_eps[i]),
                        indicators=";".join(fired),
                    )
                    for label in ran:
                        row[f"broken:{label}"] = int(bits[(label, eps)][i])
                    yield row


def hardest_images(
    results: list[ModelResult], clean: dict[tuple[str, int], np.ndarray], norm: str, count: int
) -> list[tuple[int, float, int]]:
    """The images with the smallest median minimal eps over every model of the suite (images
    some model misclassifies unperturbed left out): (index, median minimal eps, models)."""
    per = [
        minimal_eps(r, clean[(r.label, r.seed)], norm)
        for r in results
        if (r.label, r.seed) in clean and eps_records(r, norm)
    ]
    if not per or len({len(v) for v in per}) != 1:
        return []
    values = np.stack(per)
    everywhere = np.all(np.stack([clean[k] for k in clean if len(clean[k]) == values.shape[1]]), 0)
    medians = np.median(values, axis=0)
    candidates = [i for i in np.argsort(medians, kind="stable") if everywhere[i]]
    return [(int(i), float(medians[i]), len(values)) for i in candidates[:count]]
