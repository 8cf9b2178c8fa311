"""ART set up right: clip values, no preprocessing, fast batches, frozen weights. Here: the
classifier wrappers every ART-engine path shares, and ART's FGSM, PGD and Square as lilbench
constructs them. ART's AutoAttack is `attacks/art_autoattack.py`; lilbench's own arithmetic
for ART's FGSM and clean-start PGD steps is `attacks/kernels/art_steps.py`.

Measured choices (see the benchmark): `preprocessing=None` (ART's identity default costs
10-18% of PGD), batch 1000 (ART's 32 is 2-3x slower), weights with requires_grad=False (ART's
`loss_gradient` calls backward(), which would otherwise also compute every weight gradient).
"""

from __future__ import annotations

from typing import Any

import numpy as np
import torch
from art.attacks.evasion import (
    FastGradientMethod,
    SquareAttack,
)
from art.attacks.evasion.projected_gradient_descent.projected_gradient_descent_pytorch import (
    ProjectedGradientDescentPyTorch,
)
from art.estimators.classification import PyTorchClassifier
from torch import nn

from lilbench.threats import threat


class SlicingClassifier(PyTorchClassifier):
    """PyTorchClassifier whose `predict` slices the array instead of using a DataLoader.

    ART's predict wraps the input in a TensorDataset and collates it row by row (about 0.3 s
    per 10,000 MNIST images, more than the forward pass); ART's PGD also calls it twice per
    run to log a success rate. Same model, same eval mode, same batches, same float32 logits.
    """

    def __init__(self, *, device: torch.device, **kwargs: Any) -> None:
        super().__init__(device_type="gpu" if device.type == "cuda" else "cpu", **kwargs)
        # ART takes "gpu" to mean cuda:{current_device()}; lilbench's tensors are on `device`
        # (cuda:1, say), so the model and ART's tensors go there too.
        self._device = torch.device(device)
        self._model.to(self._device)

    def predict(
        self, x: np.ndarray, batch_size: int = 128, training_mode: bool = False, **kwargs: object
    ) -> np.ndarray:
        self._model.train(mode=training_mode)
        x_pre, _ = self._apply_preprocessing(x, y=None, fit=False)
        x_t = torch.from_numpy(np.ascontiguousarray(x_pre))
        out = np.empty((len(x_t), self.nb_classes), dtype=np.float32)
        with torch.no_grad():
            for i in range(0, len(x_t), batch_size):
                logits = self._model(x_t[i : i + batch_size].to(self._device))[-1]
                out[i : i + batch_size] = logits.detach().cpu().numpy()
        return self._apply_postprocessing(preds=out, fit=False)


def make_classifier(
    model: nn.Module, *, input_dim: int, num_classes: int, device: torch.device
) -> PyTorchClassifier:
    model.eval()
    for p in model.parameters():
        p.requires_grad_(False)
    return SlicingClassifier(
        model=model,
        loss=nn.CrossEntropyLoss(),  # mean over the batch at the true labels
        input_shape=(input_dim,),
        nb_classes=num_classes,
        clip_values=(0.0, 1.0),
        preprocessing=None,
        device=device,
    )


class LinfPGD(ProjectedGradientDescentPyTorch):
    """ART's PyTorch PGD with an exact, cheaper L-inf projection.

    ART's projection broadcasts eps to a float64 array the size of the batch on every step
    and checks it elementwise (about 40% of PGD's time on MNIST). For a scalar eps and the
    L-inf norm, clamping to [-eps, eps] gives the same float32 values: a test checks the
    adversarial examples are bit-identical to stock ART's.
    """

    @staticmethod
    def _projection(
        values: torch.Tensor,
        eps: int | float | np.ndarray,
        norm_p: int | float | str,
        *,
        suboptimal: bool = True,
    ) -> torch.Tensor:
        if threat(norm_p).is_default and np.ndim(eps) == 0:  # ART spells L-inf inf or "inf"
            return values.clamp(-float(eps), float(eps))
        return ProjectedGradientDescentPyTorch._projection(
            values, eps, norm_p, suboptimal=suboptimal
        )


