"""Accuracy under random noise and common corruptions: tables per setting, each setting's
change from plain cross-entropy (paired by seed, the hierarchical bootstrap over seeds and
test images, Holm over this section's comparisons), and one image under every corruption."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from lilbench.attacks.checks import unpack_mask
from lilbench.data.corruptions import CORRUPTION_SETS, DEFAULT_SET, corrupt
from lilbench.data.noise import GAUSSIAN, NOISE_LABELS
from lilbench.reports.aggregate import ALPHA, TABLE_RESAMPLES, Table, by_setting, key_header
from lilbench.results.perturbation_records import corruption_bits, corruption_set, point_counts
from lilbench.results.stats import Bootstrap, hierarchical_bootstrap
from lilbench.results.suite_results import ModelResult

PerImage = Callable[[ModelResult], np.ndarray | None]  # per-image score in [0, 1], or None

NOISE_NAMES = NOISE_LABELS  # declared beside the kinds (data/noise.py)


def noise_score(kind: str, level: float, *, every_draw: bool) -> PerImage:
    def get(r: ModelResult) -> np.ndarray | None:
        values = r.perturbed.noise if r.perturbed is not None else None
        if values is None or (counts := point_counts(values, kind, level)) is None:
            return None
        draws = int(values["draws"])
        return (counts == draws).astype(np.float64) if every_draw else counts / draws

    return get


def clean_score(r: ModelResult) -> np.ndarray | None:
    p = r.perturbed
    values = p.noise if p is not None and p.noise is not None else (p.corruptions if p else None)
    return (
        None
        if values is None
        else unpack_mask(values["clean_bits"], int(values["n"])).astype(np.float64)
    )


def _corruption_score(name: str | None) -> PerImage:
    """One corruption's correctness per image; None: the mean over every corruption run."""

    def get(r: ModelResult) -> np.ndarray | None:
        values = r.perturbed.corruptions if r.perturbed is not None else None
        if values is None:
            return None
        names = [p["corruption"] for p in values["points"]] if name is None else [name]
        bits = [b for n in names if (b := corruption_bits(values, n)) is not None]
        return np.mean(bits, axis=0) if bits else None

    return get


def _cell(group: list[ModelResult], score: PerImage) -> str:
    rows = [s for r in group if (s := score(r)) is not None]
    if not rows or len({len(s) for s in rows}) != 1:
        return "missing"
    if len(rows) == 1:
        return f"{rows[0].mean():.4f}"
    return hierarchical_bootstrap(np.stack(rows), resamples=TABLE_RESAMPLES, seed=0).fmt()


def _table(results: list[ModelResult], columns: list[tuple[str, PerImage]]) -> Table:
    header = [key_header(results), "seeds", *(name for name, _ in columns)]
    rows = [
        [label, str(len(group)), *(_cell(group, score) for _, score in columns)]
        for label, group in by_setting(results)
    ]
    return header, rows


def _noise_points(results: list[ModelResult]) -> list[tuple[str, float]]:
    found: dict[tuple[str, float], None] = {}
    for r in results:
        if r.perturbed is not None and r.perturbed.noise is not None:
            for p in r.perturbed.noise["points"]:
                found[(p["kind"], float(p["level"]))] = None
    return list(found)


def _corruptions(results: list[ModelResult]) -> list[str]:
    found: dict[str, None] = {}
    for r in results:
        if r.perturbed is not None and r.perturbed.corruptions is not None:
            for p in r.perturbed.corruptions["points"]:
                found[p["corruption"]] = None
    return list(found)


def corruption_set_of(results: list[ModelResult]) -> str:
    """The corruption set the results were measured under (one per suite)."""
    for r in results:
        if r.perturbed is not None and r.perturbed.corruptions is not None:
            return corruption_set(r.perturbed.corruptions)
    return DEFAULT_SET


def noise_columns(results: list[ModelResult], *, every_draw: bool) -> list[tuple[str, PerImage]]:
    return [("clean", clean_score)] + [
        (f"{NOISE_NAMES[k]} {lv:g}", noise_score(k, lv, every_draw=every_draw))
        for k, lv in _noise_points(results)
    ]


def noise_tables(results: list[ModelResult]) -> tuple[Table, Table] | None:
    """(expected accuracy under each noise: the mean over draws; correct under every draw)."""
    if not _noise_points(results):
        return None
    return (
        _table(results, noise_columns(results, every_draw=False)),
        _table(results, noise_columns(results, every_draw=True)),
    )


def corruption_table(results: list[ModelResult]) -> Table | None:
    names = _corruptions(results)
    if not names:
        return None
    columns = [("clean", clean_score), ("mean", _corruption_score(None))]
    columns += [(n, _corruption_score(n)) for n in names]
    return _table(results, columns)


CLEAN, CORRUPTIONS = "clean", "corruptions"  # a Source's kind besides the noise kinds


