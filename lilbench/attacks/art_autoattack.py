"""ART's AutoAttack, as lilbench runs it under `engine: art`: ART's own ensemble (`version:
art`: APGD-CE, APGD-DLR and Square) and the standard version as far as ART has its members
(APGD-CE, APGD-T, Square; no FAB-T). Its one user is `attacks/autoattack.py`."""

from __future__ import annotations

import numpy as np
from art.attacks import EvasionAttack
from art.attacks.evasion import AutoAttack, AutoProjectedGradientDescent
from art.estimators.classification import PyTorchClassifier

from lilbench.attacks.art_backend import square_attack


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
    members.append(
        square_attack(img_clf, eps=eps, queries=1000, restarts=1, bs=batch_size, norm=np.inf)
    )
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
        square_attack(
            img_clf, eps=eps, queries=square_queries, restarts=1, bs=batch_size, norm=norm
        ),
        y,
    )
    return np.ascontiguousarray(adv.reshape(n, -1), dtype=np.float32)
