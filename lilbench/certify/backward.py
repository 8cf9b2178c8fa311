"""The backward pass of linear relaxation (CROWN, Zhang et al. 2018), written once: a linear
function of one layer's output, pushed back through every affine map and every activation's
lines to the input set, gives a sound lower bound. Per-neuron lines (CROWN) and per-row lines
(alpha-CROWN) go through the same loop."""

from __future__ import annotations

from typing import TYPE_CHECKING

from lilbench.certify.chain import Chain
from lilbench.certify.inputs import InputSet
from lilbench.certify.relax import Lines
from lilbench.lazy import lazy_module

if TYPE_CHECKING:
    import torch
else:
    torch = lazy_module("torch")


def lower(
    chain: Chain,
    spec: torch.Tensor,
    top: int,
    lines: list[Lines],
    inputs: InputSet,
    spec_bias: torch.Tensor | None = None,
) -> torch.Tensor:
    """Lower bounds [N, m] of spec @ z_top + spec_bias, z_top the output of affine layer
    `top` (0-based), spec [N, m, width_top]; lines[i] relaxes activation i (i < top)."""
    bias = spec @ chain.biases[top]
    if spec_bias is not None:
        bias = bias + spec_bias
    return through(chain, spec @ chain.weights[top], bias, top, lines, inputs)


def through(
    chain: Chain,
    a: torch.Tensor,
    bias: torch.Tensor,
    layer: int,
    lines: list[Lines],
    inputs: InputSet,
) -> torch.Tensor:
    """Lower bounds of a . h + bias, h the input of affine layer `layer` (the input set's
    points when `layer` is 0)."""
    for i in range(layer - 1, -1, -1):
        relax = lines[i].rows()
        pos, neg = a.clamp_min(0), a.clamp_max(0)
        bias = bias + lines[i].offset(pos, neg)
        a = pos * relax.a_lo + neg * relax.a_up  # now on the output of affine layer i
        bias = bias + a @ chain.biases[i]
        if i == 0:  # the first layer's product happens where the input set is concretised
            return inputs.low(a, bias, chain.weights[0])
        a = a @ chain.weights[i]
    return inputs.low(a, bias)


def both_sides(
    chain: Chain, top: int, lines: list[Lines], inputs: InputSet
) -> tuple[torch.Tensor, torch.Tensor]:
    """Lower and upper bounds of every neuron of z_top: the rows +e_j and -e_j in one pass
    (the upper bound is minus the lower bound of -z)."""
    w, b = chain.weights[top], chain.biases[top]
    n, width = len(inputs.x0), w.shape[0]
    rows, signs = torch.cat([w, -w]), torch.cat([b, -b])
    # rows in chunks, so that the widest [N, rows, width] tensor stays near CHUNK_BYTES
    widest = max(int(v.shape[1]) for v in chain.weights[: top + 1])
    step = max(1, CHUNK_BYTES // max(1, 8 * n * widest))
    parts = [
        through(
            chain,
            rows[i : i + step].expand(n, -1, -1),
            signs[i : i + step].expand(n, -1),
            top,
            lines,
            inputs,
        )
        for i in range(0, 2 * width, step)
    ]
    low = torch.cat(parts, dim=1)
    return low[:, :width], -low[:, width:]


CHUNK_BYTES = 512 * 1024**2


def layer_bound_work(chain: Chain, n: int) -> float:
    """Multiply-adds of CROWN's backward passes for every hidden layer's bounds on n images
    (both sides of every neuron, back through every earlier map)."""
    total = 0.0
    for top in range(1, len(chain.activations)):
        maps = sum(float(w.shape[0] * w.shape[1]) for w in chain.weights[:top])
        total += n * 2 * float(chain.weights[top].shape[0]) * maps
    return total
