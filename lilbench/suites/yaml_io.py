"""Reading a suite (or claims) file safely: PyYAML's safe loader without its traps (duplicate
keys, 1e-3 read as a string), with the file's size and its aliases' expansion capped before
they cost memory, and every failure one line."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import yaml

from lilbench.errors import ConfigError, LilbenchError


class _StrictLoader(yaml.SafeLoader):
    """PyYAML's safe loader, less two traps: a duplicate key is an error (not "the last one
    wins"), and 1e-3 is a number (YAML 1.1 reads a float without a dot as a string)."""

    def construct_mapping(self, node: yaml.MappingNode, deep: bool = False) -> dict[Any, Any]:
        seen: set[Any] = set()
        for key_node, _ in node.value:
            key = self.construct_object(key_node, deep=deep)
            if key in seen:
                raise yaml.constructor.ConstructorError(
                    None, None, f"duplicate key {key!r}", key_node.start_mark
                )
            seen.add(key)
        return super().construct_mapping(node, deep=deep)


_StrictLoader.add_implicit_resolver(
    "tag:yaml.org,2002:float",
    re.compile(r"^[-+]?(?:[0-9][0-9_]*)(?:\.[0-9_]*)?[eE][-+]?[0-9]+$"),
    list("-+0123456789"),
)
# The committed suites are under 8 KB and 400 nodes; these caps leave room for hand-written
# suites a hundred times larger, and refuse a file (or an alias "bomb") before it costs memory.
MAX_YAML_BYTES = 1 << 20
MAX_YAML_NODES = 100_000


def _expanded_nodes(root: yaml.Node, cap: int) -> int:
    """How many nodes the document holds once every alias is expanded, counted without
    expanding (each node's size is computed once), and stopping as soon as it passes `cap`."""
    sizes: dict[int, int] = {}
    open_: set[int] = set()  # nodes whose children are being counted (a cycle ends here)
    stack: list[tuple[yaml.Node, bool]] = [(root, False)]
    while stack:
        node, children_done = stack.pop()
        if id(node) in sizes or (id(node) in open_ and not children_done):
            continue
        if isinstance(node, yaml.ScalarNode):
            sizes[id(node)] = 1
            continue
        kids: list[yaml.Node] = (
            [n for pair in node.value for n in pair]
            if isinstance(node, yaml.MappingNode)
            else list(node.value)
        )
        if children_done:
            # a recursive alias (a node inside itself) never got a size: count it as the cap
            sizes[id(node)] = min(cap + 1, 1 + sum(sizes.get(id(k), cap + 1) for k in kids))
        else:
            open_.add(id(node))
            stack.append((node, True))
            stack.extend((k, False) for k in kids if id(k) not in sizes)
    return sizes[id(root)]


def read_yaml(path: Path) -> Any:
    """A YAML file, or a one-line error (missing, a directory, not text, not YAML)."""
    if path.is_dir():
        raise ConfigError(f"{path} is a directory; give a suite YAML file")
    try:
        size = path.stat().st_size
        if size > MAX_YAML_BYTES:
            raise ConfigError(
                f"{path} is {size / 2**20:.1f} MiB; a suite file may be at most "
                f"{MAX_YAML_BYTES >> 20} MiB (split it, or list fewer items)"
            )
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise LilbenchError(f"no suite file at {path}") from None
    except UnicodeDecodeError:
        raise ConfigError(f"{path} is not a text file; give a suite YAML file") from None
    except OSError as exc:
        raise ConfigError(f"cannot read {path}: {exc.strerror}") from None
    loader = _StrictLoader(text)
    try:
        node = loader.get_single_node()
        if node is None:
            return None
        if _expanded_nodes(node, MAX_YAML_NODES) > MAX_YAML_NODES:
            raise ConfigError(
                f"{path}: its aliases (*name) expand to over {MAX_YAML_NODES:,} YAML nodes; "
                "write the values out, or use fewer nested aliases"
            )
        return loader.construct_document(node)
    except yaml.YAMLError as exc:
        where = getattr(exc, "problem_mark", None)
        line = f" at line {where.line + 1}" if where is not None else ""
        problem = getattr(exc, "problem", None) or str(exc).splitlines()[0]
        raise ConfigError(f"{path}: not valid YAML{line} ({problem})") from None
    finally:
        loader.dispose()
