"""The report's opening: the suite, its settings, the software and machine, what is missing,
and the verdict's one-paragraph answer."""

from __future__ import annotations

import os
import platform
from collections.abc import Callable

from lilbench.reports.aggregate import key_header
from lilbench.reports.noise import noise_sentence
from lilbench.reports.render import computed_on, wall_time
from lilbench.reports.sections.base import SECTIONS, ReportContext, Section
from lilbench.results.records import versions


@SECTIONS.register("header")
class Header(Section):
    order = 10

    def render(self, ctx: ReportContext) -> list[str]:
        suite, v = ctx.suite, versions()
        lines = [
            f"# lilbench report: {suite.name}",
            "",
            suite.description.strip(),
            "",
            f"- suite file: `{suite.path}` (SHA-256 `{suite.file_sha256[:16]}`)",
            f"- {'methods' if suite.has_methods else 'betas'}: "
            f"{', '.join(s.label for s in suite.settings)}; seeds: "
            f"{', '.join(map(str, suite.seeds))}; test images: {suite.test_limit or 'all'}",
            f"- lilbench {v['lilbench']}, torch {v['torch']}, ART {v['art']}, "
            f"numpy {v['numpy']}, Python {v['python']}",
            f"- machine: {platform.machine()}, {os.cpu_count()} CPUs, {platform.system()}",
            f"- compute time of the cached items (training + attacks): "
            f"{wall_time(ctx.results):.0f} s",
            f"- computed on: {computed_on(ctx.results)}",
            "",
        ]
        if ctx.missing:
            lines += [
                "**Missing results** (run `lilbench run` first): " + ", ".join(ctx.missing),
                "",
            ]
        sentences = ctx.verdict[0] if ctx.verdict is not None else []
        answer = next((s for s in sentences if s.startswith("**Answer")), None)
        if answer is not None:
            lines += [answer, ""]
        if ctx.suite.perturbs and (sentence := noise_sentence(ctx.noise_changes, self._said(ctx))):
            lines += [sentence, ""]
        return lines

    @staticmethod
    def _said(ctx: ReportContext) -> Callable[[str], str]:
        beta = key_header(ctx.results) == "beta"
        return lambda s: f"beta = {s}" if beta else s
