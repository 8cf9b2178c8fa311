"""The indicators of attack failure per model, read from the attack records: counts for the
checks section, one sentence per model, and the summary the answer paragraph and the claims
table's gradient-masking wording rest on."""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from lilbench.attacks.base import attack_facts
from lilbench.results.comparisons import key_header
from lilbench.results.per_image import RUN_INDICATORS, earlier_unavailable_definition, point_flags
from lilbench.results.suite_results import ModelResult, setting_name

Table = tuple[list[str], list[list[str]]]  # as reports.aggregate's (which imports this module)

# The per-point indicators, then the run's own (their names as the records store them).
POINT = (
    "silent-success",
    "incomplete-optimisation",
    "unavailable-gradients",
    "transfer-failure",
    "zero-dlr-gradient",
)
RUN = RUN_INDICATORS
NAMES = POINT + RUN
# The ones that say the gradients may not be usable (gradient masking), as opposed to an
# optimisation that could have gone further.
MASKING = ("unavailable-gradients", "unstable-predictions", "unconstrained-failure")


@dataclass
class ModelIndicators:
    """Per indicator: the images flagged in any attack run of the model, and where."""

    label: str
    seed: int
    name: str = ""  # the setting as the sentences say it
    recorded: int = 0  # attack records that carry indicators
    unrecorded: int = 0  # records written before them
    first_definition: int = 0  # records whose unavailable gradients used the first definition
    images: dict[str, int] = field(default_factory=dict)
    where: dict[str, list[str]] = field(default_factory=dict)

    @property
    def fired(self) -> list[str]:
        return [name for name in NAMES if self.images.get(name)]

    def sentence(self) -> str:
        who = f"{self.name or self.label}, seed {self.seed}"
        if not self.recorded:
            return f"- {who}: indicators not recorded (records by an earlier lilbench)."
        tail = ""
        if self.unrecorded:
            tail += f"; {self.unrecorded} earlier records not covered"
        if self.first_definition:
            tail += (
                f"; unavailable gradients and zero DLR gradients not recorded in "
                f"{self.first_definition} runs"
            )
        tail = f" ({tail[2:]})" if tail else ""
        if not self.fired:
            return f"- {who}: no indicator triggered in {self.recorded} attack runs{tail}."
        parts = [
            f"{name.replace('-', ' ')} on {self.images[name]} image(s) "
            f"({', '.join(sorted(set(self.where[name]))[:4])})"
            for name in self.fired
        ]
        return f"- {who}: " + "; ".join(parts) + tail + "."

    @property
    def complete(self) -> bool:
        """Every attack run carries every indicator."""
        return bool(self.recorded) and not (self.unrecorded or self.first_definition)


def _merge(flagged: dict[str, np.ndarray], name: str, mask: np.ndarray) -> None:
    """OR a mask of the first len(mask) images into the flagged images (the unconstrained
    probe covers the first 256 images only)."""
    have = flagged.get(name, np.zeros(0, dtype=bool))
    merged = np.zeros(max(len(have), len(mask)), dtype=bool)
    merged[: len(have)] |= have
    merged[: len(mask)] |= mask
    flagged[name] = merged


def model_indicators(r: ModelResult) -> ModelIndicators:
    out = ModelIndicators(r.label, r.seed, setting_name(r.setting))
    flagged: dict[str, np.ndarray] = {}
    attacks = r.completed_attacks()
    facts = attack_facts(attacks)
    for label, rec in attacks.items():
        if rec.indicators is None:
            out.unrecorded += 1
            continue
        # unavailable gradients by the first definition (zero in any run): left out
        out.first_definition += earlier_unavailable_definition(rec)
        out.recorded += 1
        for eps, flags in point_flags(rec, one_step=facts[label].one_step).items():
            for name, mask in flags.items():
                if mask.any():
                    where = label if name in RUN else f"{label} eps {eps:g}"
                    if where not in out.where.get(name, []):
                        out.where.setdefault(name, []).append(where)
                    _merge(flagged, name, mask)
    out.images = {name: int(mask.sum()) for name, mask in flagged.items()}
    return out


def indicators_table(results: list[ModelResult]) -> tuple[Table, list[str]] | None:
    """Counts per model (images flagged by each indicator in any attack run) and the
    sentences; None when no record carries indicators."""
    found = [model_indicators(r) for r in results if r.completed_attacks()]
    if not any(m.recorded for m in found):
        return None
    header = [key_header(results), "seed", "runs", *NAMES]
    rows = [
        [m.label, str(m.seed), str(m.recorded), *(str(m.images.get(n, 0)) for n in NAMES)]
        for m in found
    ]
    return (header, rows), [m.sentence() for m in found]


def masking_summary(results: list[ModelResult]) -> tuple[int, int, list[str]] | None:
    """(models whose runs carry indicators, those where an indicator of unusable gradients
    fired, which fired) or None when no record carries them."""
    found = [model_indicators(r) for r in results if r.completed_attacks()]
    covered = [m for m in found if m.complete]
    if not covered:
        return None
    bad = [m for m in covered if any(m.images.get(n) for n in MASKING)]
    names = sorted({n for m in bad for n in MASKING if m.images.get(n)})
    return len(covered), len(bad), names


def unstable_sample(results: list[ModelResult]) -> str:
    """How many images the unstable-predictions indicator probed, as the report says it:
    "" where every run probed all its images (records from before the sampled indicators),
    else ", first N images" (with the largest N where runs differ)."""
    probed = {
        int(rec.indicators["unstable-predictions"]["images_probed"])
        for r in results
        for rec in r.completed_attacks().values()
        if rec.indicators
        and isinstance(rec.indicators.get("unstable-predictions"), dict)
        and "images_probed" in rec.indicators["unstable-predictions"]
        and int(rec.indicators["unstable-predictions"]["images_probed"]) < rec.samples.n
    }
    return f", first {max(probed):,} images" if probed else ""
