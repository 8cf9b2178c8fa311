from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import oracles as ref
import pytest
import torch
from art.attacks.evasion import ProjectedGradientDescent

import lilbench
from lilbench.attacks import FGSM, PGD
from lilbench.attacks import art_backend as art
from lilbench.attacks import checks as C
from lilbench.attacks.base import AttackContext
from lilbench.attacks.grids import PAPER_GRID, parse_grid
from lilbench.attacks.kernels import art_steps
from lilbench.attacks.runner import run_attack
from lilbench.cli import main
from lilbench.data import Dataset
from lilbench.errors import ConfigError
from lilbench.models import LILMLP, ModelSpec
from lilbench.results.attack_runs import ensure_attack
from lilbench.training.checkpoint import save_checkpoint
from lilbench.training.config import TrainConfig
from lilbench.training.pipeline import Trained


def _model(trained: Trained) -> torch.nn.Module:
    return lilbench.load_model(trained.checkpoint.path)


def _clf(model: torch.nn.Module) -> art.PyTorchClassifier:
    return art.make_classifier(model, input_dim=784, num_classes=10, device=torch.device("cpu"))


def test_paper_grid_is_logspace() -> None:
    assert len(PAPER_GRID) == 10 and PAPER_GRID[0] == pytest.approx(0.01)
    assert PAPER_GRID[-1] == pytest.approx(1.0)
    assert parse_grid("0.01:1:10", what="eps") == pytest.approx(PAPER_GRID)


def test_fgsm_sweep_equals_stock_art_fgsm_and_the_reference(
    small_model: Trained, mnist: Dataset
) -> None:
    model = _model(small_model)
    clf = _clf(model)
    x, y = mnist.x_test[:1500], mnist.y_test[:1500]  # 1500: a partial last batch too
    xn, yn = x.numpy(), y.numpy()
    signs = art.fgsm_gradient_signs(clf, xn, yn, 1000)
    for eps in (*PAPER_GRID[::3], 0.5):
        stock = art.art_fgsm(clf, xn, yn, eps, 1000)
        swept = art_steps.fgsm_apply(x, signs, eps).numpy()
        assert np.array_equal(stock, swept), f"eps={eps}"
        assert np.array_equal(stock, ref.fgsm(model, x, y, eps, batch_size=1000).numpy())


def test_fast_pgd_equals_stock_art_pgd_and_the_reference(
    small_model: Trained, mnist: Dataset
) -> None:
    model = _model(small_model)
    clf = _clf(model)
    x, y = mnist.x_test[:600], mnist.y_test[:600]
    for step in (0.01, 0.1, 0.6):
        kwargs = dict(
            norm=np.inf,
            eps=0.3,
            eps_step=step,
            max_iter=5,
            num_random_init=0,
            batch_size=250,
            verbose=False,
        )
        stock = ProjectedGradientDescent(clf, **kwargs).generate(x.numpy(), y.numpy())
        fast = art.art_pgd(
            clf,
            x.numpy(),
            y.numpy(),
            eps=0.3,
            step=step,
            steps=5,
            restarts=0,
            batch_size=250,
            seed=0,
        )
        mine = ref.pgd(model, x, y, eps=0.3, step=step, steps=5, batch_size=250)
        assert np.array_equal(stock, fast)
        assert np.array_equal(fast, mine.numpy())


def _matches_the_reference(paper: Trained, data: Dataset, runs: Path, limit: int | None) -> None:
    """Per-eps accuracies on the first `limit` test images (None: all 10,000) equal the
    reference's."""
    model = _model(paper)
    n = limit or len(data.y_test)
    x, y = data.x_test[:n], data.y_test[:n]
    fgsm = ensure_attack(paper.checkpoint, FGSM(), runs_dir=runs, limit=limit).record.dump()
    assert fgsm["samples"]["n"] == n and fgsm["passed"], fgsm["checks"]
    for p in fgsm["points"]:
        acc = ref.accuracy(model, ref.fgsm(model, x, y, p["eps"]), y)
        assert abs(acc - p["accuracy"]) <= 1e-4
    pgd = ensure_attack(paper.checkpoint, PGD(), runs_dir=runs, limit=limit).record.dump()
    assert [p["step"] for p in pgd["points"]] == pytest.approx(PAPER_GRID)
    for p in pgd["points"][:4]:  # the reference PGD is the slow part; 4 of 10 step sizes
        adv = ref.pgd(model, x, y, eps=0.5, step=p["step"], steps=10)
        assert abs(ref.accuracy(model, adv, y) - p["accuracy"]) <= 1e-4
    assert pgd["passed"], pgd["checks"]
    # An L-inf ball of 0.5 erases MNIST digits: PGD at a good step size leaves ~nothing.
    assert min(p["accuracy"] for p in pgd["points"]) < 0.01