def art_fgsm(
    clf: PyTorchClassifier,
    x: np.ndarray,
    y: np.ndarray,
    eps: float,
    batch_size: int,
    *,
    norm: float = np.inf,
) -> np.ndarray:
    """Stock ART FGSM (one eps); the L-inf sweep below must reproduce it exactly. With
    norm=2, ART's L2 step: x + eps * g / ||g||_2, clipped to [0, 1]."""
    attack = FastGradientMethod(
        clf, norm=norm, eps=float(eps), eps_step=float(eps), batch_size=batch_size
    )
    return attack.generate(x=x, y=y)


def fgsm_gradient_signs(
    clf: PyTorchClassifier, x: np.ndarray, y: np.ndarray, batch_size: int
) -> torch.Tensor:
    """sign of ART's loss gradient, batch by batch as FastGradientMethod takes it (NaN -> 0)."""
    signs = np.empty_like(x)
    onehot = np.eye(clf.nb_classes, dtype=np.float32)[y]  # what FastGradientMethod passes on
    for i in range(0, len(x), batch_size):
        grad = clf.loss_gradient(x[i : i + batch_size], onehot[i : i + batch_size])
        signs[i : i + batch_size] = np.sign(np.where(np.isnan(grad), 0.0, grad))
    return torch.from_numpy(signs)


def art_pgd(
    clf: PyTorchClassifier,
    x: np.ndarray,
    y: np.ndarray,
    *,
    eps: float,
    step: float,
    steps: int,
    restarts: int,
    batch_size: int,
    seed: int,
    norm: float = np.inf,
) -> np.ndarray:
    """ART's PGD. With norm=2: a random start inside the L2 ball, steps normalised in L2,
    projection onto the L2 ball, clipped to [0, 1] (ART's arithmetic throughout)."""
    np.random.seed(seed)  # ART draws random starts from numpy's global RNG
    attack = LinfPGD(
        clf,
        norm=norm,
        eps=float(eps),
        eps_step=float(step),
        max_iter=steps,
        num_random_init=restarts,
        batch_size=batch_size,
        verbose=False,
    )
    return attack.generate(x=x, y=y)


def image_classifier(
    model: nn.Module, *, shape: tuple[int, ...], num_classes: int, device: torch.device
) -> PyTorchClassifier:
    """The same model taking (N, C, H, W) images: ART's Square attack needs that shape."""
    wrapped = nn.Sequential(nn.Flatten(), model).eval()
    for p in wrapped.parameters():
        p.requires_grad_(False)
    return SlicingClassifier(
        model=wrapped,
        loss=nn.CrossEntropyLoss(),
        input_shape=shape,
        nb_classes=num_classes,
        clip_values=(0.0, 1.0),
        preprocessing=None,
        device=device,
    )


def art_square(
    img_clf: PyTorchClassifier,
    x: np.ndarray,
    y: np.ndarray,
    *,
    eps: float,
    max_iter: int,
    restarts: int,
    batch_size: int,
    seed: int,
    norm: float = np.inf,
) -> np.ndarray:
    """ART's Square attack (gradient-free, score-based) on flat inputs of images; L-inf, or
    its L2 version (Andriushchenko et al. 2020) with norm=2."""
    np.random.seed(seed)  # Square draws its squares from numpy's global RNG
    attack = square_attack(
        img_clf, eps=eps, queries=max_iter, restarts=restarts, bs=batch_size, norm=norm
    )
    adv = attack.generate(x=x.reshape(len(x), *img_clf.input_shape), y=y)
    return np.ascontiguousarray(adv.reshape(len(x), -1), dtype=np.float32)


def square_attack(
    img_clf: PyTorchClassifier, *, eps: float, queries: int, restarts: int, bs: int, norm: float
) -> SquareAttack:
    """ART's Square attack as lilbench runs it (its one construction)."""
    return SquareAttack(
        img_clf,
        norm=norm,
        eps=float(eps),
        max_iter=queries,
        nb_restarts=restarts,
        batch_size=bs,
        verbose=False,
    )
