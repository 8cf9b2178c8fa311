"""Third-party plugins through the Python entry-point group `lilbench.plugins`.

A distribution declares, in its metadata (pyproject.toml):

    [project.entry-points."lilbench.plugins"]
    my-attack = "my_package.my_attack"

and each named module is imported once, before lilbench's CLI parses a command and before a
suite is read: its `@ATTACKS.register(...)`, `@OBJECTIVES.register(...)`,
`@FAMILIES.register(...)`, `@register_dataset(...)`, `@register` (threat models, certificate
methods), `@SECTIONS.register(...)` or `@evidence(...)` then runs, exactly as for lilbench's
own files, and the new name appears in `--help`, in suites and in reports. A value
"module:object" imports the module and checks that it has the object. A plugin that fails to
import is one line naming it and its distribution.
"""

from __future__ import annotations

import importlib
from importlib import metadata

from lilbench.errors import ConfigError

GROUP = "lilbench.plugins"
_loaded: dict[str, str] = {}  # entry-point name -> its value, once imported


def load_plugins() -> dict[str, str]:
    """Import every module the installed distributions register under `lilbench.plugins`
    (each once per process); returns {entry name: "module[:object]"}."""
    for entry in metadata.entry_points(group=GROUP):
        if entry.name in _loaded:
            continue
        where = f"plugin {entry.name!r}" + (f" of {entry.dist.name}" if entry.dist else "")
        module_name, _, attr = entry.value.partition(":")
        try:
            module = importlib.import_module(module_name.strip())
        except Exception as exc:  # a third party's import error, whatever its kind
            raise ConfigError(
                f"{where} ({entry.value}) failed to import: {type(exc).__name__}: {exc}; "
                "fix or uninstall it"
            ) from None
        if attr and not hasattr(module, attr.strip()):
            raise ConfigError(f"{where}: {module_name} has no {attr.strip()!r}")
        _loaded[entry.name] = entry.value
    return dict(_loaded)
