"""Certificates for convolutional networks: the dense maps equal the layers' Jacobians, every
method is sound (sampling and PGD never go below a bound), IBP equals ART's interval bounds
on a Conv2d/ReLU network, refusals name the layer, and `lilbench certify --model` certifies a
user's convolutional model end to end."""

from __future__ import annotations

import sys
import textwrap
from pathlib import Path

import numpy as np
import pytest
import torch
from helpers import cli
from torch import nn

from lilbench.certify import affine
from lilbench.certify.bounds import margins
from lilbench.certify.chain import Chain, margin_matrix
from lilbench.errors import ConfigError

SHAPE = (3, 8, 8)
D = 3 * 8 * 8


def _conv_net(seed: int, act: type[nn.Module] = nn.ReLU) -> nn.Sequential:
    """Conv, BatchNorm, act, AvgPool, strided Conv, act, Flatten, Linear, act, Linear."""
    torch.manual_seed(seed)
    net = nn.Sequential(
        nn.Conv2d(3, 6, 3, padding=1),
        nn.BatchNorm2d(6),
        act(),
        nn.AvgPool2d(2),
        nn.Conv2d(6, 8, 3, stride=2, padding=1),
        act(),
        nn.Flatten(),
        nn.Linear(8 * 2 * 2, 16),
        act(),
        nn.Linear(16, 4),
    )
    bn = net[1]
    assert isinstance(bn, nn.BatchNorm2d)
    with torch.no_grad():  # a trained batch norm: statistics and affine terms not trivial
        bn.running_mean.uniform_(-0.2, 0.2)
        bn.running_var.uniform_(0.5, 2.0)
        bn.weight.uniform_(0.5, 1.5)
        bn.bias.uniform_(-0.2, 0.2)
    return net.double().eval()


def _logits(net: nn.Module, x: torch.Tensor) -> torch.Tensor:
    return net(x.reshape(len(x), *SHAPE))


@pytest.mark.parametrize("act", [nn.ReLU, nn.Tanh])
def test_each_dense_map_is_the_runs_jacobian_and_the_chain_is_the_network(
    act: type[nn.Module],
) -> None:
    net = _conv_net(0, act)
    chain = Chain.from_layers(list(net), SHAPE)
    assert [tuple(w.shape) for w in chain.weights] == [(384, D), (32, 384), (16, 32), (4, 16)]
    # independently: the Jacobian of the first run (conv, batch norm) by autograd
    run = nn.Sequential(net[0], net[1])
    jac = torch.autograd.functional.jacobian(
        lambda v: run(v.reshape(1, *SHAPE)).reshape(-1), torch.zeros(D, dtype=torch.float64)
    )
    assert torch.allclose(chain.weights[0], jac, atol=1e-12)
    second = nn.Sequential(net[3], net[4])  # avg-pool then the strided conv: one map
    jac2 = torch.autograd.functional.jacobian(
        lambda v: second(v.reshape(1, 6, 8, 8)).reshape(-1), torch.zeros(384, dtype=torch.float64)
    )
    assert torch.allclose(chain.weights[1], jac2, atol=1e-12)
    x = torch.rand(16, D, dtype=torch.float64)
    assert torch.allclose(chain.forward(x), _logits(net, x), atol=1e-10)


def _pgd_min(net: nn.Module, x: torch.Tensor, y: torch.Tensor, eps: float) -> torch.Tensor:
    lo, hi = (x - eps).clamp(0, 1), (x + eps).clamp(0, 1)
    z = (lo + hi) / 2
    spec = margin_matrix(y, 4)
    for _ in range(40):
        z.requires_grad_(True)
        m = (spec @ _logits(net, z)[:, :, None])[..., 0]
        (g,) = torch.autograd.grad(m.min(1).values.sum(), z)
        z = torch.max(torch.min(z.detach() - eps / 8 * g.sign(), hi), lo)
    return (spec @ _logits(net, z)[:, :, None])[..., 0].detach()


