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

from pydantic import BaseModel, ConfigDict, Field


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


class Point(RecordModel):
    """One grid point of an attack: its eps (and step), the images, how many stayed correct,
    and (since per-image bits were stored) which."""

    eps: float | int
    step: float | int | None = None
    n: int
    correct: int
    accuracy: float | int
    correct_bits: str | None = None
    passes: dict[str, float | int] | None = None  # forward/backward rows per image (issue 36)
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
    bits: str | None = None  # per image, since the per-image rule (issue 36)


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
    indicators: dict[str, Any] | None = None  # the run's indicators of failure (issue 36)


class ChecksRecord(RecordModel):
    kind: Literal["model-checks"]
    tensors_sha256: str | None = None
    attacks: list[str] | None = None
    seed: int | None = None  # stored since the request check (issue 32); earlier: absent
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
