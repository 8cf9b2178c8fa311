"""Suites: YAML files that name a data set, training settings, betas, seeds and attacks.

Validated up front; every error names the file and the key.
"""

from __future__ import annotations

import itertools
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from lilbench.attacks import ATTACKS, AttackSpec
from lilbench.attacks.parse import coerce, field_kind, field_kinds, number_list, parse_attack
from lilbench.certify.spec import CertifySpec
from lilbench.data import declared_shape
from lilbench.data.noise import CorruptionSpec, NoiseSpec
from lilbench.errors import ConfigError, LilbenchError
from lilbench.io import sha256_file
from lilbench.models.external_files import sniff_model_file
from lilbench.models.families import FAMILIES
from lilbench.objectives import OBJECTIVES, parse_params
from lilbench.threats import keys as norm_keys
from lilbench.training.config import LIL_KEYS, TrainConfig

TOP_KEYS = {
    "name",
    "description",
    "dataset",
    "train",
    "betas",
    "methods",
    "seeds",
    "test_limit",
    "attacks",
    "inspect",
    "model_checks",
    "certify",
    "mechanism",
    "topology",
    "models",
    "device",
    "noise",
    "corruptions",
    "geometry",
}
# model options a method entry may set (activation: a value or a list, a grid like the rest);
# the rest of a method entry: the objective's parameter grids
METHOD_KEYS = {"objective", "spectral_norm", "activation"}
PER_METHOD = {"dataset", "seed", "objective", "objective_params", "spectral_norm", *LIL_KEYS}


def _train_key_types() -> dict[str, tuple[str, bool]]:
    """Every key a suite's `train:` takes, with its value's kind: TrainConfig's own fields and
    every model family's parameters (and the flags that choose a family)."""
    kinds = {k: v for k, v in field_kinds(TrainConfig).items() if k != "model_params"}
    for _, family in FAMILIES.items():
        for key, field in family.params_type.model_fields.items():
            kinds[key] = field_kind(field.annotation)
        if family.selected_by is not None and family.selected_by not in kinds:
            kinds[family.selected_by] = ("bool", False)
    return kinds


TRAIN_TYPES = _train_key_types()
TRAIN_KEYS = set(TRAIN_TYPES) - PER_METHOD | {"alpha", "mode", "k", "metric"}


@dataclass(frozen=True)
class Setting:
    """One trained configuration of a suite, less its seed: a beta, or a method's grid point."""

    label: str  # "0.1" for a beta of the `betas:` shorthand, else "pgd-at eps=0.1"
    overrides: tuple[tuple[str, Any], ...]  # TrainConfig fields set by this setting
    beta: float = 0.0  # the LIL beta (0 for other objectives)

    @property
    def reference(self) -> bool:
        """Plain cross-entropy training: what verdicts compare every other setting with."""
        d = dict(self.overrides)
        if self.external is not None:
            return False
        return (
            d.get("objective", "lil") == "lil"
            and self.beta == 0
            and not d.get("spectral_norm")
            and d.get("activation", "tanh") == "tanh"
        )

    @property
    def external(self) -> ExternalEntry | None:
        """The suite's `models:` entry this setting stands for (a model lilbench did not train)."""
        found = dict(self.overrides).get("external")
        return found if isinstance(found, ExternalEntry) else None


@dataclass(frozen=True)
class ExternalEntry:
    """A `models:` entry: a torch.export / TorchScript file, or a factory with weights."""

    name: str
    model: str  # a file path, or package.module:factory
    weights: Path | None = None


@dataclass(frozen=True)
class Suite:
    name: str
    path: Path
    file_sha256: str
    description: str
    dataset: str
    train: dict[str, Any]
    settings: tuple[Setting, ...]
    seeds: tuple[int, ...]
    test_limit: int | None
    attacks: tuple[AttackSpec, ...]
    inspect: bool = False  # representation diagnostics in the report
    model_checks: bool = False  # the cross-attack and model-level sanity checks
    has_methods: bool = False  # written with `methods:` (settings named by method, not beta)
    # certified lower bounds per model, one block per norm (`certify: [{...}, {norm: 2}]`),
    # in the threat models' order (L-inf first)
    certifies: tuple[CertifySpec, ...] = ()
    mechanism: bool = False  # gradient norms and Lipschitz constants vs beta in the report
    geometry: bool = False  # neural collapse, CKA and effective rank of phi in the report
    topology: bool = False  # persistent homology per class, inputs vs phi, in the report
    topology_points: int = 500  # per class at most (`topology: {points: N}`)
    # Where it computes (cpu, cuda, cuda:N): `run`, `check` and `report` use it unless given
    # --device; checkpoints and records of another kind of device are never served for it.
    device: str = "cpu"
    # accuracy under random noise and MNIST-C's corruptions (`noise:`, `corruptions:`)
    noise: NoiseSpec | None = None
    corruptions: CorruptionSpec | None = None

    @property
    def perturbs(self) -> bool:
        return self.noise is not None or self.corruptions is not None

    def certify_in(self, norm: str = "inf") -> CertifySpec | None:
        """The certify block of one norm, if the suite has one."""
        return next((c for c in self.certifies if c.norm == norm), None)

    @property
    def betas(self) -> tuple[float, ...]:
        return tuple(s.beta for s in self.settings)

    def train_config(self, setting: Setting, seed: int) -> TrainConfig:
        options = {**self.train, **dict(setting.overrides)}
        return TrainConfig.for_dataset(self.dataset, seed=seed, **options)


