"""Typed records: the shapes of what the runs directory stores (attack, model-check,
certificate, topology and diagnostic records), validated when read and passed around as
these models, so that no code outside this module indexes a record dict.

On disk a record is the JSON its computation wrote; `RecordModel.dump()` gives back exactly
the keys that were read (later fields are optional with defaults, so every earlier record
still reads, and nothing it lacks is invented when it is written out again). Extra keys are
kept: records grow fields over versions.
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

# The per-image rule (attacks/runner.RULE): an image is robust only when it is also correct
# unperturbed, so a record under it can never count more robust than clean images.
PER_IMAGE_RULE = "clean-and-attacked"


class RecordModel(BaseModel):
    # What is read must be there and well-typed; what a later version added is kept.
    model_config = ConfigDict(extra="allow", strict=True, populate_by_name=True)

    def dump(self) -> dict[str, Any]:
        """The record as JSON-ready data, with the keys it was read with."""
        return self.model_dump(mode="json", by_alias=True, exclude_unset=True)


class CheckEntry(RecordModel):
    name: str
    passed: bool
    detail: str = ""


def _mask(bits: str, n: int, where: str) -> int:
    """The number of images set in packed per-image bits (attacks.checks.pack_mask's
    format), refusing bits of the wrong length or with bits set past the n-th image."""
    try:
        raw = bytes.fromhex(bits)
    except ValueError:
        raise ValueError(f"{where}: not hexadecimal per-image bits") from None
    if len(raw) != (n + 7) // 8:
        raise ValueError(f"{where}: {len(raw)} bytes of bits for {n} images")
    value = int.from_bytes(raw, "big")
    if value & ((1 << (8 * len(raw) - n)) - 1):
        raise ValueError(f"{where}: bits set past the {n}th image")
    return value


def _consistent_count(correct: int, n: int, accuracy: float, bits: str | None, where: str) -> int:
    """Check that a count, its accuracy and its per-image bits agree; the bits as an int
    (0 when absent)."""
    if not 0 <= correct <= n:
        raise ValueError(f"{where}: {correct} correct of {n} images")
    if n and abs(float(accuracy) - correct / n) > 1e-9:
        raise ValueError(f"{where}: accuracy {accuracy} is not {correct}/{n}")
    if bits is None:
        return 0
    value = _mask(bits, n, where)
    if value.bit_count() != correct:
        raise ValueError(f"{where}: {correct} correct, but its bits mark {value.bit_count()}")
    return value


class Point(RecordModel):
    """One grid point of an attack: its eps (and step), the images, how many stayed correct,
    and (since per-image bits were stored) which."""

    eps: float | int
    step: float | int | None = None
    n: int
    correct: int
    accuracy: float | int
    correct_bits: str | None = None
    passes: dict[str, float | int] | None = None  # forward/backward rows per image
    members: dict[str, dict[str, float | int]] | None = None  # AutoAttack's, in order run
    indicators: dict[str, str] | None = None  # per-image bits of the indicators of failure
    rule_removed: int | None = None  # images the per-image rule stopped counting as robust

    def along(self, sweep: str) -> float | int:
        """The swept parameter's value here: eps for an eps sweep, else the step size."""
        value = self.eps if sweep == "eps" else self.step
        assert value is not None
        return value


class Clean(RecordModel):
    correct: int
    accuracy: float | int
    bits: str | None = None  # per image, since the per-image rule


class Samples(RecordModel):
    split: str = "test"
    limit: int | None = None
    n: int


class CheckpointRef(RecordModel):
    config_hash: str
    tensors_sha256: str
    path: str = ""
    train_config: dict[str, Any] | None = None
    weights_sha256: str | None = None
    external: dict[str, Any] | None = None


