"""The indicators of attack failure (Pintor et al. 2022): each fires on a model or run built
for it and is quiet on the paper MLP."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from torch import nn

import lilbench
from lilbench.attacks import FGSM, AutoAttackSpec
from lilbench.attacks.apgd import APGD
from lilbench.attacks.checks import unpack_mask
from lilbench.attacks.indicators import point_indicators
from lilbench.attacks.kernels.common import Trace, incomplete
from lilbench.attacks.model_checks import check_deterministic
from lilbench.attacks.runner import AttackOutcome, run_attack
from lilbench.data import Dataset
from lilbench.training.pipeline import Trained

N = 60


def _run(model: nn.Module, spec: object, mnist: Dataset, n: int = N) -> AttackOutcome:
    x, y = mnist.x_test[:n], mnist.y_test[:n]
    return run_attack(model, spec.validate(), x, y, num_classes=10, seed=0)  # type: ignore[attr-defined]


def _fired(outcome: AttackOutcome) -> dict[str, int]:
    """How many images each indicator flags, over the run's points and its own."""
    n = outcome.n
    counts: dict[str, int] = {}
    for p in outcome.points:
        for name, bits in (p.indicators or {}).items():
            counts[name] = counts.get(name, 0) + int(unpack_mask(bits, n).sum())
    unstable = outcome.indicators["unstable-predictions"]["bits"]
    counts["unstable-predictions"] = int(unpack_mask(unstable, n).sum())
    if "unconstrained-failure" in outcome.indicators:
        counts["unconstrained-failure"] = outcome.indicators["unconstrained-failure"]["unbroken"]
    return counts


class Rounded(nn.Module):
    """The model on its inputs rounded to 1/4: piecewise constant, so every gradient is 0."""

    def __init__(self, inner: nn.Module) -> None:
        super().__init__()
        self.inner = inner

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.inner(torch.round(x * 4) / 4)


class Noisy(nn.Module):
    """Noise added to the logits of every forward pass."""

    def __init__(self, inner: nn.Module) -> None:
        super().__init__()
        self.inner = inner

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out: torch.Tensor = self.inner(x)
        return out + 3.0 * torch.randn_like(out)