def _fail(path: Path, key: str, msg: str) -> ConfigError:
    return ConfigError(f"{path}: {key}: {msg}")


def _number_list(path: Path, key: str, value: Any) -> tuple[float, ...]:
    try:
        return number_list(key, value)
    except ConfigError as exc:
        raise ConfigError(f"{path}: {exc}") from None


def _attack(path: Path, i: int, entry: Any) -> AttackSpec:
    """One attack entry; its keys and their types come from the attack class's fields."""
    if isinstance(entry, str):  # a suite names its attacks as mappings
        entry = ["not a mapping"]
    try:
        spec = parse_attack(entry, where=f"attacks[{i}]")
    except ConfigError as exc:
        raise ConfigError(f"{path}: {exc}") from None
    # An L2 entry gets its own table and comparisons in the report; the worst case, the
    # verdict's attack, the robustness curves and the brackets stay L-inf's (they pool by eps,
    # and an L2 eps is another ball).
    return spec


def _typed(path: Path, key: str, kind: tuple[str, bool], value: Any) -> Any:
    try:
        return coerce(key, kind[0], value, optional=kind[1])
    except ConfigError as exc:
        raise ConfigError(f"{path}: {exc}") from None


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
SUITE_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]*$")
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


def load_suite(path: Path) -> Suite:
    path = Path(path)
    raw = read_yaml(path)
    if not isinstance(raw, dict):
        raise ConfigError(f"{path}: expected a mapping at the top level")
    for key in raw:
        if key not in TOP_KEYS:
            raise _fail(path, str(key), f"unknown key; known: {', '.join(sorted(TOP_KEYS))}")
    if "name" not in raw:
        raise _fail(path, "name", "missing")
    if not isinstance(raw["name"], str) or not SUITE_NAME.match(raw["name"]):
        raise _fail(
            path, "name", f"must be a file name (letters, digits, . _ -), got {raw['name']!r}"
        )
    if "betas" in raw and "methods" in raw:
        raise _fail(path, "betas", "give betas (the LIL grid) or methods, not both")
    if "betas" not in raw and "methods" not in raw and "models" not in raw:
        raise _fail(path, "betas", "give betas (the LIL grid), methods, or models")
    train = raw.get("train") or {}
    if not isinstance(train, dict):
        raise _fail(path, "train", "expected a mapping")
    types = TRAIN_TYPES
    for key, value in train.items():
        if key not in TRAIN_KEYS:
            raise _fail(
                path, f"train.{key}", f"unknown key; known: {', '.join(sorted(TRAIN_KEYS))}"
            )
        train[key] = _typed(path, f"train.{key}", types[key], value)
    settings: tuple[Setting, ...] = ()
    if "betas" in raw:
        betas = _number_list(path, "betas", raw["betas"])
        if any(b < 0 for b in betas):
            raise _fail(path, "betas", f"beta must be >= 0, got {min(betas):g}")
        settings = tuple(Setting(f"{b:g}", (("beta", b),), b) for b in betas)
    elif "methods" in raw:
        settings = _methods(path, raw["methods"], dataset=str(raw.get("dataset", "mnist")))
    settings += _external_models(path, raw.get("models"))
    seeds = raw.get("seeds", [0])
    if (
        not isinstance(seeds, list)
        or not seeds
        or not all(isinstance(s, int) and not isinstance(s, bool) for s in seeds)
    ):
        raise _fail(path, "seeds", "expected a non-empty list of integers")
    test_limit = raw.get("test_limit")
    if test_limit is not None and (
        isinstance(test_limit, bool) or not isinstance(test_limit, int) or test_limit < 1
    ):
        raise _fail(path, "test_limit", f"expected a positive integer, got {test_limit!r}")
    attacks = raw.get("attacks", [])
    if not isinstance(attacks, list):
        raise _fail(path, "attacks", f"expected a list of attacks ({', '.join(ATTACKS.names())})")
    certify: dict[str, CertifySpec] = {}
    if raw.get("certify") is not None:
        # one mapping, or a list of them with one norm each (L-inf and L2 certificates)
        blocks = raw["certify"] if isinstance(raw["certify"], list) else [raw["certify"]]
        for i, block in enumerate(blocks):
            where = "certify" if len(blocks) == 1 else f"certify[{i}]"
            if not isinstance(block, dict):
                raise _fail(path, where, "expected a mapping (eps, methods, norm)")
            try:
                spec = CertifySpec.from_dict(block, where=where)
            except ConfigError as exc:
                raise ConfigError(f"{path}: {exc}") from None
            if spec.norm in certify:
                raise _fail(path, where, f"a second certify block in norm {spec.norm}")
            certify[spec.norm] = spec
        refusal = TrainConfig.for_dataset(str(raw.get("dataset", "mnist")), **train).family
        if refusal.certify_refusal is not None:
            raise _fail(path, "certify", refusal.certify_refusal)
    topology_points = 500
    topo = raw.get("topology", False)
    if isinstance(topo, dict):
        points = topo.get("points")
        if set(topo) != {"points"} or isinstance(points, bool) or not isinstance(points, int):
            raise _fail(path, "topology", "expected true, false or {points: N}")
        if points < 3:
            raise _fail(path, "topology.points", f"must be >= 3, got {points}")
        topology_points, topo = points, True
    raw = {**raw, "topology": topo}
    flags = {
        key: raw.get(key, False)
        for key in ("inspect", "model_checks", "mechanism", "topology", "geometry")
    }
    for key, value in flags.items():
        if not isinstance(value, bool):
            raise _fail(path, key, f"expected true or false, got {value!r}")
    if flags["topology"]:
        from lilbench.topology import require

        try:
            require()
        except ConfigError as exc:
            raise _fail(path, "topology", str(exc)) from None
    perturb: dict[str, Any] = {}
    for key, parse in (("noise", NoiseSpec.from_value), ("corruptions", CorruptionSpec.from_value)):
        value = raw.get(key, False)
        if value is False or value is None:
            continue
        try:
            perturb[key] = parse(value)
        except ConfigError as exc:
            raise ConfigError(f"{path}: {exc}") from None
    if "corruptions" in perturb:
        shape = declared_shape(str(raw.get("dataset", "mnist")))
        if shape is None or shape[0] != 1:
            raise _fail(path, "corruptions", "MNIST-C's corruptions need grey images")
    device = raw.get("device", "cpu")
    if not isinstance(device, str) or not re.fullmatch(r"cpu|cuda(:\d+)?", device):
        raise _fail(path, "device", f"expected cpu, cuda or cuda:N, got {device!r}")
    suite = Suite(
        name=str(raw["name"]),
        path=path,
        file_sha256=sha256_file(path),
        description=str(raw.get("description", "")),
        dataset=str(raw.get("dataset", "mnist")),
        train=dict(train),
        settings=settings,
        seeds=tuple(seeds),
        test_limit=test_limit,
        attacks=tuple(_attack(path, i, a) for i, a in enumerate(attacks)),
        inspect=flags["inspect"],
        model_checks=flags["model_checks"],
        has_methods="methods" in raw,
        certifies=tuple(certify[k] for k in norm_keys() if k in certify),
        mechanism=flags["mechanism"],
        geometry=flags["geometry"],
        topology=flags["topology"],
        topology_points=topology_points,
        device=device,
        noise=perturb.get("noise"),
        corruptions=perturb.get("corruptions"),
    )
    labels = [a.label for a in suite.attacks]
    for label in labels:
        if labels.count(label) > 1:
            raise _fail(path, "attacks", f"two attacks are both {label!r}; keep one")
    try:
        for setting in settings:
            if setting.external is None:
                suite.train_config(setting, seeds[0]).validate()
    except (ConfigError, TypeError) as exc:
        raise _fail(path, "train", str(exc)) from None
    labels = [s.label for s in settings]
    for label in labels:
        if labels.count(label) > 1:
            raise _fail(path, "methods", f"two settings are both {label!r}; keep one")
    return suite


