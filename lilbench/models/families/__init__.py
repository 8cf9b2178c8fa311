"""Model families by name: every module in this folder declares one and registers it on
import (`@FAMILIES.register("name")`). A family's torch module may live in the same file, or,
as the built-in ones do to keep `--help` torch-free, in a module its `build` imports."""

from lilbench.models.family import FAMILIES, DataShape, ModelFamily, ModelParams
from lilbench.registry import import_submodules

import_submodules(__name__)

__all__ = ["FAMILIES", "DataShape", "ModelFamily", "ModelParams"]
