"""What every kind of evidence shares: the claims file's schema, a suite's results, what one
suite finds about a claim, the verdicts, and the registry of the kinds of evidence, each with
its typed parameters (a misspelt key in the claims file is refused, naming the claim)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Generic, TypeVar

from pydantic import BaseModel, ConfigDict, Field

from lilbench.registry import Registry
from lilbench.results.suite_results import ModelResult
from lilbench.suites import Suite

HOLDS = "holds"
AUTHORS_ONLY = "holds only under the authors' attacks"
IN_PART = "holds in part"
FAILS = "does not hold"
NOT_RUN = "not run here"
_STRENGTH = {FAILS: 0, AUTHORS_ONLY: 1, IN_PART: 1, HOLDS: 2}


def combined_verdict(verdicts: list[str]) -> str:
    """A claim answered by several suites holds as far as the weakest of them; where it
    holds in one and not in another, it holds in part (the row says which, suite by suite):
    "does not hold" would hide the suite where it holds."""
    weakest = min(verdicts, key=_STRENGTH.__getitem__)
    if HOLDS in verdicts and weakest != HOLDS:
        return IN_PART
    return weakest


class ClaimEntry(BaseModel):
    """One claim of the paper, as the claims file states it."""

    model_config = ConfigDict(frozen=True, extra="forbid")
    id: str = Field(pattern=r"^[a-z0-9-]+$")
    claim: str
    quote: str
    where: str
    suites: list[str] = Field(min_length=1)  # suite files, relative to the claims file's folder
    evidence: str
    params: dict[str, Any] = Field(default_factory=dict)  # checked by the evidence's model
    not_run: str = ""  # why it cannot run here, said when its results are missing


class ClaimsFile(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")
    title: str
    claims: list[ClaimEntry] = Field(min_length=1)


@dataclass
class SuiteResults:
    suite: Suite
    command: str  # what runs it
    results: list[ModelResult]
    missing: list[str]
    runs_dir: Path
    shown: str  # the suite file as the commands name it

    @property
    def complete(self) -> bool:
        return not self.missing and bool(self.results)


@dataclass(frozen=True)
class Finding:
    """What one suite says about a claim."""

    authors: str  # the evidence under the authors' attacks ("" where none applies)
    strong: str  # under the strong protocol (or the measurement itself)
    certified: str  # the certified bracket, where there is one
    verdict: str  # HOLDS, AUTHORS_ONLY or FAILS
    why: str


class NotComputed(Exception):
    """What a kind of evidence needs is not in the runs directory (the row says "not run")."""

    def __init__(self, what: str, command: str) -> None:
        super().__init__(what)
        self.what, self.command = what, command


class NoParams(BaseModel):
    """A kind of evidence's parameters: none by default; a kind with some subclasses this
    (every key is named and typed, and an unknown one is refused)."""

    model_config = ConfigDict(frozen=True, extra="forbid")


P = TypeVar("P", bound=NoParams)


@dataclass(frozen=True)
class EvidenceKind(Generic[P]):
    """A kind of evidence: what it reads from one suite's results, and its parameters."""

    find: Callable[[SuiteResults, P], Finding]
    params: type[P]


EVIDENCE: Registry[EvidenceKind[Any]] = Registry("kind of evidence")


def evidence(
    name: str,
    params: type[P] = NoParams,  # type: ignore[assignment]
) -> Callable[[Callable[[SuiteResults, P], Finding]], Callable[[SuiteResults, P], Finding]]:
    """Register a kind of evidence under `name`, with its parameters' model."""

    def add(fn: Callable[[SuiteResults, P], Finding]) -> Callable[[SuiteResults, P], Finding]:
        EVIDENCE.register(name)(EvidenceKind(fn, params))
        return fn

    return add