def _methods(path: Path, value: Any, *, dataset: str) -> tuple[Setting, ...]:
    """Each entry: an objective, optionally `spectral_norm`, and its parameters, each a value
    or a list (a grid; several lists give their product)."""
    if not isinstance(value, list) or not value:
        raise _fail(path, "methods", "expected a non-empty list of {objective: NAME, ...}")
    settings: list[Setting] = []
    for i, entry in enumerate(value):
        where = f"methods[{i}]"
        if not isinstance(entry, dict) or "objective" not in entry:
            raise _fail(path, where, "expected a mapping with an 'objective'")
        name = entry["objective"]
        if not isinstance(name, str) or name not in OBJECTIVES:
            raise _fail(path, f"{where}.objective", OBJECTIVES.unknown(str(name)))
        cls = OBJECTIVES.get(name)
        sn = entry.get("spectral_norm", False)
        if not isinstance(sn, bool):
            raise _fail(path, f"{where}.spectral_norm", f"expected true or false, got {sn!r}")
        acts = entry.get("activation", [None])
        acts = acts if isinstance(acts, list) else [acts]
        if not acts or not all(a is None or isinstance(a, str) for a in acts):
            raise _fail(path, f"{where}.activation", "expected a name or a list of names")
        grids: list[list[tuple[str, Any]]] = [[("activation", a) for a in acts]]
        for key, v in entry.items():
            if key in METHOD_KEYS:
                continue
            if key not in cls.params_type.model_fields:
                known = ", ".join([*cls.params_type.model_fields, *sorted(METHOD_KEYS)])
                raise _fail(path, f"{where}.{key}", f"unknown key for {name}; known: {known}")
            values = v if isinstance(v, list) else [v]
            if not values:
                raise _fail(path, f"{where}.{key}", "empty list")
            grids.append([(key, x) for x in values])
        for combo in itertools.product(*grids):
            params = dict(combo)
            act = params.pop("activation")
            try:
                parsed = parse_params(cls, params)
            except ConfigError as exc:
                raise _fail(path, where, str(exc)) from None
            overrides: dict[str, Any] = {"objective": name} if name != "lil" else {}
            if name == "lil":
                overrides.update(parsed.model_dump(include=set(params)))
            elif params:
                overrides["objective_params"] = parsed.model_dump(include=set(params))
            if sn:
                overrides["spectral_norm"] = True
            if act is not None and act != "tanh":  # tanh, the default, adds no key
                overrides["activation"] = act
            try:
                config = TrainConfig.for_dataset(dataset, **overrides).validate()
            except ConfigError as exc:
                raise _fail(path, where, str(exc)) from None
            beta = float(overrides.get("beta", 0.0))
            settings.append(Setting(config.label(), tuple(sorted(overrides.items())), beta))
    return tuple(settings)


