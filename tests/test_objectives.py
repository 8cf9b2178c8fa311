"""Training objectives: each loss equals a direct computation; adversarial training stays in
its ball; spectral normalisation holds; methods in suites are validated; old runs are reused."""

from __future__ import annotations

import json
import logging
import shutil
from pathlib import Path

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from helpers import assert_every_record_passed

from lilbench.attacks import art_backend as art
from lilbench.cli import main
from lilbench.data import Dataset
from lilbench.models import LILMLP, ModelSpec
from lilbench.objectives import OBJECTIVES
from lilbench.objectives.trades import kl_to
from lilbench.results.suite_results import collect_suite, run_suite
from lilbench.suites import load_suite
from lilbench.training.config import TrainConfig
from lilbench.training.pipeline import ensure_checkpoint
from lilbench.training.train import train

ROOT = Path(__file__).resolve().parents[1]
FIXTURE = ROOT / "tests" / "fixtures"


def _model(seed: int = 0, d: int = 20, classes: int = 4) -> LILMLP:
    torch.manual_seed(seed)
    return LILMLP(ModelSpec(input_dim=d, width=16, depth=2, num_classes=classes))


def _batch(n: int = 12, d: int = 20, classes: int = 4) -> tuple[torch.Tensor, torch.Tensor]:
    g = torch.Generator().manual_seed(1)
    return torch.rand(n, d, generator=g), torch.randint(0, classes, (n,), generator=g)


def test_registry_knows_every_objective_and_suggests() -> None:
    assert {"lil", "pgd-at", "trades", "jacobian"} <= set(OBJECTIVES.names())
    with pytest.raises(Exception, match="did you mean 'trades'"):
        OBJECTIVES.get("trade")


def test_lil_loss_equals_direct_computation() -> None:
    model, (x, y) = _model(), _batch()
    obj = OBJECTIVES.get("lil").from_dict({"beta": 0.7, "alpha": 0.5})
    parts = obj.loss(model, x, y[:, None])
    phi = model.features(x)
    ce = F.cross_entropy(model(x), y)
    d_phi, d_x = torch.cdist(phi, phi), torch.cdist(x, x)
    same = (y[:, None] == y[None, :]).float()
    iso = ((same * (d_phi - d_x)) ** 2).mean()
    assert torch.allclose(parts["ce"], ce)
    assert torch.allclose(parts["iso"], iso, rtol=1e-4)
    assert torch.allclose(parts["total"], 0.5 * ce + 0.7 * iso, rtol=1e-4)


def test_pgd_at_examples_stay_in_the_ball_and_the_loss_is_ce_there() -> None:
    model, (x, y) = _model(), _batch()
    obj = OBJECTIVES.get("pgd-at").from_dict({"eps": 0.1, "steps": 5})
    torch.manual_seed(4)
    adv = obj.perturb(model, x, y)  # type: ignore[attr-defined]
    assert float((adv - x).abs().max()) <= 0.1 + 1e-6
    assert float(adv.min()) >= 0.0 and float(adv.max()) <= 1.0
    assert float((adv - x).abs().max()) > 0.05  # it did move
    assert F.cross_entropy(model(adv), y) > F.cross_entropy(model(x), y)  # and it attacked
    torch.manual_seed(4)
    parts = obj.loss(model, x, y[:, None])
    assert torch.allclose(parts["total"], F.cross_entropy(model(adv), y))


def test_pgd_at_inner_attack_matches_arts_pgd() -> None:
    """From the clean point (no random start) lilbench's training PGD is ART's PGD."""
    model, (x, y) = _model(d=20), _batch(n=64)
    obj = OBJECTIVES.get("pgd-at").from_dict(
        {"eps": 0.1, "steps": 5, "step_size": 0.03, "random_start": False}
    )
    ours = obj.perturb(model, x, y).numpy()  # type: ignore[attr-defined]
    clf = art.make_classifier(model, input_dim=20, num_classes=4, device=torch.device("cpu"))
    theirs = art.art_pgd(
        clf,
        x.numpy(),
        y.numpy(),
        eps=0.1,
        step=0.03,
        steps=5,
        restarts=0,
        batch_size=64,
        seed=0,
    )
    assert np.abs(ours - theirs).max() < 1e-6