@pytest.mark.parametrize("act", [nn.ReLU, nn.Tanh])
def test_no_sampled_or_attacked_point_goes_below_any_bound(act: type[nn.Module]) -> None:
    net = _conv_net(1, act)
    chain = Chain.from_layers(list(net), SHAPE)
    torch.manual_seed(2)
    x = torch.rand(12, D, dtype=torch.float64)
    with torch.no_grad():
        y = _logits(net, x).argmax(1)
    spec = margin_matrix(y, 4)
    for eps in (0.005, 0.02):
        bounds = {m: margins(m, chain, x, y, eps) for m in ("ibp", "crown", "alpha-crown")}
        assert (bounds["crown"] >= bounds["ibp"] - 1e-9).all()
        worst = _pgd_min(net, x, y, eps)
        with torch.no_grad():
            for _ in range(50):
                z = (x + (torch.rand_like(x) * 2 - 1) * eps).clamp(0, 1)
                worst = torch.minimum(worst, (spec @ _logits(net, z)[:, :, None])[..., 0])
        for name, low in bounds.items():
            assert (worst >= low - 1e-9).all(), (name, eps, float((worst - low).min()))
        # and the bound is not vacuous at the small radius: CROWN proves some margins
        if eps == 0.005:
            assert (bounds["crown"] > 0).any()


def test_ibp_equals_arts_interval_bounds_on_a_conv_relu_network() -> None:
    """ART's PyTorchIBPClassifier (Conv2D, Linear, ReLU) as the reference implementation:
    the same logit intervals, and the same certified images by its criterion."""
    from art.estimators.certification.interval import PyTorchIBPClassifier

    from lilbench.certify.inputs import interval
    from lilbench.certify.methods.base import Problem
    from lilbench.certify.methods.ibp import ibp_layer_bounds

    torch.manual_seed(3)
    net = nn.Sequential(
        nn.Conv2d(3, 4, 3, padding=1), nn.ReLU(), nn.Conv2d(4, 4, 3, stride=2), nn.ReLU(),
        nn.Flatten(), nn.Linear(4 * 3 * 3, 10), nn.ReLU(), nn.Linear(10, 4),
    ).eval()  # fmt: skip

    class NoFlatten(nn.Module):  # ART takes direct Conv2d, Linear and ReLU children only
        def __init__(self) -> None:
            super().__init__()
            for i, m in enumerate(net):
                if not isinstance(m, nn.Flatten):
                    self.add_module(f"m{i}", m)

        def forward(self, v: torch.Tensor) -> torch.Tensor:
            for i, m in enumerate(net):
                v = v.flatten(1) if isinstance(m, nn.Flatten) else getattr(self, f"m{i}")(v)
            return v

    x = torch.rand(30, D)
    with torch.no_grad():
        y = _logits(net, x).argmax(1)
    eps = 0.045
    art = PyTorchIBPClassifier(
        model=NoFlatten().eval(),
        loss=nn.CrossEntropyLoss(),
        input_shape=SHAPE,
        nb_classes=4,
        clip_values=(0.0, 1.0),
        device_type="cpu",
    )
    theirs = art.predict_intervals(x.reshape(-1, *SHAPE).numpy(), bounds=eps, limits=[0.0, 1.0])
    chain = Chain.from_layers(list(net), SHAPE)
    from lilbench.certify.bounds import problem

    prob: Problem = problem(chain, x, y, eps)
    pre = ibp_layer_bounds(prob)
    act = chain.activations[-1]
    lo, hi = interval(
        chain.weights[-1], chain.biases[-1], act.apply(pre[-1][0]), act.apply(pre[-1][1])
    )
    assert np.allclose(lo.numpy(), theirs[:, 0], atol=1e-4) and np.allclose(
        hi.numpy(), theirs[:, 1], atol=1e-4
    )
    ours = (
        np.argmax(np.where(np.eye(4, dtype=bool)[y.numpy()], lo.numpy(), hi.numpy()), 1)
        == y.numpy()
    )
    assert np.array_equal(ours, art.certify(theirs, y.numpy()))
    assert 0 < ours.sum() < len(ours)  # the radius separates: the comparison is not vacuous


