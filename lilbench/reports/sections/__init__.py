"""Report sections as plugins: one file each, registered with `@SECTIONS.register("name")`.

A section says when it applies to a suite's results and renders its markdown lines (and the
tables it adds to the report's exports); `build_report` renders every registered section that
applies, in the order of their `order`. A new section is a new file here.
"""

from lilbench.registry import import_submodules
from lilbench.reports.sections.base import SECTIONS, ReportContext, Section

import_submodules(__name__, skip=frozenset({"base"}))

__all__ = ["SECTIONS", "ReportContext", "Section"]
