"""Attacks by name: every module in this folder that registers an attack does so on import."""

from lilbench.attacks.base import ATTACKS, AttackContext, AttackSpec, EpsGridAttack, Point
from lilbench.registry import import_submodules

# Modules that register no attack: their machinery (ART, torch) loads when an attack runs,
# not when the attacks are listed.
MACHINERY = frozenset(
    {
        "art_autoattack",
        "art_backend",
        "base",
        "checks",
        "faithful",
        "grids",
        "indicators",
        "kernels",
        "model_checks",
        "runner",
    }
)
import_submodules(__name__, skip=MACHINERY)

from lilbench.attacks.apgd import APGD  # noqa: E402
from lilbench.attacks.autoattack import AutoAttackSpec  # noqa: E402
from lilbench.attacks.fgsm import FGSM  # noqa: E402
from lilbench.attacks.pgd import PGD  # noqa: E402
from lilbench.attacks.square import Square  # noqa: E402

__all__ = [
    "APGD",
    "ATTACKS",
    "FGSM",
    "PGD",
    "AttackContext",
    "AttackSpec",
    "AutoAttackSpec",
    "EpsGridAttack",
    "Point",
    "Square",
]