def test_unsupported_layers_and_oversized_maps_are_refused_by_name(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    with pytest.raises(
        ConfigError,
        match="cannot bound a MaxPool2d layer; certificates pass through Linear, Conv2d",
    ):
        Chain.from_layers(
            [nn.Conv2d(3, 4, 3), nn.ReLU(), nn.MaxPool2d(2), nn.Flatten(), nn.Linear(36, 2)], SHAPE
        )
    with pytest.raises(
        ConfigError, match="give the input shape of a network that starts with Conv2d"
    ):
        Chain.from_layers([nn.Conv2d(3, 4, 3), nn.ReLU(), nn.Flatten(), nn.Linear(144, 2)])
    monkeypatch.setattr(affine, "MAX_BYTES", 1000)
    with pytest.raises(ConfigError, match=r"Conv2d as one dense map would take .* \(384 x 192\)"):
        Chain.from_layers(
            [nn.Conv2d(3, 6, 3, padding=1), nn.ReLU(), nn.Flatten(), nn.Linear(384, 2)], SHAPE
        )


FACTORY = """
import torch
from torch import nn


def build() -> nn.Module:
    return nn.Sequential(
        nn.Conv2d(3, 6, 3, padding=1), nn.BatchNorm2d(6), nn.ReLU(), nn.AvgPool2d(2),
        nn.Flatten(), nn.Linear(6 * 4 * 4, 16), nn.ReLU(), nn.Linear(16, 3),
    )
"""


def test_certify_takes_a_users_convolutional_model_end_to_end(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    from safetensors.torch import save_file

    (tmp_path / "usernet.py").write_text(textwrap.dedent(FACTORY))
    monkeypatch.syspath_prepend(str(tmp_path))
    sys.modules.pop("usernet", None)
    import usernet  # type: ignore[import-not-found]

    torch.manual_seed(0)
    model = usernet.build().eval()
    save_file(model.state_dict(), str(tmp_path / "w.safetensors"))
    rng = np.random.default_rng(0)
    x = rng.random((60, 8, 8, 3)).astype(np.float32)
    y = rng.integers(0, 3, 60)  # certified only where the model is right
    np.savez(tmp_path / "d.npz", x_test=x, y_test=y, num_classes=3)
    args = [
        "certify", "--model", "usernet:build", "--weights", str(tmp_path / "w.safetensors"),
        "--dataset", f"file:{tmp_path / 'd.npz'}", "--eps", "0.001,0.01", "--method", "ibp,crown",
        "--runs-dir", str(tmp_path / "runs"), "--json",
    ]  # fmt: skip
    code, out, err = cli(args, capsys)
    assert code == 0, err
    import json

    rec = json.loads(out)
    assert all(c["passed"] for c in rec["checks"]), rec["checks"]
    got = {(p["method"], p["eps"]): p["certified"] for p in rec["points"]}
    assert got[("crown", 0.001)] >= got[("ibp", 0.001)] and got[("crown", 0.001)] > 0
    assert got[("crown", 0.01)] <= got[("crown", 0.001)] <= 60


def test_the_conv_familys_pool_keeps_max_pool_hashes_and_avg_pool_certifies() -> None:
    from lilbench.certify.spec import refuse_uncertifiable
    from lilbench.training.config import TrainConfig

    old = TrainConfig.for_dataset("cifar10", conv="small")
    same = TrainConfig.for_dataset("cifar10", conv="small", pool="max")
    avg = TrainConfig.for_dataset("cifar10", conv="small", pool="avg")
    assert old.config_hash() == same.config_hash() != avg.config_hash()
    assert "pool" not in old.to_dict() and avg.to_dict()["model_params"]["pool"] == "avg"
    assert TrainConfig.from_dict(avg.to_dict()).config_hash() == avg.config_hash()
    with pytest.raises(ConfigError, match="max-pooling has no relaxation here"):
        refuse_uncertifiable(old)
    refuse_uncertifiable(avg)  # no refusal


def test_crown_on_a_network_too_wide_for_this_machine_is_refused_before_it_starts(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from lilbench.certify import runner
    from lilbench.certify.spec import CertifySpec

    net = _conv_net(0)

    class Wrapped(nn.Module):
        input_shape = SHAPE

        def layers(self) -> list[nn.Module]:
            return list(net)

        def forward(self, v: torch.Tensor) -> torch.Tensor:
            return _logits(net, v.double())

    x, y = torch.rand(4, D), torch.zeros(4, dtype=torch.long)
    spec = CertifySpec(eps=(0.01,), methods=("ibp", "crown"))
    monkeypatch.setattr(runner, "MAX_CROWN_WORK", 1e3)
    with pytest.raises(
        ConfigError,
        match=r"crown would bound every hidden neuron backward: about .* for 4 images",
    ):
        runner.certify_model(Wrapped(), spec, x, y)
    ibp_only = CertifySpec(eps=(0.01,), methods=("ibp",))
    assert runner.certify_model(Wrapped(), ibp_only, x, y).passed


def test_the_mechanism_table_says_n_a_where_the_norm_product_bounds_nothing() -> None:
    """A conv model's product of linear-layer norms is NaN by design (it bounds nothing):
    the table says so in words, and the trend test leaves that quantity out."""
    import math

    from lilbench.diagnostics import spectral_norm_product
    from lilbench.reports.mechanism import _cell

    assert math.isnan(spectral_norm_product(_conv_net(0)))
    assert _cell([float("nan"), float("nan")]) == "n/a (convolutions)"
    assert _cell([0.5]) == "0.5000"