def test_trades_loss_equals_direct_computation() -> None:
    model, (x, y) = _model(), _batch()
    obj = OBJECTIVES.get("trades").from_dict({"beta_trades": 3.0, "eps": 0.2, "steps": 3})
    torch.manual_seed(5)
    parts = obj.loss(model, x, y[:, None])
    torch.manual_seed(5)
    adv = obj.perturb(model, x)  # type: ignore[attr-defined]
    assert float((adv - x).abs().max()) <= 0.2 + 1e-6 and float(adv.min()) >= 0
    p = F.softmax(model(x), dim=1)
    q = F.softmax(model(adv), dim=1)
    kl = (p * (p.log() - q.log())).sum(1).mean()
    ce = F.cross_entropy(model(x), y)
    assert torch.allclose(parts["kl"], kl, atol=1e-6) and float(kl.detach()) > 0
    assert torch.allclose(parts["total"], ce + 3.0 * kl, atol=1e-6)
    # The inner maximisation maximises: from its random start (drawn from the same seed)
    # the KL grows by orders of magnitude; a loop that does nothing or descends stays put.
    torch.manual_seed(5)
    start = x + 0.001 * torch.randn_like(x)
    kl_start = (p * (p.log() - F.softmax(model(start), dim=1).log())).sum(1).mean()
    kl, kl_start = kl.detach(), kl_start.detach()
    assert float(kl) > 100 * float(kl_start) and float(kl) > 1e-3, (float(kl), float(kl_start))
    # With small steps the direction shows: the ascent beats a random corner of the same ball
    # several times over (a loop that descends ends far below it: measured 4.6e-6 vs 2.9e-5).
    small = OBJECTIVES.get("trades").from_dict({"eps": 0.05, "steps": 10})
    torch.manual_seed(5)
    adv = small.perturb(model, x)  # type: ignore[attr-defined]
    torch.manual_seed(9)
    corner = (x + 0.05 * torch.sign(torch.randn_like(x))).clamp(0, 1)
    with torch.no_grad():
        clean_log = F.log_softmax(model(x), dim=1)
        ascent = float(kl_to(clean_log, model(adv)))
        at_random = float(kl_to(clean_log, model(corner)))
    assert ascent > 5 * at_random, (ascent, at_random)


def test_spectral_norm_bounds_every_layer_after_training(mnist: Dataset) -> None:
    config = TrainConfig(spectral_norm=True, limit=3000, epochs=1, width=32, depth=2)
    model = train(config, mnist).model.eval()
    layers = [m for m in model.modules() if isinstance(m, torch.nn.Linear)]
    assert len(layers) == 3
    for layer in layers:
        sigma = float(torch.linalg.matrix_norm(layer.weight.detach(), ord=2))
        assert sigma <= 1.01, sigma
    # Without it the same training goes above 1, so the bound above is not vacuous.
    plain = train(TrainConfig(limit=3000, epochs=1, width=32, depth=2), mnist).model
    norms = [
        float(torch.linalg.matrix_norm(m.weight.detach(), ord=2))
        for m in plain.modules()
        if isinstance(m, torch.nn.Linear)
    ]
    assert max(norms) > 1.1


def test_objective_checkpoint_round_trip(tmp_path: Path) -> None:
    config = TrainConfig(
        objective="pgd-at", objective_params={"eps": 0.05, "steps": 2}, limit=500, epochs=1
    )
    trained = ensure_checkpoint(config, runs_dir=tmp_path)
    assert trained.checkpoint.config.label() == "pgd-at eps=0.05"
    assert "final_adv_ce" in trained.checkpoint.metrics
    # Leaving out a default and writing it name the same checkpoint.
    again = TrainConfig(
        objective="pgd-at",
        objective_params={"eps": 0.05, "steps": 2, "random_start": True},
        limit=500,
        epochs=1,
    )
    assert ensure_checkpoint(again, runs_dir=tmp_path).reused


