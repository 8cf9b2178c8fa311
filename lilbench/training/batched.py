"""Several LIL MLPs trained in one pass: the beta grid of a suite as one stacked computation.

Models that share data, architecture, seed (so initial weights and batch order), epochs,
batch size and learning rate, and differ only in the LIL objective's alpha, beta, mode or k,
are trained together: each layer's weights are stacked on a leading model axis and applied
with one batched matrix product, the input distances D_x are computed once per batch, and the
losses are summed over models, so each model's parameters receive exactly their own gradient
(d(sum)/d(theta_i) = d(loss_i)/d(theta_i)). Every model keeps its own parameter tensors and
Adam state; Adam works tensor by tensor, so a model's update never sees another's.

A model's weights must not depend on which models trained beside it. The batched kernels
compute each model's slice with the same operations whatever the stack's size (tested: one
model alone and the same model in a stack of several give the same weights bit for bit), and
`train` sends every batchable config through this path, one model or many, so that a model
trained by `lilbench train` and the same model trained inside a suite's batch are identical.
"""

from __future__ import annotations

import math
import time
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from typing import TYPE_CHECKING, Any

from lilbench.errors import ConfigError
from lilbench.lazy import lazy_module

if TYPE_CHECKING:
    import torch
    import torch.nn.functional as F

    from lilbench.data import Dataset
else:
    torch = lazy_module("torch")
    F = lazy_module("torch.nn.functional")

from lilbench.training.common import (
    Progress,
    TrainingDiverged,
    TrainResult,
    build_model,
    level_metrics,
    levels_of,
    seed_everything,
)
from lilbench.training.config import LIL_KEYS, TrainConfig

# What may differ between the models of one batch: the LIL objective's parameters, less the
# distance metric (the loss below is written for the Euclidean one).
VARYING = tuple(k for k in LIL_KEYS if k != "metric")


def batch_key(config: TrainConfig) -> tuple[Any, ...] | None:
    """Configs with equal keys train together; None: this config trains on its own (the
    batched pass is written for the LIL objective and a family that says it can share it)."""
    config = config.normalised()
    if config.objective != "lil" or not config.family.batchable(config.params):
        return None
    shared = {k: v for k, v in asdict(config).items() if k not in VARYING}
    return tuple(sorted((k, repr(v)) for k, v in shared.items()))


def group_configs(configs: Sequence[TrainConfig]) -> list[list[int]]:
    """Indices of `configs` in batches (a batchable config with the others of its key, in the
    order given; every other config alone)."""
    groups: dict[Any, list[int]] = {}
    out: list[list[int]] = []
    for i, config in enumerate(configs):
        key = batch_key(config)
        if key is None:
            out.append([i])
        elif key in groups:
            groups[key].append(i)
        else:
            groups[key] = [i]
            out.append(groups[key])
    return out


@dataclass
class _Stack:
    """Per-model parameter tensors, layer by layer: weights[l][m] is model m's layer l."""

    weights: list[list[torch.Tensor]]
    biases: list[list[torch.Tensor]]

    def parameters(self) -> list[torch.Tensor]:
        return [p for layer in (*self.weights, *self.biases) for p in layer]


def _activation(name: str) -> Any:
    return {"tanh": torch.tanh, "relu": torch.relu}[name]


def _forward(
    stack: _Stack, x: torch.Tensor, models: int, activation: str
) -> tuple[torch.Tensor, torch.Tensor]:
    """(logits [M, B, C], phi [M, B, width]) for every model on the same inputs x [B, d]."""
    act = _activation(activation)
    # The first layer model by model: a batched product over the 784 input pixels rounds
    # differently with the stack's size (measured), a plain one per model does not.
    h = act(
        torch.stack(
            [F.linear(x, w, b) for w, b in zip(stack.weights[0], stack.biases[0], strict=True)]
        )
    )
    phi = h
    last = len(stack.weights) - 1
    for layer in range(1, last + 1):
        w = torch.stack(stack.weights[layer])  # [M, out, in]; backward: each its own slice
        b = torch.stack(stack.biases[layer])
        h = torch.baddbmm(b.unsqueeze(1), h, w.transpose(1, 2))
        if layer < last:
            h = act(h)
            phi = h
    return h, phi


