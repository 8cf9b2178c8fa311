"""Certify-or-reuse: maps (weights, certificates, eps, samples) to a checked, cached record."""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np
import torch

from lilbench import store
from lilbench.certify.runner import Progress, certify_model
from lilbench.certify.spec import CertifySpec, refuse_uncertifiable
from lilbench.data import load_dataset
from lilbench.errors import ConfigError
from lilbench.io import canonical_json, get_or_compute, sha256_bytes
from lilbench.results.records import (
    Cached,
    check_request,
    check_weights,
    read_json_record,
    versions,
)
from lilbench.schemas import AttackRecord, CertificateRecord, CertifiedPoint
from lilbench.training.checkpoint import Checkpoint, load_model

SCHEMA = 1
# The tanh lines CROWN used for intervals that cross zero: "published-midpoint" (the tangent
# through the far end, or at the midpoint where that is sound, as auto_LiRPA draws them).
# Earlier records are sound but looser: "published" (the tangent through the far end only,
# Zhang et al. 2018) or none (parallel lines of the smaller end slope). They keep their key
# and are served with a notice; alpha-CROWN starts from CROWN's lines, so the same holds.
CROWN_RELAXATION = "published-midpoint"
log = logging.getLogger("lilbench.certify")


def certificate_path(
    runs_dir: Path, ckpt: Checkpoint, spec: CertifySpec, *, limit: int | None
) -> Path:
    ident = {"weights": ckpt.tensors_sha256, "certify": spec.params(), "limit": limit}
    ident["schema"] = SCHEMA
    key = sha256_bytes(canonical_json(ident).encode())
    return store.certificate_record_path(runs_dir, ckpt.config_hash, key)


EARLIER_RELAXATIONS = {
    "published": "the tangent through the far end only",
    None: "parallel lines of the smaller end slope",
}


def earlier_relaxation(record: CertificateRecord) -> str | None:
    """How the record's CROWN-family bounds drew tanh's lines where they predate lilbench's
    current lines (sound, looser); None where they are current or no CROWN method ran."""
    if not any("crown" in p.method for p in record.points):
        return None
    tag = (record.model_extra or {}).get("crown_relaxation")
    return None if tag == CROWN_RELAXATION else EARLIER_RELAXATIONS.get(tag, str(tag))


def find_certificate(
    runs_dir: Path,
    ckpt: Checkpoint,
    spec: CertifySpec,
    *,
    limit: int | None,
    fix: str = "--force",
) -> CertificateRecord | None:
    path = certificate_path(runs_dir, ckpt, spec, limit=limit)
    record = read_json_record(path, CertificateRecord, fix=fix)
    if record is not None:
        check_weights(path, record.checkpoint.tensors_sha256, ckpt, fix=fix)
        fields: dict[str, tuple[Any, Any]] = {"test limit": (record.samples.limit, limit)}
        if record.params is not None:
            fields["certificate parameters"] = (record.params, spec.params())
        check_request(path, fields, fix=fix)
        how = earlier_relaxation(record)
        if how is not None:
            # Sound, but computed with the earlier (looser) tanh lines: served as it is, so
            # that an earlier report rewrites identically, and said.
            log.info(
                "%s holds CROWN-family bounds from lilbench's earlier tanh lines (%s; sound, "
                "looser); `--force` recomputes them with the published implementation's lines",
                path,
                how,
            )
    return record


