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
    # Each archive keeps its members under one top folder (<stem>/...). Only the member
    # right below it tells the format: TorchScript's code may itself lie in a package named
    # `models` (<stem>/code/__torch__/models/net.py), so a match anywhere deeper misleads.
    tops = {tuple(n.split("/")[1:2]) for n in names}
    if ("archive_format",) in tops or ("models",) in tops:
        return "torch.export"
    if ("constants.pkl",) in tops or ("code",) in tops:
        return "torchscript"
    raise ConfigError(f"{what}: {path} is a zip file, but neither torch.export nor TorchScript")
