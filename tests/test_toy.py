from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch
import torch.nn.functional as F

import lilbench
from lilbench.cli import main
from lilbench.data import load_dataset
from lilbench.data.toy import make_rings, make_torus
from lilbench.diagnostics import jacobian_spectral_norms, lipschitz_sampled
from lilbench.models import StackedLIL, StackedSpec
from lilbench.objectives.isometry import isometry_error
from lilbench.training.config import TrainConfig
from lilbench.training.pipeline import ensure_checkpoint
from lilbench.training.train import train


def test_dataset_shapes() -> None:
    rings, torus = load_dataset("rings"), load_dataset("torus")
    assert rings.x_train.shape == (750, 3) and rings.x_test.shape == (250, 3)
    assert rings.num_classes == 2 and torch.bincount(rings.y_train).min() > 300
    assert torus.x_train.shape == (1200, 3) and torus.x_test.shape == (400, 3)
    assert torus.level_classes == [2, 4, 8] and torus.num_classes == 8
    assert torus.levels_test is not None and torus.levels_test.shape == (400, 3)
    # The torus radii: distance from the tube's centre circle is r = 0.33 (+ noise 1e-3).
    x = torch.cat([torus.x_train, torus.x_test]).double()
    ring = (x[:, :2].norm(dim=1) - 0.67) ** 2 + x[:, 2] ** 2
    assert torch.allclose(ring.sqrt(), torch.full_like(ring, 0.33), atol=0.01)


def test_torus_labels_nest() -> None:
    levels = make_torus().levels_train
    assert levels is not None
    for lv in range(1, levels.shape[1]):
        for fine in torch.unique(levels[:, lv]):
            coarse = torch.unique(levels[levels[:, lv] == fine, lv - 1])
            assert len(coarse) == 1, f"level {lv} class {int(fine)} spans {coarse.tolist()}"


def test_generation_is_seeded() -> None:
    a, b, c = make_rings(seed=4), make_rings(seed=4), make_rings(seed=5)
    assert torch.equal(a.x_train, b.x_train) and torch.equal(a.y_test, b.y_test)
    assert not torch.equal(a.x_train, c.x_train)
    assert torch.equal(make_torus(seed=1).x_test, make_torus(seed=1).x_test)
    assert a.checksum == b.checksum != c.checksum


@pytest.mark.parametrize("detach", [True, False])
def test_gradient_isolation_between_blocks(detach: bool) -> None:
    torch.manual_seed(0)
    model = StackedLIL(StackedSpec(input_dim=3, level_classes=(2, 4, 8), detach=detach)).train()
    data = make_torus()
    assert data.levels_train is not None
    before = [p.detach().clone() for p in model.blocks.parameters()]
    opt = torch.optim.SGD(model.parameters(), lr=0.1)
    out = model.levels(data.x_train)[1]  # a step on level 1's loss only
    F.cross_entropy(out.logits, data.levels_train[:, 1]).backward()
    opt.step()

    def changed(block: int) -> bool:
        params = list(model.blocks[block].parameters())
        offset = sum(len(list(model.blocks[i].parameters())) for i in range(block))
        return any(not torch.equal(p, before[offset + i]) for i, p in enumerate(params))

    assert changed(1)
    assert not changed(2)  # later blocks never feed level 1
    assert changed(0) is (not detach)


def test_lipschitz_of_a_linear_map_is_its_spectral_norm() -> None:
    g = torch.Generator().manual_seed(0)
    a = torch.randn(5, 7, generator=g, dtype=torch.float64)
    sigma = float(torch.linalg.matrix_norm(a, ord=2))
    x = torch.randn(50, 7, generator=g, dtype=torch.float64)
    jac = jacobian_spectral_norms(lambda v: v @ a.T, x)
    assert torch.allclose(jac, torch.full_like(jac, sigma), rtol=1e-10)
    sampled = lipschitz_sampled(lambda v: v @ a.T, x, radius=0.01, pairs_per_point=40)
    assert sampled <= sigma * (1 + 1e-9) and sampled > 0.5 * sigma


def test_isometry_error_of_a_rotation_is_zero() -> None:
    g = torch.Generator().manual_seed(1)
    x = torch.randn(40, 3, generator=g, dtype=torch.float64)
    q, _ = torch.linalg.qr(torch.randn(3, 3, generator=g, dtype=torch.float64))
    y = torch.randint(0, 3, (40,), generator=g)
    assert isometry_error(x, x @ q, y) < 1e-12
    assert isometry_error(x, x @ q, torch.zeros_like(y)) < 1e-12
    assert isometry_error(x, 1.5 * x @ q, y) == pytest.approx(0.5)


def test_stacked_checkpoint_round_trips(tmp_path: Path) -> None:
    cfg = TrainConfig.for_dataset("torus", beta=1.0, hierarchy=True, epochs=5)
    trained = ensure_checkpoint(cfg, runs_dir=tmp_path)
    assert len(trained.checkpoint.metrics["level_accuracy"]) == 3
    model = lilbench.load_model(trained.checkpoint.path)
    assert isinstance(model, StackedLIL) and not model.training
    again = train(cfg, load_dataset("torus")).model.eval()
    x = load_dataset("torus").x_test
    assert torch.equal(model(x), again(x)) and model(x).shape == (400, 8)


