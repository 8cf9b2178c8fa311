"""Measures: what is computed from a model's weights beside the attacks (the geometry panel,
the mechanism's gradient norms and Lipschitz estimates, the clean predictions per image).
Each is one file registering a `Measure`: its kind, the settings its record is keyed by, and
the function of (model, data) that computes its named values. The results layer caches them
as records (`results/diagnostic_records.py`), a suite computes them beside its attacks, and
reports only read them."""

from lilbench.measures.base import MEASURES, Measure
from lilbench.registry import import_submodules

import_submodules(__name__, skip=frozenset({"base"}))

__all__ = ["MEASURES", "Measure"]
