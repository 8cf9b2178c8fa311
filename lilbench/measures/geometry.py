"""The geometry panel of one model: neural collapse (NC1, NC2, NC4), linear CKA between the
input and phi and between phi of clean and attacked images, and phi's effective rank, on the
first IMAGES test images (phi: the last hidden layer)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from lilbench.lazy import lazy_module
from lilbench.measures.base import Measure, register

if TYPE_CHECKING:
    import torch

    from lilbench.data import Dataset
else:
    torch = lazy_module("torch")

IMAGES = 1000  # the first test images the panel is computed on
ATTACK: dict[str, Any] = {"eps": 0.1, "steps": 10, "restarts": 1}  # L-inf PGD
GEOMETRY_PARAMS: dict[str, Any] = {"images": IMAGES, "attack": ATTACK, "seed": 0}
ATTACK_TEXT = "PGD-10 at L-inf eps 0.1 (step 2.5 eps / 10, one random start)"


def geometry(model: torch.nn.Module, data: Dataset) -> dict[str, Any]:
    """The panel on the first IMAGES test images (phi: the last hidden layer)."""
    from lilbench.attacks.runner import pgd_examples
    from lilbench.geometry import effective_rank, linear_cka, nc1, nc2, nc4

    x, y = data.x_test[:IMAGES], data.y_test[:IMAGES]
    with torch.no_grad():
        phi = model.features(x).double().numpy()  # type: ignore[operator]
        predicted = model(x).argmax(1).numpy()
    adv = pgd_examples(
        model, x, y, seed=int(GEOMETRY_PARAMS["seed"]), num_classes=data.num_classes, **ATTACK
    )
    with torch.no_grad():
        phi_adv = model.features(adv).double().numpy()  # type: ignore[operator]
    labels = y.numpy()
    equinorm, equiangular = nc2(phi, labels)
    return {
        "nc1": nc1(phi, labels),
        "nc2_equinorm": equinorm,
        "nc2_equiangular": equiangular,
        "nc4": nc4(phi, labels, predicted),
        "cka_input_phi": linear_cka(x.double().numpy(), phi),
        "cka_clean_adv_phi": linear_cka(phi, phi_adv),
        "effective_rank": effective_rank(phi),
    }


register(Measure("geometry", geometry, GEOMETRY_PARAMS))