def test_paper_model_matches_the_reference_on_a_subset(
    paper_model: Trained, mnist: Dataset, session_runs: Path
) -> None:
    """The fast form (RobustBench's way): the first 2,000 test images."""
    _matches_the_reference(paper_model, mnist, session_runs, 2000)


@pytest.mark.slow
def test_paper_model_full_test_set_matches_the_reference(
    paper_model: Trained, mnist: Dataset, session_runs: Path
) -> None:
    """The issue's claim: per-eps accuracies on all 10,000 test images equal the reference's."""
    _matches_the_reference(paper_model, mnist, session_runs, None)


def test_records_are_cached_and_force_reruns(small_model: Trained, tmp_path: Path) -> None:
    spec = FGSM(eps=(0.05, 0.2))
    first = ensure_attack(small_model.checkpoint, spec, runs_dir=tmp_path, limit=300)
    assert not first.reused and first.path.is_file()
    on_disk = json.loads(first.path.read_text())
    assert on_disk["clean"]["correct"] == first.record.clean.correct
    assert first.record.dump() == on_disk  # the typed record gives back what was written
    assert {"lilbench", "art", "torch", "numpy"} <= set(on_disk["versions"])
    again = ensure_attack(small_model.checkpoint, spec, runs_dir=tmp_path, limit=300)
    assert again.reused and again.record == first.record
    forced = ensure_attack(small_model.checkpoint, spec, runs_dir=tmp_path, limit=300, force=True)
    assert not forced.reused
    assert [p.correct for p in forced.record.points] == [p.correct for p in first.record.points]


def _point(eps: float, correct: int, **kw: object) -> C.PointResult:
    base = dict(
        eps=eps,
        step=eps,
        n=100,
        correct=correct,
        recomputed_correct=correct,
        max_linf=eps,
        min_value=0.0,
        max_value=1.0,
        finite=True,
    )
    return C.PointResult(**{**base, **kw})  # type: ignore[arg-type]


def test_each_check_can_fail() -> None:
    good = [_point(0.1, 50), _point(0.2, 40)]
    assert C.check_bounds(good).passed
    assert not C.check_bounds([_point(0.1, 50, max_linf=0.1 + 1e-5)]).passed
    assert not C.check_bounds([_point(0.1, 50, min_value=-0.01)]).passed
    assert not C.check_bounds([_point(0.1, 50, max_value=1.01)]).passed
    assert not C.check_bounds([_point(0.1, 50, finite=False)]).passed
    assert C.check_eps_zero(True, 90, 90, 100).passed
    assert not C.check_eps_zero(False, 90, 90, 100).passed
    assert not C.check_eps_zero(True, 89, 90, 100).passed
    assert C.check_below_clean(good, 60).passed
    assert not C.check_below_clean(good, 45).passed
    assert C.check_monotone_in_eps(good).passed
    assert not C.check_monotone_in_eps([_point(0.1, 40), _point(0.2, 41)]).passed
    assert C.check_recomputed(good).passed
    assert not C.check_recomputed([_point(0.1, 50, recomputed_correct=51)]).passed


def test_a_broken_attack_is_caught(
    small_model: Trained, mnist: Dataset, monkeypatch: pytest.MonkeyPatch
) -> None:
    # An FGSM that forgets to clip to [0, 1] and to the eps ball must fail the bounds check.
    monkeypatch.setattr(art_steps, "fgsm_apply", lambda x, s, eps: x + 1.5 * eps * s)
    outcome = run_attack(
        _model(small_model),
        FGSM(eps=(0.1, 0.3)),
        mnist.x_test[:300],
        mnist.y_test[:300],
        num_classes=10,
    )
    failed = {c.name for c in outcome.checks if not c.passed}
    assert "within eps and [0, 1], finite" in failed and not outcome.passed