def _masks(y: torch.Tensor, modes: Sequence[str]) -> torch.Tensor:
    """G per model [M, B, B] (or [1, B, B], broadcast, when all models use the same one):
    same-class pairs (local; also for beta = 0, whose L_iso is only reported) or all pairs
    (global)."""
    local = (y[:, None] == y[None, :]).to(torch.float32)
    if all(m != "global" for m in modes):
        return local.unsqueeze(0)
    full = torch.ones_like(local)
    return torch.stack([full if m == "global" else local for m in modes])


def train_batch(
    configs: Sequence[TrainConfig],
    data: Dataset,
    *,
    device: torch.device | str = "cpu",
    progress: Sequence[Progress | None] | None = None,
) -> list[TrainResult | Exception]:
    """Train every config (all with one batch key) in one pass; per config, its result, or
    the TrainingDiverged error of a model whose loss became NaN or infinite (the others train
    on unaffected: their gradients never mix)."""

    configs = [c.validate().normalised() for c in configs]
    if not configs:
        return []
    keys = {batch_key(c) for c in configs}
    if None in keys or len(keys) != 1:
        raise ConfigError("train_batch takes LIL MLP configs that differ only in alpha/beta/mode/k")
    data.check_trainable()
    first = configs[0]
    device = torch.device(device)
    m_count = len(configs)
    models = []
    for config in configs:
        seed_everything(config.seed)  # each model starts from exactly its single-run weights
        models.append(build_model(config, data).to(device))
    linears = [[*mdl.body[::2], mdl.head] for mdl in models]  # type: ignore[index]
    stack = _Stack(
        weights=[
            [linears[m][i].weight.detach().clone().requires_grad_(True) for m in range(m_count)]
            for i in range(len(linears[0]))
        ],
        biases=[
            [linears[m][i].bias.detach().clone().requires_grad_(True) for m in range(m_count)]
            for i in range(len(linears[0]))
        ],
    )
    # One Adam over all tensors: on the CPU it updates tensor by tensor (no foreach), so each
    # model's update is the arithmetic of a model trained alone.
    optimiser = torch.optim.Adam(stack.parameters(), lr=first.lr, fused=True)
    dtype = linears[0][0].weight.dtype  # float32, or float64 (the authors' preset)
    alpha = torch.tensor([c.alpha for c in configs], dtype=dtype, device=device)
    beta = torch.tensor([c.beta for c in configs], dtype=dtype, device=device)
    k = torch.tensor([c.k for c in configs], dtype=dtype, device=device)
    weights = _LossWeights(
        alpha, beta, k, [c.beta != 0.0 for c in configs], [c.mode for c in configs]
    )
    x_train = data.x_train[: first.limit].to(device, dtype)
    y_train = levels_of(data, "train")[: first.limit, -1].to(device)
    gen = torch.Generator().manual_seed(first.seed)
    n = len(x_train)
    batch_size = first.batch_size or n
    steps_per_epoch = -(-n // batch_size)
    total = steps_per_epoch * first.epochs
    hooks = list(progress) if progress is not None else [None] * m_count
    failed: dict[int, Exception] = {}
    sums: list[dict[str, float]] = [{} for _ in configs]
    start = time.perf_counter()
    done = 0
    for epoch in range(1, first.epochs + 1):
        order = torch.randperm(n, generator=gen).to(device)
        sums = [{} for _ in configs]
        for s in range(steps_per_epoch):
            idx = order[s * batch_size : (s + 1) * batch_size]
            x, y = x_train[idx], y_train[idx]
            total_m, ce, iso = _losses(stack, x, y, weights, first.model_params["activation"])
            optimiser.zero_grad(set_to_none=True)
            total_m.sum().backward()
            optimiser.step()
            values = torch.stack([total_m, ce, iso], dim=1).detach().tolist()
            for m, (tot, ce_m, iso_m) in enumerate(values):
                sums[m]["ce"] = sums[m].get("ce", 0.0) + ce_m
                sums[m]["iso"] = sums[m].get("iso", 0.0) + iso_m
                if not math.isfinite(tot) and m not in failed:
                    failed[m] = TrainingDiverged(
                        f"training diverged: the loss became {tot} at epoch {epoch}, step "
                        f"{s + 1}; nothing was saved (lower --lr?)"
                    )
            done += 1
            for m, hook in enumerate(hooks):
                if hook is not None and m not in failed:
                    hook(done, total, epoch, {k_: v / (s + 1) for k_, v in sums[m].items()})
    seconds = time.perf_counter() - start
    return _results(
        configs, models, linears, stack, data, device, failed, sums, steps_per_epoch, seconds, n
    )


@dataclass
class _LossWeights:
    """Per model: alpha, beta, k of the loss, whether L_iso sends gradients, its mode."""

    alpha: torch.Tensor
    beta: torch.Tensor
    k: torch.Tensor
    learns_iso: list[bool]
    modes: list[str]


def _losses(
    stack: _Stack, x: torch.Tensor, y: torch.Tensor, w: _LossWeights, activation: str
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Every model's loss on one batch: (alpha CE + beta L_iso, CE, L_iso), one per model."""
    from lilbench.objectives.isometry import _off_diagonal, euclidean_distances

    m_count = len(w.modes)
    logits, phi = _forward(stack, x, m_count, activation)
    b = len(y)
    ce = F.cross_entropy(logits.reshape(m_count * b, -1), y.repeat(m_count), reduction="none").view(
        m_count, b
    )
    ce = ce.mean(dim=1)
    # beta = 0: L_iso is reported but sends no gradient (as in the single-model loss).
    phi_iso = torch.stack(
        [p if learn else p.detach() for p, learn in zip(phi.unbind(0), w.learns_iso, strict=True)]
    )
    d_x = euclidean_distances(x)  # the same for every model: computed once
    d_phi = torch.cdist(phi_iso, phi_iso, compute_mode="use_mm_for_euclid_dist")
    d_phi = d_phi * _off_diagonal(b, d_phi.device, d_phi.dtype)
    g = _masks(y, w.modes).to(w.alpha.dtype)
    iso = ((g * (w.k[:, None, None] * d_phi - d_x)) ** 2).mean(dim=(1, 2))
    total_m = w.alpha * ce + w.beta * iso
    return total_m, ce, iso


def _results(
    configs: list[TrainConfig],
    models: list[torch.nn.Module],
    linears: list[list[torch.nn.Linear]],
    stack: _Stack,
    data: Dataset,
    device: torch.device,
    failed: dict[int, Exception],
    sums: list[dict[str, float]],
    steps_per_epoch: int,
    seconds: float,
    n: int,
) -> list[TrainResult | Exception]:
    """Each model's trained weights copied back from the stack, with its metrics (or the
    error of a model whose loss diverged)."""
    m_count = len(configs)
    results: list[TrainResult | Exception] = []
    for m, (config, model) in enumerate(zip(configs, models, strict=True)):
        if m in failed:
            results.append(failed[m])
            continue
        with torch.no_grad():
            for i, linear in enumerate(linears[m]):
                linear.weight.copy_(stack.weights[i][m])
                linear.bias.copy_(stack.biases[i][m])
        model.eval()
        metrics = {
            **level_metrics(model, data, device),
            **{f"final_{k_}": v / steps_per_epoch for k_, v in sums[m].items()},
            "diverged": sums[m].get("ce", 0.0) / steps_per_epoch > math.log(data.num_classes),
            # The batch's wall time, shared out: what this model cost.
            "train_seconds": seconds / m_count,
            "train_samples": n,
            "samples_per_second": n * config.epochs * m_count / seconds,
            "trained_in_batch_of": m_count,
        }
        results.append(TrainResult(model=model, metrics=metrics))
    return results