def _external_models(path: Path, value: Any) -> tuple[Setting, ...]:
    """`models:` entries, each {name, file} or {name, factory, weights}; paths are relative
    to the suite file. Checked here (files exist, names unique); loaded when the suite runs."""
    if value is None:
        return ()
    if not isinstance(value, list) or not value:
        raise _fail(path, "models", "expected a list of {name, file} or {name, factory, weights}")
    out = []
    for i, entry in enumerate(value):
        where = f"models[{i}]"
        if not isinstance(entry, dict) or not isinstance(entry.get("name"), str):
            raise _fail(path, where, "expected a mapping with a 'name'")
        extra = set(entry) - {"name", "file", "factory", "weights"}
        if extra:
            raise _fail(
                path,
                f"{where}.{sorted(extra)[0]}",
                "unknown key; known: name, file, factory, weights",
            )
        if ("file" in entry) == ("factory" in entry):
            raise _fail(path, where, "give a file (.pt2 or TorchScript) or a factory with weights")
        weights = None
        if "file" in entry:
            model = str(path.parent / str(entry["file"]))
            if not Path(model).is_file():
                raise _fail(path, f"{where}.file", f"no such file: {model}")
            sniff_model_file(Path(model), what=f"{path}: {where}.file")
        else:
            model = str(entry["factory"])
            if not re.match(r"^[A-Za-z_][\w.]*:[A-Za-z_]\w*$", model) or "weights" not in entry:
                raise _fail(path, where, "a factory is package.module:function, with weights")
            weights = path.parent / str(entry["weights"])
            if not weights.is_file():
                raise _fail(path, f"{where}.weights", f"no such file: {weights}")
        ext = ExternalEntry(entry["name"], model, weights)
        out.append(Setting(entry["name"], (("external", ext),), 0.0))
    return tuple(out)
