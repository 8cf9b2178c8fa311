"""Suites: YAML files that name a data set, training settings, betas, seeds and attacks.

Validated up front; every error names the file and the key. `yaml_io` reads the file
safely, `model` holds what a suite is, `keys` parses each top-level key (one parser each),
`settings` the betas, methods and external models, and `load` puts them together.
"""

from lilbench.suites.keys import TOP_KEYS, TRAIN_KEYS
from lilbench.suites.load import load_suite
from lilbench.suites.model import ExternalEntry, Setting, Suite
from lilbench.suites.yaml_io import MAX_YAML_BYTES, MAX_YAML_NODES, read_yaml

__all__ = [
    "MAX_YAML_BYTES",
    "MAX_YAML_NODES",
    "TOP_KEYS",
    "TRAIN_KEYS",
    "ExternalEntry",
    "Setting",
    "Suite",
    "load_suite",
    "read_yaml",
]