class AttackRecord(RecordModel):
    schema_: Literal[2] = Field(alias="schema")
    kind: Literal["attack"]
    attack: str
    label: str
    sweep: str
    params: dict[str, Any]
    checkpoint: CheckpointRef
    samples: Samples
    seed: int
    clean: Clean
    points: list[Point]
    checks: list[CheckEntry]
    passed: bool
    timings: dict[str, float | int] = Field(default_factory=dict)
    versions: dict[str, str] = Field(default_factory=dict)
    device: str | None = None
    created: str = ""
    # "clean-and-attacked": an image is robust when correct unperturbed and at the returned
    # point; absent on records written before that rule until they are migrated
    rule: str | None = None
    migrated: dict[str, Any] | None = None  # what a migration changed, and when
    indicators: dict[str, Any] | None = None  # the run's indicators of failure

    @model_validator(mode="after")
    def _consistent(self) -> AttackRecord:
        """Counts, accuracies and per-image bits agree, and (under the per-image rule) no
        point counts an image robust that is wrong unperturbed: a hand-edited or damaged
        record is malformed, not served."""
        n = self.samples.n
        clean = _consistent_count(
            self.clean.correct, n, self.clean.accuracy, self.clean.bits, "clean"
        )
        for i, p in enumerate(self.points):
            where = f"points.{i}"
            robust = _consistent_count(p.correct, p.n, p.accuracy, p.correct_bits, where)
            if self.rule != PER_IMAGE_RULE or p.n != n:
                continue
            if p.correct > self.clean.correct:
                raise ValueError(
                    f"{where}: {p.correct} robust but only {self.clean.correct} correct clean"
                )
            if self.clean.bits is not None and p.correct_bits is not None and robust & ~clean:
                raise ValueError(f"{where}: marks images robust that are wrong clean")
        return self


class ChecksRecord(RecordModel):
    kind: Literal["model-checks"]
    tensors_sha256: str | None = None
    attacks: list[str] | None = None
    seed: int | None = None  # stored since records are checked against the request; earlier: absent
    samples: Samples | None = None
    checks: list[CheckEntry]
    passed: bool
    worst_case: dict[str, Any]


class CertifiedPoint(RecordModel):
    method: str
    eps: float | int
    n: int
    certified: int
    bits: str
    accuracy: float | int = 0.0
    seconds: float | int = 0.0


class CertificateRecord(RecordModel):
    schema_: Literal[1] = Field(alias="schema")
    kind: Literal["certificate"]
    params: dict[str, Any] | None = None
    checkpoint: CheckpointRef
    samples: Samples
    clean: Clean
    points: list[CertifiedPoint]
    checks: list[CheckEntry]
    passed: bool

    @model_validator(mode="after")
    def _consistent(self) -> CertificateRecord:
        """A certified count agrees with its bits and never exceeds the clean count (a
        certificate holds for correctly classified images only)."""
        _consistent_count(self.clean.correct, self.samples.n, self.clean.accuracy, None, "clean")
        for i, p in enumerate(self.points):
            where = f"points.{i}"
            if not 0 <= p.certified <= p.n:
                raise ValueError(f"{where}: {p.certified} certified of {p.n} images")
            if _mask(p.bits, p.n, where).bit_count() != p.certified:
                raise ValueError(f"{where}: {p.certified} certified, but its bits differ")
            if p.n == self.samples.n and p.certified > self.clean.correct:
                raise ValueError(
                    f"{where}: {p.certified} certified but only {self.clean.correct} correct"
                )
        return self


class SmoothedPoint(RecordModel):
    radius: float | int
    n: int
    certified: int


class SmoothingRecord(RecordModel):
    """Randomized smoothing's CERTIFY on test images: per image the smoothed prediction
    (-1: abstained) and certified L2 radius; certified accuracy at each radius."""

    schema_: Literal[1, 2] = Field(alias="schema")
    kind: Literal["smoothing"]
    params: dict[str, Any]
    checkpoint: CheckpointRef
    samples: Samples
    predictions: list[int]
    radii: list[float | int]
    labels: list[int]
    points: list[SmoothedPoint]
    abstained: int
    average_radius: float | int
    ceiling: float | int
    checks: list[CheckEntry]
    passed: bool

    @model_validator(mode="after")
    def _consistent(self) -> SmoothingRecord:
        """Every count agrees with the per-image lists (an abstention is never certified)."""
        n = self.samples.n
        if not len(self.predictions) == len(self.radii) == len(self.labels) == n:
            raise ValueError(f"per-image lists of {n} images differ in length")
        for i, p in enumerate(self.points):
            want = sum(
                q == y and r >= p.radius
                for q, r, y in zip(self.predictions, self.radii, self.labels, strict=True)
            )
            if p.certified != want or p.n != n:
                raise ValueError(f"points.{i}: {p.certified} certified, the lists say {want}")
        if self.abstained != sum(q == -1 for q in self.predictions):
            raise ValueError("abstained differs from the predictions")
        return self


class TopologyRecord(RecordModel):
    schema_: int = Field(alias="schema")
    kind: Literal["topology"] = "topology"
    weights: str
    classes: list[dict[str, Any]]
    seconds: float | int = 0.0


class DiagnosticRecord(RecordModel):
    schema_: int = Field(alias="schema")
    kind: str
    weights: str
    values: dict[str, Any]
    seconds: float | int = 0.0