@dataclass(frozen=True)
class Source:
    """What a compared column measures: its name in tables, and as data: the noise kind
    (`data.noise`) and level, or CLEAN, or CORRUPTIONS with how many of which set were
    averaged."""

    name: str
    kind: str
    level: float | None = None
    count: int = 0
    corruption_set: str = DEFAULT_SET

    def describe(self) -> str:
        """How prose names it: "Gaussian noise", "MNIST-C's corruptions (mean of 15)"."""
        if self.kind == CORRUPTIONS:
            return CORRUPTION_SETS.get(self.corruption_set).describe(self.count)
        return "Gaussian noise" if self.kind == GAUSSIAN else self.name


@dataclass(frozen=True)
class Change:
    """One setting against plain cross-entropy under one perturbation."""

    source: Source
    setting: str
    boot: Bootstrap
    p_holm: float

    @property
    def perturbation(self) -> str:
        """The perturbation as tables name it ("Gaussian sigma 0.2", "mean over corruptions")."""
        return self.source.name

    @property
    def significant(self) -> bool:
        return self.p_holm < ALPHA

    def fmt(self) -> str:
        return self.boot.fmt(1, 100) + (" *" if self.significant else "")


def comparison_columns(results: list[ModelResult]) -> list[tuple[Source, PerImage]]:
    """What the section tests: clean accuracy on the same images, each noise point's
    expected accuracy, and the mean accuracy over the corruptions, each with what it is."""
    columns: list[tuple[Source, PerImage]] = [(Source("clean", CLEAN), clean_score)]
    columns += [
        (Source(f"{NOISE_NAMES[k]} {lv:g}", k, lv), noise_score(k, lv, every_draw=False))
        for k, lv in _noise_points(results)
    ]
    if names := _corruptions(results):
        mean = Source(
            "mean over corruptions",
            CORRUPTIONS,
            count=len(names),
            corruption_set=corruption_set_of(results),
        )
        columns.append((mean, _corruption_score(None)))
    return columns


def changes(results: list[ModelResult]) -> list[Change]:
    """Each setting's change from the reference under each perturbation: paired by seed and
    image, 2,000 bootstrap resamples (seed 0), Holm over every change of the list."""
    from lilbench.results.comparisons import paired_family

    found = paired_family(results, comparison_columns(results))
    return [Change(source, label, boot, p) for source, label, boot, p in found]


def changes_table(found: list[Change]) -> Table:
    perturbations = list(dict.fromkeys(c.perturbation for c in found))
    settings = list(dict.fromkeys(c.setting for c in found))
    at = {(c.setting, c.perturbation): c for c in found}
    header = ["setting", *perturbations]
    rows = [
        [s, *(at[(s, p)].fmt() if (s, p) in at else "missing" for p in perturbations)]
        for s in settings
    ]
    return header, rows


def _picture(img: np.ndarray, shape: tuple[int, ...]) -> np.ndarray:
    """A flat input as something imshow draws: (H, W) for grey, (H, W, C) for colour."""
    if len(shape) != 3:
        side = round(img.size**0.5)
        return img.reshape(side, side)
    c, h, w = shape
    return img.reshape(h, w) if c == 1 else img.reshape(c, h, w).transpose(1, 2, 0)


def corruption_figure(
    x: np.ndarray,
    names: list[str],
    severity: float,
    seed: int,
    path: Path,
    shape: tuple[int, ...],
    set_name: str = DEFAULT_SET,
) -> None:
    """One test image, clean and under each corruption (its randomness: image 0's), drawn
    in the data set's image shape (C, H, W)."""
    import matplotlib

    matplotlib.use("Agg")
    from lilbench.reports.inspect_plots import plt, save_figure

    cols = 8
    rows = -(-(len(names) + 1) // cols)
    fig, axes = plt.subplots(rows, cols, figsize=(1.6 * cols, 1.8 * rows), squeeze=False)
    images = [("clean", x)] + [
        (n, corrupt(x[None], n, seed=seed, severity=severity, shape=shape, set_name=set_name)[0])
        for n in names
    ]
    for ax in axes.flat:
        ax.axis("off")
    for ax, (name, img) in zip(axes.flat, images, strict=False):
        ax.imshow(_picture(img, shape), cmap="gray", vmin=0, vmax=1)
        ax.set_title(name, fontsize=8)
    save_figure(fig, path, dpi=90)


def noise_sentence(all_changes: list[Change], said: Callable[[str], str]) -> str | None:
    """The answer's sentence on random perturbations, from `changes` (None: none were run)."""
    found = [c for c in all_changes if c.perturbation != "clean"]
    if not found:
        return None
    parts = []
    for kind in (GAUSSIAN, CORRUPTIONS):
        cs = [c for c in found if c.source.kind == kind]
        if not cs:
            continue
        what = cs[0].source.describe()
        rises = [c for c in cs if c.significant and c.boot.value > 0]
        best = max(cs, key=lambda c: c.boot.value)
        where = f" at {best.perturbation}" if kind == GAUSSIAN else ""
        if rises:
            who = ", ".join(dict.fromkeys(said(c.setting) for c in rises))
            text = f"under {what}, accuracy rises significantly for {who}"
        else:
            text = f"under {what}, accuracy rises significantly for no setting"
        parts.append(f"{text} (largest: {best.boot.fmt(1, 100)} pp, {said(best.setting)}{where})")
    return (
        "Under random perturbations (no attack; Holm over that section's comparisons): "
        + "; ".join(parts)
        + "."
    )
