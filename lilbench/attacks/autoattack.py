"""AutoAttack: per image, the first member that succeeds.

version "standard" (the default): AutoAttack's standard version, APGD-CE, APGD-T and
FAB-T over the 9 most likely wrong classes, Square with 5,000 queries, on lilbench's own
members (`kernels.autoattack`), in L-inf, L2 (norm 2, the official code's `norm='L2'`) or L1
(norm 1, `norm='L1'`: APGD-CE with 5 restarts and APGD-T over 5 targets on l1-APGD with the
large-radius schedule, FAB-T in L1, lilbench's L1 Square). With `engine: art` the same
version as ART can run it (ART has no FAB, so without FAB-T; L-inf and L2): the records an
earlier lilbench made as "standard" are those, and keep their keys there. version "art":
ART's own ensemble (APGD-CE, APGD-DLR, Square with 1,000 queries), which was lilbench's
"autoattack" before; its records keep their keys. version "apgd": the L1 version's APGD-CE
(one start) and APGD-T over 9 targets alone, which lilbench ran in L1 before it had FAB-T
and Square there; its records keep their keys.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import TYPE_CHECKING, Any, ClassVar

from lilbench.attacks.base import (
    ATTACKS,
    AttackContext,
    AttackSpec,
    EpsGridAttack,
    Point,
    check_engine,
    option,
)
from lilbench.errors import ConfigError
from lilbench.lazy import lazy_module

if TYPE_CHECKING:
    import torch

    from lilbench.attacks import art_autoattack
    from lilbench.attacks.kernels import autoattack as kernels
else:
    torch = lazy_module("torch")
    art_autoattack = lazy_module("lilbench.attacks.art_autoattack")
    kernels = lazy_module("lilbench.attacks.kernels.autoattack")

MEMBERS = {
    ("standard", "lilbench"): (
        "apgd-ce",
        "apgd-t (9 targets)",
        "fab-t (9 targets)",
        "square (5000 queries)",
    ),
    ("standard", "art"): ("apgd-ce", "apgd-t (9 targets)", "square (5000 queries)"),
    ("art", "art"): ("apgd-ce", "apgd-dlr", "square (1000 queries)"),
    ("apgd", "lilbench"): ("apgd-ce", "apgd-t (9 targets)"),
}
L1_MEMBERS = (  # the official code's standard version in L1
    "apgd-ce (5 restarts)",
    "apgd-t (5 targets)",
    "fab-t (9 targets)",
    "square (5000 queries)",
)
DEFAULT_ENGINE = {"standard": "lilbench", "art": "art", "apgd": "lilbench"}
# the versions each norm has: the standard one needs FAB-T and Square in the norm
VERSIONS_BY_NORM = {"inf": ("standard", "art"), "2": ("standard",), "1": ("standard", "apgd")}


@ATTACKS.register("autoattack")
@dataclass(frozen=True, kw_only=True)
class AutoAttackSpec(EpsGridAttack):
    """AutoAttack (standard: APGD-CE, APGD-T, FAB-T, Square): worst case per example."""

    name: ClassVar[str] = "autoattack"
    standard: ClassVar[bool] = True
    norms: ClassVar[tuple[str, ...]] = ("inf", "2", "1")
    version: str = option(
        "standard",
        "standard (APGD-CE, APGD-T, FAB-T, Square 5000), art (ART's ensemble: APGD-CE, "
        "APGD-DLR, Square 1000; L-inf) or apgd (APGD-CE and APGD-T alone; L1).",
    )
    engine: str | None = option(
        None,
        "lilbench (the default for standard) or art (ART's members; standard then lacks "
        "FAB-T, as lilbench ran it before; the only engine of version art).",
    )

    @property
    def verdict_rank(self) -> int:
        return 5

    @property
    def eps0_skipped_because(self) -> str:
        if self.resolved_engine == "lilbench":
            return (
                "lilbench's AutoAttack members (APGD's step schedule, FAB-T's projection, "
                "Square's windows) are defined for eps > 0"
            )
        return super().eps0_skipped_because

    @property
    def resolved_engine(self) -> str:
        return self.engine or DEFAULT_ENGINE.get(self.version, "lilbench")

    def validate(self) -> AutoAttackSpec:
        super().validate()
        if self.version not in DEFAULT_ENGINE:
            raise ConfigError(
                f"unknown AutoAttack version {self.version!r}; known: {', '.join(DEFAULT_ENGINE)}"
            )
        check_engine(self.engine, self.name)
        if (self.version, self.resolved_engine) not in MEMBERS:
            raise ConfigError(
                "AutoAttack version art is ART's own ensemble: drop engine or set it to art"
            )
        have = VERSIONS_BY_NORM[self.threat.key]
        if self.version not in have:
            why = {
                "art": "ART's own ensemble (version art) is L-inf here",
                "apgd": "version apgd is the L1 subset; in L-inf and L2 the standard version runs",
            }[self.version]
            raise ConfigError(
                f"AutoAttack in {self.threat.label}: {why}; set version to {' or '.join(have)}"
            )
        if self.resolved_engine == "art" and not self.threat.in_art:
            raise ConfigError(
                f"AutoAttack in {self.threat.label}: ART's members are L-inf and L2 only; "
                "drop engine (lilbench's members run in every norm)"
            )
        return self

    def params(self) -> dict[str, Any]:
        params = super().params()
        params.pop("engine", None)
        if self.resolved_engine == "lilbench":
            params["engine"] = "lilbench"  # FAB-T joined: not the records made before
        if params.get("version") == "art":
            del params["version"]  # the key records of the earlier "autoattack" were made with
        return params

    def superseded(self) -> AttackSpec | None:
        return replace(self, engine="art") if self.resolved_engine == "lilbench" else None

    @property
    def members(self) -> tuple[str, ...]:
        if self.version == "standard" and not self.threat.in_art:
            return L1_MEMBERS
        return MEMBERS[(self.version, self.resolved_engine)]

    @property
    def uses_randomness(self) -> bool:
        return True

    def generate(self, ctx: AttackContext, point: Point, rows: slice) -> torch.Tensor:
        if self.version == "apgd":
            x, y = ctx.tensors(rows)
            log = kernels.MemberLog()
            adv = kernels.apgd_autoattack(
                ctx.clf.model,
                x,
                y,
                self.threat,
                eps=point.eps,
                seed=ctx.seed,
                batch_size=self.batch_size,
                log=log,
            )
            ctx.notes["members"] = log
            return adv.cpu()
        if self.resolved_engine == "lilbench":
            x, y = ctx.tensors(rows)
            log = kernels.MemberLog()
            # the sparse (L1) APGD members keep no trace of their iterates
            trace = kernels.Trace(len(x)) if self.threat.in_art else None
            if trace is not None:
                ctx.notes["trace"] = trace
            adv = kernels.standard_autoattack(
                ctx.clf.model,
                x,
                y,
                eps=point.eps,
                shape=ctx.image(self.name),
                seed=ctx.seed,
                batch_size=self.batch_size,
                norm=self.norm,
                log=log,
                trace=trace,
            )
            ctx.notes["members"] = log
            return adv.cpu()
        clf, xs, ys = ctx.image_classifier(self.name), ctx.x[rows], ctx.y[rows]
        if self.version == "standard":
            found = art_autoattack.art_autoattack_standard(
                clf,
                xs,
                ys,
                eps=point.eps,
                batch_size=self.batch_size,
                seed=ctx.seed,
                norm=self.threat.art_norm,
            )
        else:
            found = art_autoattack.art_autoattack(
                clf, xs, ys, eps=point.eps, batch_size=self.batch_size, seed=ctx.seed
            )
        return torch.from_numpy(found)
