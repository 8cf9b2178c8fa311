"""Which kind of model file a user gave, read from the zip archive's member names (no torch,
nothing unpickled), so that a suite or an option naming a wrong file is refused before work."""

from __future__ import annotations

import zipfile
from pathlib import Path
from typing import Literal

from lilbench.errors import ConfigError

FileKind = Literal["torch.export", "torchscript"]


def sniff_model_file(path: Path, *, what: str) -> FileKind:
    """torch.export archives and TorchScript files are both zip files; their members differ.
    `what` names where the file was given (`--model FILE`, `suite.yaml: models[0].file`)."""
    if not zipfile.is_zipfile(path):
        raise ConfigError(
            f"{what}: {path} is not a torch.export (.pt2) or TorchScript file (not a zip "
            "archive); a state_dict or a pickled module is not accepted (save it with "
            "torch.export.save)"
        )
    with zipfile.ZipFile(path) as z:
        names = z.namelist()
    if any(n.endswith("archive_format") or "/models/" in n for n in names):
        return "torch.export"
    if any(n.endswith("constants.pkl") or "/code/" in n for n in names):
        return "torchscript"
    raise ConfigError(f"{what}: {path} is a zip file, but neither torch.export nor TorchScript")
