"""What every report section is, and what it is given."""

from __future__ import annotations

from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path
from typing import ClassVar

from lilbench.registry import Registry
from lilbench.reports.aggregate import Table, verdict
from lilbench.reports.noise import Change, changes
from lilbench.results.suite_results import ModelResult
from lilbench.suites import Suite


@dataclass
class ReportContext:
    """One report being written: the suite, its results, where files go, and the tables the
    sections have added so far (exported beside the report)."""

    suite: Suite
    results: list[ModelResult]
    missing: list[str]
    out_dir: Path
    data_dir: Path | None = None
    runs_dir: Path | None = None
    tables: dict[str, Table] = field(default_factory=dict)

    @property
    def attacks(self) -> list[str]:
        """The suite's attack labels, in its order."""
        return [spec.label for spec in self.suite.attacks]

    @property
    def standard(self) -> list[str]:
        """The labels of the standard attacks (not the authors' copies)."""
        return [spec.label for spec in self.suite.attacks if not spec.paper_objective]

    @property
    def paired(self) -> list[tuple[str, str]]:
        """(standard, the authors' copy) where the suite ran both."""
        labels = self.attacks
        return [
            (spec.standard_label, spec.label)
            for spec in self.suite.attacks
            if spec.paper_objective and spec.standard_label in labels
        ]

    @cached_property
    def verdict(self) -> tuple[list[str], Table, Table, Table] | None:
        """The verdict's parts (computed once: the opening answer and its section share it)."""
        comparable = (
            self.attacks
            and any(r.setting.reference for r in self.results)
            and len(self.suite.settings) > 1
        )
        return verdict(self.results) if comparable else None

    @cached_property
    def noise_changes(self) -> list[Change]:
        """Each setting's change under noise and corruptions (computed once: the opening
        sentence and the section share it)."""
        return changes(self.results)


class Section:
    order: ClassVar[int]  # where it goes in the report (lower first)

    def applies(self, ctx: ReportContext) -> bool:
        return True

    def render(self, ctx: ReportContext) -> list[str]:
        """The section's markdown lines (tables it shows go into `ctx.tables` too)."""
        raise NotImplementedError


SECTIONS: Registry[type[Section]] = Registry("report section")


def ordered() -> list[Section]:
    return [cls() for _, cls in sorted(SECTIONS.items(), key=lambda item: item[1].order)]