def ensure_certificate(
    ckpt: Checkpoint,
    spec: CertifySpec,
    *,
    runs_dir: Path,
    data_dir: Path | None = None,
    limit: int | None = None,
    force: bool = False,
    progress: Progress | None = None,
) -> Cached[CertificateRecord]:
    spec.validate()
    refuse_uncertifiable(ckpt.config)
    if limit is not None and limit < 1:
        raise ConfigError(f"limit must be >= 1, got {limit}")
    path = certificate_path(runs_dir, ckpt, spec, limit=limit)

    def compute() -> CertificateRecord:
        config = ckpt.config
        data = load_dataset(config.dataset, seed=config.seed, data_dir=data_dir)
        if not data.pixels:
            raise ConfigError(
                f"{config.dataset} inputs are not pixels in [0, 1]; certify needs them"
            )
        model = load_model(ckpt.path, input_dim=data.input_dim)
        x, y = data.x_test[:limit], data.y_test[:limit]
        outcome = certify_model(model, spec, x, y, progress=progress)
        record = {
            "schema": SCHEMA,
            "kind": "certificate",
            "params": spec.params(),
            "checkpoint": {
                "path": str(ckpt.path),
                "config_hash": ckpt.config_hash,
                "tensors_sha256": ckpt.tensors_sha256,
                "train_config": ckpt.meta["train_config"],
            },
            "samples": {"split": "test", "limit": limit, "n": outcome.n},
            "clean": {
                "correct": outcome.clean_correct,
                "accuracy": outcome.clean_correct / max(outcome.n, 1),
            },
            "points": [p.to_dict() for p in outcome.points],
            "checks": outcome.checks,
            "passed": outcome.passed,
            "crown_relaxation": CROWN_RELAXATION,
            "threads": torch.get_num_threads(),
            "versions": versions(),
            "created": datetime.now(UTC).isoformat(timespec="seconds"),
        }
        store.write_record(path, record)
        return CertificateRecord.model_validate(record)

    load = lambda: find_certificate(runs_dir, ckpt, spec, limit=limit)  # noqa: E731
    record, reused = get_or_compute(
        load, compute, lock=store.lock_path(runs_dir, path), force=force
    )
    return Cached(record, path, reused)


def best_certified(record: CertificateRecord) -> dict[float, tuple[int, int, list[str]]]:
    """Per eps: images certified by any method (each is sound, so their union is), n, and the
    methods that contributed."""
    from lilbench.certify.runner import unpack_bits

    n = record.samples.n
    out: dict[float, tuple[int, int, list[str]]] = {}
    by_eps: dict[float, list[CertifiedPoint]] = {}
    for p in record.points:
        by_eps.setdefault(float(p.eps), []).append(p)
    for eps, pts in sorted(by_eps.items()):
        union = None
        for p in pts:
            m = unpack_bits(p.bits, n)
            union = m if union is None else union | m
        assert union is not None
        out[eps] = (int(union.sum()), n, [p.method for p in pts if p.certified])
    return out


@dataclass(frozen=True)
class Bracket:
    """True robust accuracy at `eps` lies in [certified / n, upper / n]."""

    eps: float
    n: int
    certified: int  # proven robust by some certificate
    upper: int | None  # correct under every attack run at any eps' <= eps (None: none ran)
    attacks: tuple[str, ...]
    violations: int  # certified, yet broken by an attack: a bug in a bound or an attack
    clean: int = 0  # correct unperturbed: the upper end when no attack ran at or below eps

    @property
    def upper_bound(self) -> int:
        """The bracket's upper end: the attacks' worst case, else the clean count (robust
        accuracy never exceeds clean accuracy), never n."""
        return self.upper if self.upper is not None else self.clean


def brackets(
    certificate: CertificateRecord, attack_records: dict[str, AttackRecord]
) -> list[Bracket]:
    """Per certified eps: the certified count (union of sound certificates) and the attacks'
    per-image worst case over every attacked eps' <= eps (an image broken at a smaller eps is
    broken at this one), on the same test images."""
    from lilbench.attacks.base import attack_facts
    from lilbench.attacks.checks import unpack_mask
    from lilbench.certify.runner import unpack_bits

    n = certificate.samples.n
    norm = (certificate.params or {}).get("norm", "inf")
    facts = attack_facts(attack_records)
    attacked: list[tuple[float, str, np.ndarray]] = []
    for label, rec in attack_records.items():
        # only attacks of the certificate's own norm bound it from above
        if rec.sweep != "eps" or rec.samples.n != n or facts[label].norm != norm:
            continue
        for p in rec.points:
            if p.correct_bits:
                attacked.append((float(p.eps), label, unpack_mask(p.correct_bits, n)))
    out = []
    for eps, (count, _, _) in best_certified(certificate).items():
        union = np.zeros(n, dtype=bool)
        for cp in certificate.points:
            if float(cp.eps) == eps:
                union |= unpack_bits(cp.bits, n)
        below = [(label, m) for e, label, m in attacked if e <= eps + 1e-12]
        upper_mask = np.logical_and.reduce([m for _, m in below]) if below else None
        out.append(
            Bracket(
                eps=eps,
                n=n,
                certified=count,
                upper=None if upper_mask is None else int(upper_mask.sum()),
                attacks=tuple(dict.fromkeys(label for label, _ in below)),
                violations=0 if upper_mask is None else int((union & ~upper_mask).sum()),
                clean=certificate.clean.correct,
            )
        )
    return out