def test_strict_exits_1_on_a_failed_check(
    small_model: Trained,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    monkeypatch.setattr(art_steps, "fgsm_apply", lambda x, s, eps: x + 1.5 * eps * s)
    args = [
        "attack",
        "fgsm",
        "--checkpoint",
        str(small_model.checkpoint.path),
        "--eps",
        "0.2",
        "--test-limit",
        "200",
        "--runs-dir",
        str(tmp_path),
    ]
    with pytest.raises(SystemExit) as exc:
        main([*args, "--strict"])
    assert exc.value.code == 1
    assert "FAIL" in capsys.readouterr().out


@pytest.mark.parametrize(
    "extra, needle",
    [
        (["fgsm", "--eps", "1.5"], "eps must lie in [0, 1]"),
        (["fgsm", "--eps", "-0.1"], "eps must lie in [0, 1]"),
        (["fgsm", "--eps-grid", "0.01:2:5"], "eps must lie in [0, 1]"),
        (["fgsm", "--eps-grid", "0.01-1"], "START:STOP:NUM"),
        (["pgd", "--step", "2"], "step size must lie in [0, 1]"),
        (["pgd", "--steps", "0"], "steps must be >= 1"),
        (["pgd", "--restarts", "-1"], "restarts"),
        (["carlini"], "known: apgd, apgd-search, autoattack, fgsm, pgd, square"),
        (["fgsm", "--test-limit", "0"], "test limit must be >= 1"),
        (["fgsm", "--limit", "10"], "--limit is ambiguous"),
        (["apgd-search", "--eps", "0.1", "--levels", "-1"], "levels >= 0"),
        (["apgd-search", "--eps", "0,0.1"], "smallest and largest eps > 0"),
        (["apgd", "--levels", "3"], "No such option: --levels"),
    ],
)
def test_bad_attack_input_is_one_line_exit_2(
    extra: list[str],
    needle: str,
    small_model: Trained,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    args = ["attack", *extra]
    if extra[0] in ("fgsm", "pgd", "apgd", "apgd-search"):
        args += ["--checkpoint", str(small_model.checkpoint.path), "--runs-dir", str(tmp_path)]
    with pytest.raises(SystemExit) as exc:
        main(args)
    captured = capsys.readouterr()
    assert exc.value.code == 2 and captured.out == ""
    assert len(captured.err.strip().splitlines()) == 1 and needle in captured.err
    assert not (tmp_path / "attacks").exists()


def test_missing_corrupt_and_wrong_size_checkpoints_exit_2(
    tmp_path: Path, small_model: Trained, mnist: Dataset, capsys: pytest.CaptureFixture[str]
) -> None:
    runs = tmp_path / "runs"
    wrong = save_checkpoint(
        tmp_path / "other",
        LILMLP(ModelSpec(input_dim=3, width=4)),
        TrainConfig(limit=1),
        dataset_checksum=mnist.checksum,
        metrics={},
        device="cpu",
    )
    corrupt = tmp_path / "corrupt"
    corrupt.mkdir()
    (corrupt / "model.safetensors").write_bytes(b"not a safetensors file")
    for path, needle in (
        (tmp_path / "missing", "no checkpoint"),
        (corrupt, "corrupt"),
        (wrong.path, "size 3, not 784"),
    ):
        with pytest.raises(SystemExit) as exc:
            main(
                [
                    "attack",
                    "fgsm",
                    "--checkpoint",
                    str(path),
                    "--runs-dir",
                    str(runs),
                    "--test-limit",
                    "10",
                ]
            )
        err = capsys.readouterr().err
        assert exc.value.code == 2 and len(err.strip().splitlines()) == 1 and needle in err
    assert not (runs / "attacks").exists()


def test_pgd_eps_sweep_uses_the_madry_step_and_random_starts_are_seeded(
    small_model: Trained, mnist: Dataset
) -> None:
    spec = PGD(eps=(0.05, 0.1), step=None, steps=5, restarts=1).validate()
    assert [p.step for p in spec.points()] == pytest.approx([0.025, 0.05])
    model = _model(small_model)
    x, y = mnist.x_test[:300], mnist.y_test[:300]
    a = run_attack(model, spec, x, y, num_classes=10, seed=3)
    b = run_attack(model, spec, x, y, num_classes=10, seed=3)
    assert [p.correct_bits for p in a.points] == [p.correct_bits for p in b.points]
    assert a.passed, [c for c in a.checks if not c.passed]

    # The examples themselves: the seed drives the random start, and a restart is one.
    def examples(pgd: PGD, seed: int) -> torch.Tensor:
        ctx = AttackContext(_clf(model), x.numpy(), y.numpy(), seed=seed, batch_size=pgd.batch_size)
        return pgd.generate(ctx, pgd.points()[1], slice(None))

    same, other = examples(spec, 3), examples(spec, 4)
    assert torch.equal(same, examples(spec, 3))
    assert not torch.equal(same, other)
    clean_start = PGD(eps=(0.05, 0.1), step=None, steps=5, restarts=0).validate()
    assert not torch.equal(same, examples(clean_start, 3))
    assert torch.equal(examples(clean_start, 3), examples(clean_start, 4))  # no randomness
    for adv in (same, other):
        assert float((adv - x).abs().max()) <= 0.1 + 1e-6
    with pytest.raises(ConfigError, match="one eps"):
        PGD(eps=(0.1, 0.2), step=(0.01,)).validate()


def test_autoattack_versions_and_the_key_of_earlier_records() -> None:
    """ "standard" is a new key; "art" is the ensemble lilbench called autoattack before and
    keeps its records' key (no version in the parameters)."""
    from lilbench.attacks import AutoAttackSpec

    old = AutoAttackSpec(eps=(0.1,), version="art").validate()
    assert old.params() == {"name": "autoattack", "batch_size": 1000, "eps": [0.1]}
    new = AutoAttackSpec(eps=(0.1,)).validate()
    assert new.params()["version"] == "standard" and "apgd-t (9 targets)" in new.members
    with pytest.raises(ConfigError, match="unknown AutoAttack version"):
        AutoAttackSpec(eps=(0.1,), version="fab").validate()