def test_toy_attack_and_inspect_via_cli(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    args = ["train", "--dataset", "rings", "--epochs", "20", "--runs-dir", str(tmp_path), "--json"]
    with pytest.raises(SystemExit):
        main(args)
    path = json.loads(capsys.readouterr().out)["checkpoint"]
    with pytest.raises(SystemExit) as exc:
        main(["inspect", path, "--out-dir", str(tmp_path / "insp"), "--json"])
    assert exc.value.code == 0
    summary = json.loads(capsys.readouterr().out)
    assert summary["embedding"] in ("PCA", "UMAP") and summary["jacobian_spectral_norm_max"] > 0
    for name in ("distances.png", "embedding.png", "inspect.json"):
        assert (tmp_path / "insp" / name).stat().st_size > 0
    # the values are a record in the checkpoint's runs directory, and served from it: a
    # changed value there is what a second inspect prints (nothing recomputed)
    (record,) = (tmp_path / "diagnostics").glob("*/inspect-*.json")
    rec = json.loads(record.read_text())
    assert rec["values"]["summary"]["jacobian_spectral_norm_max"] == pytest.approx(
        summary["jacobian_spectral_norm_max"]
    )
    rec["values"]["summary"]["jacobian_spectral_norm_max"] = 123.0
    record.write_text(json.dumps(rec))
    with pytest.raises(SystemExit):
        main(["inspect", path, "--out-dir", str(tmp_path / "insp"), "--json"])
    assert json.loads(capsys.readouterr().out)["jacobian_spectral_norm_max"] == 123.0
    with pytest.raises(SystemExit):  # another seed is another record
        main(["inspect", path, "--out-dir", str(tmp_path / "insp"), "--json", "--seed", "1"])
    assert json.loads(capsys.readouterr().out)["jacobian_spectral_norm_max"] != 123.0
    assert len(list((tmp_path / "diagnostics").glob("*/inspect-*.json"))) == 2
    # The [0, 1]-clipped attacks refuse non-image data in one line.
    with pytest.raises(SystemExit) as exc:
        main(["attack", "fgsm", "--checkpoint", path, "--runs-dir", str(tmp_path)])
    err = capsys.readouterr().err
    assert exc.value.code == 2 and "not images" in err and len(err.strip().splitlines()) == 1


def test_rings_claim_after_a_short_training(tmp_path: Path) -> None:
    """Figure 2B's claim at a quarter of the training (500 full-batch epochs, measured: both
    models at accuracy 1.0, isometry error 0.064 with L_iso vs 0.63 without); the paper's full
    settings, torus included, run with --runslow."""
    plain, lil = (
        ensure_checkpoint(TrainConfig.for_dataset("rings", beta=b, epochs=500), runs_dir=tmp_path)
        for b in (0.0, 1.0)
    )
    for t in (plain, lil):
        assert t.checkpoint.metrics["clean_test_accuracy"] >= 0.99
    iso_plain = plain.checkpoint.metrics["test_isometry_error"]
    iso_lil = lil.checkpoint.metrics["test_isometry_error"]
    assert iso_lil <= iso_plain / 4, (iso_lil, iso_plain)


@pytest.mark.slow
def test_paper_claims_rings_and_torus(tmp_path: Path) -> None:
    """Figure 2B (rings) and Section 3.4 (torus) with the paper's toy settings (about 3 min on
    2 cores: behind --runslow)."""
    runs = tmp_path
    plain = ensure_checkpoint(TrainConfig.for_dataset("rings", beta=0.0), runs_dir=runs)
    lil = ensure_checkpoint(TrainConfig.for_dataset("rings", beta=1.0), runs_dir=runs)
    for t in (plain, lil):
        assert t.checkpoint.metrics["clean_test_accuracy"] >= 0.99
    iso_plain = plain.checkpoint.metrics["test_isometry_error"]
    iso_lil = lil.checkpoint.metrics["test_isometry_error"]
    assert iso_lil <= iso_plain / 4, (iso_lil, iso_plain)
    torus = ensure_checkpoint(
        TrainConfig.for_dataset("torus", beta=100.0, hierarchy=True), runs_dir=runs
    )
    assert min(torus.checkpoint.metrics["level_accuracy"]) >= 0.99


RINGS_SUITE = """\
name: tiny-rings
dataset: rings
train: {epochs: 20}
betas: [0, 1]
seeds: [0]
inspect: true
"""


def test_a_suite_computes_the_diagnostics_and_its_report_draws_them_from_the_records(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    (tmp_path / "s.yaml").write_text(RINGS_SUITE)
    runs, out = tmp_path / "runs", tmp_path / "out"
    with pytest.raises(SystemExit) as exc:
        main(["run", str(tmp_path / "s.yaml"), "--runs-dir", str(runs), "--workers", "1"])
    assert exc.value.code in (0, None)
    assert "done   inspect beta=1 seed=0" in capsys.readouterr().err
    records = sorted((runs / "diagnostics").glob("*/inspect-*.json"))
    assert len(records) == 2  # computed by the run, one per model
    for record in records:  # a value changed in the record is what the report shows
        rec = json.loads(record.read_text())
        rec["values"]["summary"]["isometry_error_within_class"] = 7.25
        record.write_text(json.dumps(rec))
    with pytest.raises(SystemExit) as exc:
        main(["report", str(tmp_path / "s.yaml"), "--runs-dir", str(runs), "--out-dir", str(out)])
    assert exc.value.code in (0, None)
    text = (out / "tiny-rings.md").read_text()
    assert text.count("| 7.25 |") == 2
    assert (out / "tiny-rings-beta1-seed0-distances.png").read_bytes()[:4] == b"\x89PNG"