class MeanThreshold(nn.Module):
    """Class by mean brightness: 0 below 0.5, 1 above, with a margin no small eps crosses
    (MNIST's means are near 0.13), broken once the ball covers the cube."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        m = x.reshape(len(x), -1).mean(1, keepdim=True)
        z = 20 * (m - 0.5)
        return torch.cat([-z, z, torch.zeros(len(x), 8, dtype=x.dtype)], 1)


def test_the_paper_mlp_fires_no_indicator(paper_model: Trained, mnist: Dataset) -> None:
    model = lilbench.load_model(paper_model.checkpoint.path)
    for spec in (APGD(eps=(0.03, 0.1)), FGSM(eps=(0.1,))):
        counts = _fired(_run(model, spec, mnist))
        assert counts and not any(counts.values()), (spec, counts)


def test_a_zero_gradient_model_fires_unavailable_gradients(
    small_model: Trained, mnist: Dataset
) -> None:
    model = Rounded(lilbench.load_model(small_model.checkpoint.path))
    counts = _fired(_run(model, APGD(eps=(0.03,)), mnist))
    assert counts["unavailable-gradients"] > 0
    assert counts["silent-success"] == counts["transfer-failure"] == 0


def test_a_noisy_model_fires_unstable_predictions_and_the_two_pass_flag(
    small_model: Trained, mnist: Dataset
) -> None:
    model = Noisy(lilbench.load_model(small_model.checkpoint.path)).eval()
    torch.manual_seed(0)
    counts = _fired(_run(model, FGSM(eps=(0.03,)), mnist))
    assert counts["unstable-predictions"] > 0
    assert not check_deterministic(model, mnist.x_test[:10]).passed


def test_an_attack_stopped_after_two_steps_fires_incomplete_optimisation(
    small_model: Trained, mnist: Dataset
) -> None:
    model = lilbench.load_model(small_model.checkpoint.path)
    counts = _fired(_run(model, APGD(eps=(0.03,), max_iter=2), mnist))
    assert counts["incomplete-optimisation"] > 0
    assert counts["unavailable-gradients"] == counts["silent-success"] == 0


def test_silent_success_and_transfer_failure_from_their_masks() -> None:
    trace = Trace(4)
    trace.add(
        torch.tensor([0, 1, 2]),
        adversarial=torch.tensor([True, True, False]),
        zero_gradient=torch.tensor([False, False, False]),
        incomplete=torch.tensor([False, False, False]),
    )
    robust = np.array([True, False, True, False])  # image 0 robust at the returned point
    clean = np.array([True, True, True, False])
    # image 2: ART's path says adversarial, the model's own pass says correct
    flags = point_indicators(
        trace,
        robust=robust,
        clean=clean,
        attack_adversarial=np.array([False, True, True, True]),
        model_correct=np.array([True, False, True, False]),
    )
    assert unpack_mask(flags["silent-success"], 4).tolist() == [True, False, False, False]
    assert unpack_mask(flags["transfer-failure"], 4).tolist() == [False, False, True, False]
    quiet = point_indicators(
        None,
        robust=robust,
        clean=clean,
        attack_adversarial=~robust,
        model_correct=robust,
    )
    assert (
        set(quiet) == {"transfer-failure"} and not unpack_mask(quiet["transfer-failure"], 4).any()
    )


def test_incomplete_reads_the_running_best_curve() -> None:
    flat = [torch.tensor([1.0, 1.0])] * 12
    rising = [torch.tensor([float(k), 0.0]) for k in range(12)]  # row 0 still climbing
    settled = [torch.tensor([min(k, 1.0), 0.0]) for k in range(12)]  # reached its best early
    assert incomplete(flat, maximise=True).tolist() == [False, False]
    assert incomplete(rising, maximise=True).tolist() == [True, False]
    assert incomplete(settled, maximise=True).tolist() == [False, False]
    # minimised (targeted APGD): a falling curve is the improving one
    assert incomplete([-t for t in rising], maximise=False).tolist() == [True, False]


@pytest.mark.parametrize(
    "spec", [FGSM(eps=(0.03,)), APGD(eps=(0.03,)), AutoAttackSpec(eps=(0.03,))]
)
def test_unconstrained_failure_is_zero_for_a_model_only_a_wide_ball_breaks(
    spec: object, mnist: Dataset
) -> None:
    outcome = _run(MeanThreshold(), spec, mnist, n=40)
    assert outcome.points[0].correct == outcome.clean_correct > 0  # no small eps breaks it
    found = outcome.indicators["unconstrained-failure"]
    assert found["images"] == outcome.clean_correct and found["unbroken"] == 0


def test_the_answer_rests_its_masking_wording_on_the_indicators() -> None:
    from lilbench.reports.prose import answer

    def text(indicators: tuple[int, int, list[str]] | None) -> str:
        return answer(
            {"apgd-ce": ("at eps = 0.1", [], [])},
            {"apgd-ce": (0.0, "1", "0.0 [-1.0, 1.0]", "0.0 [-1.0, 1.0]")},
            lambda s: f"beta = {s}",
            "beta",
            strong="apgd-ce",
            single=None,
            masking=[True, True],
            indicators=indicators,
        )

    quiet = text((2, 0, []))
    assert "no indicator of unusable gradients" in quiet and "no model hides" in quiet
    fired = text((2, 1, ["unavailable-gradients"]))
    assert "no model hides" not in fired
    assert "fire on 1 of 2 models (unavailable gradients)" in fired
    old = text(None)
    assert "rests on the Square comparison alone" in old


def test_unavailable_means_every_run_and_zero_dlr_is_its_own_flag() -> None:
    from lilbench.attacks.kernels.apgd import dlr_loss

    # ART's targeted DLR is constant (1) where the target is the third-largest logit
    z = torch.tensor([[0.2, 10.6, 2.7, 2.6, -1.0]], requires_grad=True)
    (g,) = torch.autograd.grad(dlr_loss(z, torch.tensor([3])).sum(), z)
    assert float(dlr_loss(z, torch.tensor([3]))) == pytest.approx(1.0) and not g.any()
    trace = Trace(3)
    rows = torch.tensor([0, 1])
    no = torch.tensor([False, False])
    trace.add(rows, adversarial=no, zero_gradient=torch.tensor([True, False]), incomplete=no)
    trace.add(
        rows,
        adversarial=no,
        zero_gradient=torch.tensor([True, True]),
        incomplete=no,
        loss="dlr",
    )
    assert trace.unavailable.tolist() == [True, False, False]  # image 1 had a CE gradient
    assert trace.zero_dlr.tolist() == [True, True, False]


def test_point_flags_read_each_eps_and_the_runs_own_indicators() -> None:
    """What the per-image export and the report read from a record: the point's flags at
    their eps, the run's own at every eps (unconstrained failure over the images it probed,
    never for a one-step attack), the first definition of unavailable gradients left out."""
    from helpers import attack_record

    from lilbench.attacks.checks import pack_mask
    from lilbench.results.per_image import point_flags

    n = 6
    silent = pack_mask(np.array([0, 1, 0, 0, 0, 0], dtype=bool))
    none = pack_mask(np.zeros(n, dtype=bool))
    first_images = pack_mask(np.array([1, 0, 0], dtype=bool))
    points = [
        {"eps": 0.1, "n": n, "indicators": {"silent-success": silent, "zero-dlr-gradient": none}},
        {"eps": 0.2, "n": n, "indicators": {"silent-success": none, "zero-dlr-gradient": none}},
    ]
    run = {"unconstrained-failure": {"bits": first_images, "images_probed": 3}}
    rec = attack_record({"samples": {"n": n}, "points": points, "indicators": run})
    flags = point_flags(rec)
    assert np.flatnonzero(flags[0.1]["silent-success"]).tolist() == [1]
    assert not flags[0.2]["silent-success"].any()
    for eps in (0.1, 0.2):  # the run's flag is the image's at every eps, over all n images
        assert np.flatnonzero(flags[eps]["unconstrained-failure"]).tolist() == [0]
        assert len(flags[eps]["unconstrained-failure"]) == n
    assert "unconstrained-failure" not in point_flags(rec, one_step=True)[0.1]
    # a record from before zero DLR gradients were told apart: its unavailable bits are not
    # the indicator
    early = [
        {
            "eps": 0.1,
            "n": n,
            "indicators": {"silent-success": none, "unavailable-gradients": silent},
        }
    ]
    old = attack_record({"samples": {"n": n}, "points": early, "indicators": {}})
    assert "unavailable-gradients" not in point_flags(old)[0.1]
    assert point_flags(attack_record({"points": early})) == {}  # no indicators recorded
    # a step sweep: two points at one eps, each flagging another image; both are kept
    other = pack_mask(np.array([0, 0, 1, 0, 0, 0], dtype=bool))
    steps = [
        {"eps": 0.5, "step": s, "n": n, "indicators": {"transfer-failure": b}}
        for s, b in ((0.1, silent), (0.2, other))
    ]
    swept = attack_record({"sweep": "step", "samples": {"n": n}, "points": steps, "indicators": {}})
    assert np.flatnonzero(point_flags(swept)[0.5]["transfer-failure"]).tolist() == [1, 2]


def test_unstable_predictions_are_shared_only_for_the_same_weights_and_images() -> None:
    """Issue 48: a model's FGSM and PGD records share one computation of the indicator; the
    memo is keyed by the weights, images, labels and seed, so another model never gets it."""
    import torch
    from torch import nn

    from lilbench.attacks import indicators as ind

    torch.manual_seed(0)
    a, b = nn.Linear(12, 3), nn.Linear(12, 3)
    x, y = torch.rand(20, 12), torch.randint(0, 3, (20,))
    first = ind.shared_unstable_predictions(a, x, y, seed=0)
    assert (first == ind.unstable_predictions(a, x, y, seed=0)).all()
    first[:] = -1  # the caller's copy: the memo keeps its own
    assert (ind.shared_unstable_predictions(a, x, y, seed=0) >= 0).all()
    assert not np.array_equal(
        ind.shared_unstable_predictions(b, x, y, seed=0), ind.unstable_predictions(a, x, y, seed=0)
    )
    with torch.no_grad():
        a.weight.add_(1.0)  # the same module, other weights: computed again
    assert (
        ind.shared_unstable_predictions(a, x, y, seed=0)
        == ind.unstable_predictions(a, x, y, seed=0)
    ).all()


def test_scheduling_a_suite_does_not_import_art() -> None:
    """Issue 48: the process that schedules a suite (and reads records) never loads ART; the
    workers load it when an attack runs."""
    import subprocess
    import sys

    code = (
        "import sys, lilbench.cli.suite, lilbench.results.suite_results, lilbench.results.records;"
        "print('art' in sys.modules)"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"
