"""`lilbench certify`: certified accuracy (sound lower bounds) of a model, checked and cached."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

import typer
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

from lilbench.attacks.grids import parse_list
from lilbench.certify.methods import METHODS as REGISTRY
from lilbench.certify.spec import (
    DEFAULT_EPS,
    DEFAULT_METHODS,
    METHODS,
    CertifySpec,
)
from lilbench.cli.common import (
    RESERVED_OPTIONS,
    CheckpointOpt,
    DataDir,
    Force,
    Json,
    ModelOpt,
    RunsDir,
    Seed,
    Strict,
    TestLimit,
    WeightsOpt,
    err,
    out,
    print_json,
)
from lilbench.cli.model_choice import chosen_model
from lilbench.cli.options import with_training_options
from lilbench.errors import ConfigError
from lilbench.schemas import CertificateRecord
from lilbench.threats import keys as norm_keys
from lilbench.threats import threat
from lilbench.training.config import TrainConfig

EpsOpt = Annotated[
    str | None,
    typer.Option(
        "--eps",
        help=f"Comma-separated eps (default {','.join(map(str, DEFAULT_EPS))} in L-inf; "
        + "; ".join(
            f"{','.join(map(str, t.default_certify_eps))} in {t.label}"
            for t in map(threat, norm_keys()[1:])
        )
        + ").",
    ),
]
MethodOpt = Annotated[
    str | None,
    typer.Option(
        "--method",
        help="Comma-separated certificates: "
        + "; ".join(f"{m} ({REGISTRY.get(m).summary})" for m in METHODS)
        + f". Default {', '.join(DEFAULT_METHODS)}.",
    ),
]
NormOpt = Annotated[
    str,
    typer.Option(
        "--norm",
        help="The ball's norm: "
        + ", ".join(f"{k} ({threat(k).label})" for k in norm_keys())
        + "; the [0, 1] box always applies.",
    ),
]
BatchOpt = Annotated[int, typer.Option("--batch-size", help="Images bounded at once.")]
SigmaOpt = Annotated[
    float | None,
    typer.Option("--sigma", help="smoothing: the noise's standard deviation (required)."),
]
DrawsOpt = Annotated[
    int, typer.Option("--draws", help="smoothing: draws counted per image (Cohen's n).")
]
Draws0Opt = Annotated[
    int, typer.Option("--draws0", help="smoothing: draws that pick the top class (n0).")
]
AlphaOpt = Annotated[
    float, typer.Option("--alpha", help="smoothing: the certificate's failure probability.")
]
RadiiOpt = Annotated[
    str | None,
    typer.Option("--radii", help="smoothing: L2 radii to report certified accuracy at."),
]


@with_training_options(reserved=RESERVED_OPTIONS)
def certify(
    eps: EpsOpt = None,
    method: MethodOpt = None,
    checkpoint: CheckpointOpt = None,
    model: ModelOpt = None,
    weights: WeightsOpt = None,
    test_limit: TestLimit = None,
    batch_size: BatchOpt = 128,
    norm: NormOpt = "inf",
    sigma: SigmaOpt = None,
    draws: DrawsOpt = 100_000,
    draws0: Draws0Opt = 100,
    alpha: AlphaOpt = 0.001,
    radii: RadiiOpt = None,
    seed: Seed = 0,
    runs_dir: RunsDir = Path("runs"),
    data_dir: DataDir = None,
    force: Force = False,
    strict: Strict = False,
    json_out: Json = False,
    training: dict[str, Any] | None = None,
) -> None:
    """Certified accuracy per eps: the share of test images that no perturbation in the
    norm ball of that size (clipped to [0, 1]) can misclassify, proven by the Lipschitz
    margin, IBP, CROWN or alpha-CROWN.

    `--method smoothing` certifies the smoothed classifier instead (randomized smoothing,
    Cohen et al. 2019: --sigma, --draws, --draws0, --alpha, --radii): an L2 radius per image
    for any model, from Monte-Carlo counts.

    A lower bound on robust accuracy, where attacks give upper bounds. Runs on the CPU in
    float64. The model is chosen as for `lilbench attack` (training options, --checkpoint, or
    your own --model: an nn.Sequential of Linear, Conv2d, AvgPool2d, BatchNorm, Flatten and
    ReLU or Tanh layers, from a factory with --weights).
    """
    from lilbench.results.certificates import ensure_certificate
    from lilbench.runtime import pin_threads

    pin_threads()

    if method is not None and "smoothing" in [m.strip() for m in method.split(",")]:
        from lilbench.cli.smoothing_cmd import smoothing

        smoothing(
            method, sigma, draws, draws0, alpha, radii, eps=eps, norm=norm, seed=seed,
            training=training, checkpoint=checkpoint, model=model, weights=weights,
            test_limit=test_limit, runs_dir=runs_dir, data_dir=data_dir, force=force,
            strict=strict, json_out=json_out,
        )  # fmt: skip
        return
    spec = _spec(eps, method, batch_size, norm)
    if test_limit is not None and test_limit < 1:
        raise ConfigError(f"test limit must be >= 1, got {test_limit}")
    ckpt = chosen_model(
        training, checkpoint, model, weights, seed=seed, runs_dir=runs_dir,
        data_dir=data_dir, json_out=json_out, refuse=True,
    )  # fmt: skip
    columns = (
        TextColumn("[bold]certify[/]"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
    )
    with Progress(*columns, console=err, disable=json_out, transient=True) as bar:
        task = bar.add_task("certify", total=len(spec.methods) * len(spec.eps))
        cert = ensure_certificate(
            ckpt,
            spec,
            runs_dir=runs_dir,
            data_dir=data_dir,
            limit=test_limit,
            force=force,
            progress=lambda done, total: bar.update(task, completed=done),
        )
    if json_out:
        print_json(cert.record.dump())
    else:
        _show(cert.record, cert.path, cert.reused)
    if strict and not cert.record.passed:
        raise typer.Exit(1)


def _spec(eps: str | None, method: str | None, batch_size: int, norm: str) -> CertifySpec:
    """The options as a validated spec (refused before any model is loaded)."""
    if method is not None and not method.strip(" ,"):
        raise ConfigError(f"--method is empty; give one or more of {', '.join(METHODS)}")
    spec = CertifySpec(
        eps=parse_list(eps, what="eps", unit=False)
        if eps is not None
        else threat(norm).default_certify_eps,
        methods=tuple(m.strip() for m in method.split(",")) if method else DEFAULT_METHODS,
        batch_size=batch_size,
        norm=norm,
    ).validate()
    return spec


def _show(record: CertificateRecord, path: Path, reused: bool) -> None:
    if reused:
        err.print(f"reusing result {path} (same weights and parameters; --force reruns)")
    model = TrainConfig.from_dict(record.checkpoint.train_config or {}).label()
    n = record.samples.n
    clean = record.clean.accuracy
    ball = threat((record.params or {}).get("norm", "inf")).label
    table = Table(
        title=f"Certified accuracy of {model}, {ball} balls ({n} test images; clean {clean:.4f})"
    )
    methods = sorted({p.method for p in record.points}, key=METHODS.index)
    table.add_column("eps", justify="right")
    for m in methods:
        table.add_column(m, justify="right")
    for eps in sorted({float(p.eps) for p in record.points}):
        cells = {p.method: p for p in record.points if float(p.eps) == eps}
        table.add_row(
            f"{eps:g}",
            *(f"{cells[m].accuracy:.4f} ({cells[m].seconds:.1f} s)" for m in methods),
        )
    out.print(table)
    for c in record.checks:
        mark = "[green]pass[/]" if c.passed else "[bold red]FAIL[/]"
        out.print(f"  {mark} {c.name}: {c.detail}")
    out.print(f"record: {path}")
