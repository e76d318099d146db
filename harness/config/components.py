"""selectors/components.toml (what is mutated, and which tests guard it) and
selectors/equivalent_mutants.toml (mutants that no test can kill, each with its reason).

Every key is checked; a mistake is one ConfigError naming the file, the key and the fix, e.g.

    selectors/components.toml: components.archive.modules[0]: module 'ptycho.archiv' not found
    (no ptycho/archiv.py or ptycho/archiv/__init__.py under the project root; fix the dotted name)
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from harness.config.owners import OWNERS_FILE, Owners
from harness.config.owners import load as load_owners
from harness.config import selectors
from harness.config.files import ConfigError, Fields, read_toml

COMPONENTS_FILE = "selectors/components.toml"
EQUIVALENTS_FILE = "selectors/equivalent_mutants.toml"


@dataclass(frozen=True)
class Settings:
    operators: tuple[str, ...]      # cosmic-ray operator names
    one_per_position: bool          # keep one mutant per operator and source position
    timeout_factor: float           # a mutant's timeout: factor x the unmutated run, ...
    timeout_min_s: float            # ... at least this
    workers: int                    # parallel mutant runs (each in its own scratch copy)
    threads: int                    # OMP/MKL/TF/torch threads per test process


@dataclass(frozen=True)
class Component:
    name: str
    description: str
    owner: str                      # a component of selectors/owners.toml
    modules: tuple[str, ...]        # dotted names
    paths: tuple[str, ...]          # their files, relative to the project root (posix)
    functions: tuple[str, ...]      # only mutants inside these definitions (empty: all)
    groups: tuple[str, ...]         # groups of selectors/groups.toml whose tests guard it
    tests: tuple[str, ...]          # further test paths / node ids
    target: float | None            # minimum score (killed + timed out) / (mutants - equivalent)
    forbid_imports: tuple[str, ...]  # top-level modules its test processes must not import
    mutant_seconds: float           # typical test time of one mutant: shard planning

    def test_targets(self, config: selectors.HarnessConfig | None) -> list[str]:
        """pytest arguments selecting the guarding tests: the groups' paths and node ids, then
        `tests`, each once."""
        targets: list[str] = []
        for name in self.groups:
            group = config.groups[name]
            targets += [*group.paths, *group.node_ids]
        return list(dict.fromkeys(targets + list(self.tests)))


@dataclass(frozen=True)
class Equivalent:
    file: str
    line: int
    operator: str
    column: int | None
    reason: str
    index: int                      # position in the file (for messages)

    def matches(self, mutant) -> bool:
        return (mutant.file == self.file and mutant.line == self.line
                and mutant.operator == self.operator
                and (self.column is None or mutant.column == self.column))


@dataclass(frozen=True)
class MutationConfig:
    settings: Settings
    components: dict[str, Component]
    equivalents: tuple[Equivalent, ...]
    owners: Owners
    harness: selectors.HarnessConfig | None


def module_file(project_root: Path, dotted: str) -> Path | None:
    """The source file of a dotted module name under the project root, or None."""
    parts = dotted.split(".")
    if not all(part.isidentifier() for part in parts):
        return None
    base = Path(project_root).joinpath(*parts)
    for candidate in (base.with_suffix(".py"), base / "__init__.py"):
        if candidate.is_file():
            return candidate
    return None


def known_operators() -> set[str]:
    import cosmic_ray.plugins

    return set(cosmic_ray.plugins.operator_names())


def load(project_root: Path,
         harness_config: selectors.HarnessConfig | None = None) -> MutationConfig:
    """selectors/components.toml, checked. `harness_config`: the project's selectors, when the
    caller has read them already (else read here if a component names groups)."""
    project_root = Path(project_root)
    document = read_toml(project_root / COMPONENTS_FILE)
    f = Fields(COMPONENTS_FILE, document)
    f.only({"settings", "components"})
    s = f.sub("settings", required=True)
    s.only({"operators", "one_per_position", "timeout_factor", "timeout_min_s", "workers",
            "threads"})
    operators = s.texts("operators", required=True)
    available = known_operators()
    for index, name in enumerate(operators):
        if name not in available:
            raise s.fail(f"operators[{index}]", f"unknown cosmic-ray operator {name!r} (list "
                                                "them with `cosmic-ray operators`)")
    settings = Settings(operators, s.boolean("one_per_position", True),
                        s.number("timeout_factor", 4.0, positive=True),
                        s.number("timeout_min_s", 30.0, positive=True),
                        s.integer("workers", 2, minimum=1), s.integer("threads", 1, minimum=1))

    owners = load_owners(project_root)
    c = f.sub("components", required=True)
    if not c.table:
        raise c.fail("", "no component (add a [components.<name>] table)")
    components = {}
    for name in c.table:
        e = c.sub(name)
        e.only({"description", "owner", "modules", "functions", "groups", "tests", "target",
                "forbid_imports", "mutant_seconds"})
        owner = e.text("owner", required=True)
        if owner not in owners.components:
            raise e.fail("owner", f"unknown owner component {owner!r} (use one of "
                                  f"{', '.join(sorted(owners.components))} from "
                                  f"{OWNERS_FILE})")
        modules = e.texts("modules", required=True)
        paths = []
        for index, dotted in enumerate(modules):
            path = module_file(project_root, dotted)
            if path is None:
                relative = dotted.replace(".", "/")
                raise e.fail(f"modules[{index}]", f"module {dotted!r} not found (no {relative}.py "
                                                  f"or {relative}/__init__.py under the project "
                                                  "root; fix the dotted name)")
            paths.append(path.relative_to(project_root).as_posix())
        groups = e.texts("groups")
        if groups and harness_config is None:
            harness_config = selectors.load(project_root)
        for index, group in enumerate(groups):
            if group not in harness_config.groups:
                raise e.fail(f"groups[{index}]", f"unknown group {group!r} (use one of "
                                                 f"{', '.join(harness_config.groups)} from "
                                                 f"{selectors.GROUPS_FILE})")
        tests = e.texts("tests")
        for index, test in enumerate(tests):
            if not (project_root / test.split("::", 1)[0]).exists():
                raise e.fail(f"tests[{index}]", f"{test.split('::', 1)[0]} does not exist (give "
                                                "a test file or folder, or a node id in one)")
        if not groups and not tests:
            raise e.fail("tests", "no guarding tests (add `groups` and/or `tests`)")
        target = e.number("target")
        if target is not None and not 0 < target <= 1:
            raise e.fail("target", f"must be a fraction in (0, 1], e.g. 0.9 (got {target!r})")
        components[name] = Component(
            name, e.text("description", required=True), owner, modules, tuple(paths),
            e.texts("functions"), groups, tests, target, e.texts("forbid_imports"),
            e.number("mutant_seconds", 1.0, positive=True))
    return MutationConfig(settings, components, load_equivalents(project_root), owners,
                          harness_config)


def load_equivalents(project_root: Path) -> tuple[Equivalent, ...]:
    """The committed equivalent mutants (a missing file: none)."""
    path = Path(project_root) / EQUIVALENTS_FILE
    if not path.is_file():
        return ()
    document = read_toml(path)
    f = Fields(EQUIVALENTS_FILE, document)
    f.only({"equivalent"})
    entries = document.get("equivalent", [])
    if not isinstance(entries, list):
        raise f.fail("equivalent", "must be an array of tables ([[equivalent]])")
    result = []
    for index, entry in enumerate(entries):
        e = Fields(EQUIVALENTS_FILE, entry, f"equivalent[{index}]")
        e.only({"file", "line", "column", "operator", "reason"})
        file = e.text("file", required=True)
        if not (Path(project_root) / file).is_file():
            raise e.fail("file", f"{file} does not exist (the path of the mutated module, "
                                 "relative to the project root)")
        result.append(Equivalent(file, e.integer("line", required=True, minimum=1),
                                 e.text("operator", required=True), e.integer("column"),
                                 e.text("reason", required=True), index))
    return tuple(result)


def select(config: MutationConfig, names: list[str] | tuple[str, ...]) -> list[Component]:
    """The named components in config order (all of them when none is named)."""
    for name in names:
        if name not in config.components:
            raise ConfigError(f"{COMPONENTS_FILE}: no component {name!r} (use one of "
                              f"{', '.join(config.components)})")
    return [c for n, c in config.components.items() if not names or n in names]
