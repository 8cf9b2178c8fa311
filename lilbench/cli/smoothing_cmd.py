"""`lilbench certify --method smoothing`: randomized smoothing's certified L2 radii."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import typer
from rich.table import Table

from lilbench.attacks.grids import parse_list
from lilbench.cli.common import err, out, print_json
from lilbench.errors import ConfigError


def smoothing(
    method: str,
    sigma: float | None,
    draws: int,
    draws0: int,
    alpha: float,
    radii: str | None,
    *,
    eps: str | None,
    norm: str,
    seed: int,
    training: dict[str, Any] | None,
    checkpoint: Path | None,
    model: str | None,
    weights: Path | None,
    test_limit: int | None,
    runs_dir: Path,
    data_dir: Path | None,
    force: bool,
    strict: bool,
    json_out: bool,
) -> None:
    """Checked up front (one line each), then CERTIFY on the test images, cached."""
    from lilbench.certify.smoothing import DEFAULT_RADII, SmoothingSpec
    from lilbench.cli.model_choice import chosen_model
    from lilbench.results.smoothing_records import ensure_smoothing
    from lilbench.threats import threat

    if method.strip() != "smoothing":
        raise ConfigError(
            "--method smoothing certifies the smoothed classifier, another model than the "
            "bounds certify: give it alone"
        )
    if eps is not None or not threat(norm).is_default:
        raise ConfigError("smoothing certifies L2 radii: give --radii, not --eps or --norm")
    if sigma is None:
        raise ConfigError("--method smoothing needs --sigma, the noise's standard deviation")
    if test_limit is not None and test_limit < 1:
        raise ConfigError(f"test limit must be >= 1, got {test_limit}")
    grid = parse_list(radii, what="radii", unit=False) if radii is not None else DEFAULT_RADII
    spec = SmoothingSpec(sigma, n0=draws0, n=draws, alpha=alpha, radii=tuple(grid)).validate()
    ckpt = chosen_model(
        training, checkpoint, model, weights, seed=seed, runs_dir=runs_dir,
        data_dir=data_dir, json_out=json_out, refuse=False,
    )  # fmt: skip
    found = ensure_smoothing(
        ckpt, spec, runs_dir=runs_dir, data_dir=data_dir, limit=test_limit, seed=seed, force=force
    )
    rec = found.record
    if json_out:
        print_json(rec.dump())
    else:
        if found.reused:
            err.print(f"reusing result {found.path} (same weights and parameters; --force reruns)")
        n = rec.samples.n
        table = Table(
            title=f"Smoothed classifier, sigma {spec.sigma:g}, n {spec.n}, alpha {spec.alpha:g} "
            f"({n} test images)"
        )
        for col in ("L2 radius", "certified accuracy"):
            table.add_column(col, justify="right")
        for p in rec.points:
            table.add_row(f"{float(p.radius):g}", f"{p.certified / max(n, 1):.4f}")
        out.print(table)
        out.print(
            f"average certified radius {float(rec.average_radius):.4f}; abstained on "
            f"{rec.abstained} of {n}; no radius above {float(rec.ceiling):.3f} can be certified "
            f"with n = {spec.n} at alpha {spec.alpha:g}, so a 0 beyond it is no finding"
        )
        for c in rec.checks:
            mark = "[green]pass[/]" if c.passed else "[bold red]FAIL[/]"
            out.print(f"  {mark} {c.name}: {c.detail}")
        out.print(f"record: {found.path}")
    if strict and not rec.passed:
        raise typer.Exit(1)
