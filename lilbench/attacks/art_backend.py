"""ART set up right: clip values, no preprocessing, fast batches, frozen weights.

Measured choices (see the benchmark): `preprocessing=None` (ART's identity default costs
10-18% of PGD), batch 1000 (ART's 32 is 2-3x slower), weights with requires_grad=False (ART's
`loss_gradient` calls backward(), which would otherwise also compute every weight gradient).
"""

from __future__ import annotations

from typing import Any

import numpy as np
import torch
from art.attacks import EvasionAttack
from art.attacks.evasion import (
    AutoAttack,
    AutoProjectedGradientDescent,
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


def fgsm_apply(x: torch.Tensor, signs: torch.Tensor, eps: float) -> torch.Tensor:
    """ART's FGSM arithmetic: x + eps * sign, clip to [0, 1], project onto the eps ball."""
    adv = (x + torch.tensor(eps, dtype=torch.float32) * signs).clamp(0.0, 1.0)
    return x + (adv - x).clamp(-eps, eps)


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


def linf_pgd_clean_start(
    clf: PyTorchClassifier,
    x: np.ndarray,
    y: np.ndarray,
    *,
    eps: float,
    step: float,
    steps: int,
    batch_size: int,
    clean_signs: torch.Tensor | None = None,
) -> np.ndarray:
    """ART's L-inf PGD from the clean input (`LinfPGD`, num_random_init=0), step for step in
    ART's own arithmetic, less its bookkeeping.

    Per step and batch, as ART: the gradient of ART's loss (the classifier's cross-entropy,
    mean over the batch) from ART's `loss_gradient`, NaN set to 0, its sign times the float32
    step, clipped to [0, 1] (min, then max), the change from the clean input clamped to
    [-eps, eps] and added back. ART also copies every batch through a DataLoader, checks for
    NaN twice, builds a ones-tensor per step and predicts the whole set twice to log a success
    rate: about 60% of its time here. A test checks the output is bit-identical to ART's.

    `clean_signs` (from `fgsm_gradient_signs` with the same batch size: the same gradient,
    batch for batch) replace the first step's gradient, which every step size of a sweep
    shares: one gradient pass in `steps` saved.
    """
    n = len(x)
    out = np.empty_like(x, dtype=np.float32)
    device = clf.device
    model, loss_fn = clf.model, clf._loss  # what ART's loss_gradient evaluates
    model.eval()
    lo, hi = (float(np.float32(v)) for v in clf.clip_values)
    # sign is -1, 0 or 1, so step * sign is exact and adding it rounds once, as in ART.
    step32 = float(np.float32(step))
    for i in range(0, n, batch_size):
        x0 = torch.from_numpy(np.ascontiguousarray(x[i : i + batch_size], dtype=np.float32))
        x0 = x0.to(device)
        labels = torch.from_numpy(y[i : i + batch_size].astype(np.int64)).to(device)
        adv = x0.clone()
        for k in range(steps):
            if k == 0 and clean_signs is not None:
                signs = clean_signs[i : i + batch_size].to(device)
            else:
                xg = adv.detach().requires_grad_(True)
                (grad,) = torch.autograd.grad(loss_fn(model(xg), labels), xg)
                signs = grad.nan_to_num_(nan=0.0).sign_()
            adv = adv.add_(signs, alpha=step32).clamp_(lo, hi)
            adv = adv.sub_(x0).clamp_(-float(eps), float(eps)).add_(x0)
        out[i : i + batch_size] = adv.cpu().numpy()
    return out


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
    attack = _square(
        img_clf, eps=eps, queries=max_iter, restarts=restarts, bs=batch_size, norm=norm
    )
    adv = attack.generate(x=x.reshape(len(x), *img_clf.input_shape), y=y)
    return np.ascontiguousarray(adv.reshape(len(x), -1), dtype=np.float32)


def _square(
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


def _autoattack_apgd(
    img_clf: PyTorchClassifier,
    *,
    eps: float,
    batch_size: int,
    loss: str,
    targeted: bool = False,
    norm: float = np.inf,
) -> AutoProjectedGradientDescent:
    """An APGD member of AutoAttack: 100 iterations, one start, initial step 2 eps."""
    return AutoProjectedGradientDescent(
        img_clf,
        norm=norm,
        eps=eps,
        eps_step=2 * eps,
        max_iter=100,
        nb_random_init=1,
        batch_size=batch_size,
        loss_type=loss,
        targeted=targeted,
        verbose=False,
    )


def art_autoattack(
    img_clf: PyTorchClassifier,
    x: np.ndarray,
    y: np.ndarray,
    *,
    eps: float,
    batch_size: int,
    seed: int,
) -> np.ndarray:
    """ART's AutoAttack ensemble: APGD-CE, APGD-DLR and Square, worst case per example.

    Square needs image-shaped inputs, so every member runs on the image-shaped classifier.
    """
    np.random.seed(seed)
    members: list[EvasionAttack] = [
        _autoattack_apgd(img_clf, eps=eps, batch_size=batch_size, loss=loss)
        for loss in ("cross_entropy", "difference_logits_ratio")
    ]
    members.append(_square(img_clf, eps=eps, queries=1000, restarts=1, bs=batch_size, norm=np.inf))
    attack = AutoAttack(
        img_clf, norm=np.inf, eps=eps, eps_step=2 * eps, attacks=members, batch_size=batch_size
    )
    adv = attack.generate(x=x.reshape(len(x), *img_clf.input_shape), y=y)
    return np.ascontiguousarray(adv.reshape(len(x), -1), dtype=np.float32)


def art_autoattack_standard(
    img_clf: PyTorchClassifier,
    x: np.ndarray,
    y: np.ndarray,
    *,
    eps: float,
    batch_size: int,
    seed: int,
    targets: int = 9,
    square_queries: int = 5000,
    norm: float = np.inf,
) -> np.ndarray:
    """AutoAttack's standard version (L-inf, or L2 with norm=2) as far as ART has its
    members, in its order: APGD-CE, APGD-T (ART's APGD with the DLR loss, targeted, at each
    of the `targets` classes with the highest clean logits after the true one), then Square
    with 5,000 queries. ART has no FAB, so FAB-T is left out. Each member attacks only the
    images still classified correctly, and an image counts as broken only within eps (ART's
    `run_attack` checks both)."""
    from art.attacks.evasion.auto_attack import run_attack

    n, classes = len(x), img_clf.nb_classes
    np.random.seed(seed)  # APGD's random start and Square's squares draw from numpy's RNG
    adv = x.reshape(n, *img_clf.input_shape).copy()
    logits = img_clf.predict(adv, batch_size=batch_size)
    robust = logits.argmax(1) == y
    one_hot = np.eye(classes, dtype=np.float32)

    def apgd(loss: str, targeted: bool) -> AutoProjectedGradientDescent:
        return _autoattack_apgd(
            img_clf, eps=eps, batch_size=batch_size, loss=loss, targeted=targeted, norm=norm
        )

    def member(attack: object, labels: np.ndarray) -> None:
        nonlocal adv, robust
        if robust.any():
            adv, robust = run_attack(
                x=adv,
                y=one_hot[labels],
                sample_is_robust=robust,
                attack=attack,
                estimator_orig=img_clf,
                norm=norm,
                eps=eps,
            )

    member(apgd("cross_entropy", targeted=False), y)
    wrong = logits.copy()
    wrong[np.arange(n), y] = -np.inf
    order = np.argsort(-wrong, axis=1, kind="stable")  # most likely wrong classes first
    targeted = apgd("difference_logits_ratio", targeted=True)
    for k in range(min(targets, classes - 1)):
        member(targeted, order[:, k])
    member(
        _square(img_clf, eps=eps, queries=square_queries, restarts=1, bs=batch_size, norm=norm), y
    )
    return np.ascontiguousarray(adv.reshape(n, -1), dtype=np.float32)