def cli(args: list[str], capsys: pytest.CaptureFixture[str]) -> tuple[int, str]:
    with pytest.raises(SystemExit) as exc:
        main(args)
    return int(exc.value.code or 0), capsys.readouterr().err


@pytest.mark.parametrize(
    ("methods", "key", "says"),
    [
        ("[{objective: pgd-att, eps: 0.1}]", "methods[0].objective", "did you mean 'pgd-at'"),
        ("[{objective: pgd-at, epsilon: 0.1}]", "methods[0].epsilon", "unknown key for pgd-at"),
        ("[{objective: trades, beta_trades: [1, -1]}]", "methods[0]", "beta_trades"),
        ("[{objective: jacobian, lambda_jr: '1e-3'}]", "methods[0]", "lambda_jr"),
        ("[{objective: lil, spectral_norm: 1}]", "methods[0].spectral_norm", "true or false"),
        ("{objective: lil}", "methods", "non-empty list"),
    ],
)
def test_bad_methods_exit_2_naming_file_and_key(
    methods: str, key: str, says: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    suite = tmp_path / "bad.yaml"
    suite.write_text(f"name: bad\nmethods: {methods}\nattacks: []\n")
    code, err = cli(["run", str(suite), "--runs-dir", str(tmp_path / "runs")], capsys)
    assert code == 2
    line = " ".join(err.split())
    assert f"{suite}: {key}:" in line and says in line, err
    assert not (tmp_path / "runs").exists()  # nothing was computed or written


def test_bad_objective_options_exit_2(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    runs = str(tmp_path / "runs")
    code, err = cli(["train", "--objective", "pgd-at", "--beta", "1", "--runs-dir", runs], capsys)
    needle = "--beta is a parameter of gaussian-aug, lil, not of pgd-at"
    assert code == 2 and needle in " ".join(err.split())
    code, err = cli(["train", "--objective", "pgd-at", "--eps", "2", "--runs-dir", runs], capsys)
    assert code == 2 and "eps" in err
    code, err = cli(["train", "--objective", "tradez", "--runs-dir", runs], capsys)
    assert code == 2 and "did you mean 'trades'" in err
    assert not (tmp_path / "runs").exists()


def test_runs_directory_of_an_earlier_version_is_reused(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """A runs directory written by lilbench before objectives existed (commit cd70a6b, layout
    1: results keyed by the weights file's SHA-256): every checkpoint and record is found,
    adopted under its tensor-hash key with a note, and nothing is trained or attacked."""
    runs = tmp_path / "runs"
    shutil.copytree(FIXTURE / "old-runs", runs)
    old = {p.name: json.loads(p.read_text()) for p in runs.glob("attacks/*/*.json")}
    suite = load_suite(FIXTURE / "old-runs-suite.yaml")
    with caplog.at_level(logging.INFO, logger="lilbench"):
        results, missing = collect_suite(suite, runs_dir=runs)
    assert missing == []
    notes = [r.getMessage() for r in caplog.records if r.name == "lilbench.store"]
    assert sum("migrated" in n and ".json ->" in n for n in notes) == 4  # every record, once
    assert sum("meta.json: added" in n for n in notes) == 2  # every checkpoint, once
    new = {p.name: json.loads(p.read_text()) for p in runs.glob("attacks/*/*.json")}
    assert len(new) == 4 and not set(new) & set(old)  # renamed, none left behind
    for rec in old.values():  # the same numbers under the new names
        ident = (rec["created"], rec["attack"], rec["checkpoint"]["config_hash"])
        twin = [
            r
            for r in new.values()
            if (r["created"], r["attack"], r["checkpoint"]["config_hash"]) == ident
        ]
        assert len(twin) == 1
        # migrated to the per-image rule too: no image of these records was wrong unperturbed
        # and correct at the returned point, so the numbers stay and the rule says so
        assert twin[0]["rule"] == "clean-and-attacked"
        assert [p.pop("rule_removed") for p in twin[0]["points"]] == [0] * len(rec["points"])
        assert twin[0]["points"] == rec["points"]
    before = {p: p.stat().st_mtime_ns for p in runs.rglob("*") if p.is_file()}
    reused: list[bool] = []
    run_suite(suite, runs_dir=runs, on_item=lambda _what, was_reused: reused.append(was_reused))
    assert reused == [True] * 6
    after = {p: p.stat().st_mtime_ns for p in runs.rglob("*") if p.is_file()}
    assert after == before  # migrated once: not a file added or rewritten by the second use
    assert [r.label for r in results] == ["0", "1"]
    point = results[1].completed_attacks()["fgsm"].points[0]
    assert point.accuracy == pytest.approx(point.correct / 50)


def test_frontier_keeps_exactly_the_undominated_settings() -> None:
    from lilbench.reports.pareto import ParetoPoint, frontier
    from lilbench.results.stats import estimate

    def pt(label: str, clean: float, robust: float) -> ParetoPoint:
        return ParetoPoint(label, "x", estimate([clean]), estimate([robust]))

    a, b, c, d = pt("a", 0.99, 0.01), pt("b", 0.97, 0.80), pt("c", 0.96, 0.70), pt("d", 0.90, 0.85)
    assert [p.label for p in frontier([a, b, c, d])] == ["d", "b", "a"]  # c is beaten by b


def test_methods_suite_end_to_end_report_with_pareto_plot(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    suite = tmp_path / "tiny-defences.yaml"
    suite.write_text(
        "name: tiny-defences\n"
        "train: {epochs: 1, limit: 600, width: 16, depth: 1}\n"
        "methods:\n"
        "  - {objective: lil, beta: [0, 1]}\n"
        "  - {objective: pgd-at, eps: 0.1, steps: 2}\n"
        "seeds: [0, 1]\n"
        "test_limit: 40\n"
        "attacks:\n"
        "  - {name: fgsm, eps: [0.05, 0.1]}\n"
        "  - {name: autoattack, eps: [0.05, 0.1]}\n"
    )
    runs, out = str(tmp_path / "runs"), tmp_path / "reports"
    assert cli(["run", str(suite), "--runs-dir", runs], capsys)[0] == 0
    assert assert_every_record_passed(Path(runs)) > 0
    code, _ = cli(["report", str(suite), "--runs-dir", runs, "--out-dir", str(out)], capsys)
    assert code == 0
    text = (out / "tiny-defences.md").read_text()
    assert "| method | seeds |" in text and "| pgd-at eps=0.1 | 2 |" in text
    assert "on the frontier" in text and "The most robust LIL setting is lil beta=" in text
    png = (out / "tiny-defences-pareto.png").read_bytes()
    assert png[:8] == b"\x89PNG\r\n\x1a\n" and len(png) > 10_000


def test_holm_matches_a_hand_worked_example() -> None:
    from lilbench.results.stats import holm, paired_p_value

    # Sorted: 0.005 x 4 = 0.02; 0.01 x 3 = 0.03; 0.03 x 2 = 0.06; 0.04 x 1 -> kept at 0.06.
    assert holm([0.01, 0.04, 0.03, 0.005]) == pytest.approx([0.03, 0.06, 0.06, 0.02])
    assert holm([0.5, 0.9]) == pytest.approx([1.0, 1.0])
    assert paired_p_value([0.01, 0.012, 0.011]) < 0.01
    assert paired_p_value([0.01, -0.01, 0.002]) > 0.5
