"""Selector groups and run settings: load and check `selectors/groups.toml` and
`selectors/harness.toml`, then answer "which group does this test belong to" and "which groups
does this cadence / group name select".

Pure standard library (tomllib): the pytest plugin and the CLI both import it at start-up.
Every problem is one `ConfigError` whose message names the file, the entry and the fix.
"""
from __future__ import annotations

import fnmatch
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from harness.config import budgets, owners
from harness.config.files import ConfigError, Fields, read_toml

GROUPS_FILE = "selectors/groups.toml"
HARNESS_FILE = "selectors/harness.toml"


@dataclass(frozen=True)
class Group:
    name: str
    description: str
    owner: str
    cadences: tuple[str, ...]
    marker: str | None
    paths: tuple[str, ...]
    node_ids: tuple[str, ...]
    persistent_artifacts: bool
    budget: dict[str, Any] = field(default_factory=dict)

    def claims(self, nodeid: str, markers: set[str]) -> bool:
        """True when the test `nodeid` (carrying `markers`) is in this group."""
        file_part = nodeid.split("::", 1)[0]
        if any(is_under(file_part, path) for path in self.paths):
            return True
        if self.marker and self.marker in markers:
            return True
        return any(
            nodeid == node_id or nodeid.startswith((node_id + "::", node_id + "["))
            for node_id in self.node_ids
        )


@dataclass(frozen=True)
class Cadence:
    name: str
    description: str
    persistent_artifacts: bool
    budget: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class RetentionPolicy:
    keep_last: int
    keep_failing: bool
    keep_failing_max: int = 20


@dataclass(frozen=True)
class ValidationSettings:
    checkpoint_module_class: str | None  # what a *.ckpt must rebuild as; None: structure only
    png_min_bytes: int
    log_allow: tuple[str, ...]
    # (glob over the path relative to the run folder, (width, height)): expected PNG sizes
    png_sizes: tuple[tuple[str, tuple[int, int]], ...] = ()

    def png_size_for(self, relative_path: str) -> tuple[int, int] | None:
        """The expected (width, height) of the PNG at `relative_path`: the first matching glob."""
        return next((size for glob, size in self.png_sizes
                     if fnmatch.fnmatchcase(relative_path, glob)), None)


@dataclass(frozen=True)
class Selection:
    """What `harness run` / `--harness-run` targets resolve to."""

    label: str  # run-folder suffix and ledger "cadence": "per_pr", "parity+model_manager"
    targets: tuple[str, ...]
    groups: tuple[str, ...]
    persistent_artifacts: bool  # a selected cadence is configured persistent
    budgets: dict[str, dict[str, Any]]  # cadence name -> its budget table


@dataclass(frozen=True)
class BriefSettings:
    """`harness brief`'s project prose: [brief] of selectors/harness.toml."""
    title: str = "Handoff brief"
    intro: str = ""
    sections: tuple[str, ...] = ()  # Markdown files placed before the generated sections


@dataclass(frozen=True)
class HarnessConfig:
    project_root: Path
    suite_root: str
    groups: dict[str, Group]
    cadences: dict[str, Cadence]
    artifacts_root: str
    retention: RetentionPolicy
    threads_per_worker: int
    package_logger: str  # the logger whose debug records the per-test logs get ('' = none)
    validation: ValidationSettings
    brief: BriefSettings = BriefSettings()

    def in_suite(self, nodeid: str) -> bool:
        return is_under(nodeid.split("::", 1)[0], self.suite_root)

    def groups_of(self, nodeid: str, markers: set[str]) -> list[str]:
        return [name for name, group in self.groups.items() if group.claims(nodeid, markers)]

    def resolve(self, targets: list[str] | tuple[str, ...]) -> Selection:
        """Cadence and/or group names -> the union of their groups (config order)."""
        if not targets:
            raise ConfigError("no cadence or group given (use one of " + self._target_names() + ")")
        wanted: set[str] = set()
        persistent = False
        budgets: dict[str, dict[str, Any]] = {}
        for target in targets:
            if target in self.cadences:
                cadence = self.cadences[target]
                wanted.update(g.name for g in self.groups.values() if target in g.cadences)
                persistent = persistent or cadence.persistent_artifacts
                if cadence.budget:
                    budgets[target] = cadence.budget
            elif target in self.groups:
                wanted.add(target)
            else:
                raise ConfigError(
                    f"unknown cadence or group {target!r} (use one of {self._target_names()})"
                )
        ordered = tuple(name for name in self.groups if name in wanted)
        return Selection(
            label=label_of(targets),
            targets=tuple(dict.fromkeys(targets)),
            groups=ordered,
            persistent_artifacts=persistent,
            budgets=budgets,
        )

    def may_contain_selected(self, rel_path: str, selection: Selection) -> bool:
        """Whether collection should enter `rel_path` (a project-relative posix path) for
        `selection`: only the suite root, and inside it nothing that only other groups claim.
        A test there could join a selected group only by being in two groups - an error that
        a full collection (`harness list`) reports."""
        if is_under(self.suite_root, rel_path):  # an ancestor of the suite root
            return True
        if not is_under(rel_path, self.suite_root):
            return False
        selected = [self.groups[name] for name in selection.groups]
        if any(is_under(rel_path, p) or is_under(p, rel_path) for g in selected for p in g.paths):
            return True
        if any(is_under(n.split("::", 1)[0], rel_path) or is_under(rel_path, n.split("::", 1)[0])
               for g in selected for n in g.node_ids):
            return True
        others = [g for g in self.groups.values() if g.name not in selection.groups]
        return not any(is_under(rel_path, p) for g in others for p in g.paths)

    def _target_names(self) -> str:
        return ", ".join([*self.cadences, *self.groups])


def is_under(path: str, prefix: str) -> bool:
    """Posix-path containment: 'a/b/c.py' is under 'a/b'; '.' contains everything."""
    path, prefix = path.strip("/"), prefix.strip("/")
    if prefix in ("", "."):
        return True
    return path == prefix or path.startswith(prefix + "/")


def guardrails_of(project_root: Path):
    """(kind, name) -> that subject's limits in selectors/budgets.toml, the one place budgets
    are configured ({} for a subject it does not list, or a project without the file)."""
    if not (project_root / budgets.BUDGETS_FILE).is_file():
        return lambda kind, name: {}
    table = budgets.load(project_root)

    def guardrails(kind: str, name: str) -> dict[str, Any]:
        limits = table.limits(kind, name)
        return limits.guardrails() if limits else {}
    return guardrails


def _read(project_root: Path, relative: str) -> Fields:
    return Fields(relative, read_toml(project_root / relative, relative))


def load(project_root: Path) -> HarnessConfig:
    """Read and check both TOML files under `project_root/selectors/`."""
    project_root = Path(project_root)
    h = _read(project_root, HARNESS_FILE)
    g = _read(project_root, GROUPS_FILE)

    guardrails = guardrails_of(project_root)
    known_owners = owners.component_names(project_root)
    h.only({"artifacts", "retention", "run", "validation", "brief", "cadences"}, {"cadences"})
    artifacts_root = _artifacts_root(h)
    retention = h.sub("retention")
    retention.only({"keep_last", "keep_failing", "keep_failing_max"})
    run = h.sub("run")
    run.only({"threads_per_worker", "package_logger"})
    validation = h.sub("validation")
    validation.only({"checkpoint_module_class", "png_min_bytes", "png_sizes", "log_allow"})
    log_allow = validation.texts("log_allow")
    for index, pattern in enumerate(log_allow):
        try:
            re.compile(pattern)
        except re.error as exc:
            raise validation.fail(f"log_allow[{index}]", f"invalid regular expression "
                                                         f"{pattern!r}: {exc} (fix the pattern)")

    cadences: dict[str, Cadence] = {}
    cadence_tables = h.sub("cadences", required=True)
    for name, table in cadence_tables.tables().items():
        cadence_tables.name(name)
        table.only({"description", "persistent_artifacts"}, {"description"})
        cadences[name] = Cadence(
            name=name,
            description=table.text("description"),
            persistent_artifacts=table.boolean("persistent_artifacts", False),
            budget=guardrails("cadence", name),
        )
    if not cadences:
        raise h.fail("cadences", "no cadence defined (add a [cadences.<name>] table)")

    g.only({"suite_root", "groups"}, {"suite_root", "groups"})
    suite_root = _normalise_path(g.text("suite_root"))
    groups: dict[str, Group] = {}
    group_tables = g.sub("groups", required=True)
    for name, table in group_tables.tables().items():
        group_tables.name(name)
        if name in cadences:
            raise group_tables.fail(name, f"group name {name!r} is also a cadence in "
                                          f"{HARNESS_FILE} (rename the group or the cadence)")
        table.only({"description", "owner", "cadences", "marker", "paths", "node_ids",
                    "persistent_artifacts"}, {"description", "owner", "cadences"})
        owner = table.text("owner")
        if known_owners is not None and owner not in known_owners:
            raise table.fail("owner", f"unknown owner {owner!r} (use one of "
                             + ", ".join(known_owners) + f": the components of "
                                                         f"{owners.OWNERS_FILE})")
        group_cadences = table.texts("cadences")
        for cadence in group_cadences:
            if cadence not in cadences:
                raise table.fail("cadences", f"unknown cadence {cadence!r} (use one of "
                                             + ", ".join(cadences) + ")")
        marker = table.text("marker")
        if marker is not None:
            table.name("marker", marker)
        paths = tuple(_normalise_path(p) for p in table.texts("paths"))
        node_ids = table.texts("node_ids")
        for entry, values in (("paths", paths), ("node_ids", node_ids)):
            for value in values:
                if not is_under(value.split("::", 1)[0], suite_root):
                    raise table.fail(entry, f"{value!r} is outside suite_root {suite_root!r} "
                                            f"(list only tests under {suite_root}/)")
        if not (marker or paths or node_ids):
            raise group_tables.fail(name, "selects nothing (give it a marker, paths or node_ids)")
        groups[name] = Group(
            name=name,
            description=table.text("description"),
            owner=owner,
            cadences=group_cadences,
            marker=marker,
            paths=paths,
            node_ids=node_ids,
            persistent_artifacts=table.boolean("persistent_artifacts", False),
            budget=guardrails("group", name),
        )
    if not groups:
        raise g.fail("groups", "no group defined (add a [groups.<name>] table)")
    markers = [grp.marker for grp in groups.values() if grp.marker]
    for marker in set(markers):
        if markers.count(marker) > 1:
            raise g.fail("groups", f"marker {marker!r} is used by two groups (give each group "
                                   "its own marker)")

    brief = h.sub("brief")
    brief.only({"title", "intro", "sections"})
    brief_sections = brief.texts("sections")  # read by `harness brief`, which checks them
    png_sizes = []
    sizes = validation.sub("png_sizes")
    for glob, size in sizes.table.items():
        if not (isinstance(size, list) and len(size) == 2
                and all(isinstance(n, int) and not isinstance(n, bool) and n > 0 for n in size)):
            raise sizes.fail(f'"{glob}"', f"expected [width, height], got {size!r} (give the "
                                          "size in pixels as two positive integers, e.g. "
                                          "[128, 128])")
        png_sizes.append((glob, (size[0], size[1])))
    return HarnessConfig(
        project_root=project_root,
        suite_root=suite_root,
        groups=groups,
        cadences=cadences,
        artifacts_root=artifacts_root,
        retention=RetentionPolicy(
            keep_last=retention.integer("keep_last", 20, minimum=1),
            keep_failing=retention.boolean("keep_failing", True),
            keep_failing_max=retention.integer("keep_failing_max", 20),
        ),
        threads_per_worker=run.integer("threads_per_worker", 0),  # 0: automatic
        package_logger=run.text("package_logger", ""),
        validation=ValidationSettings(
            checkpoint_module_class=validation.text("checkpoint_module_class"),
            png_min_bytes=validation.integer("png_min_bytes", 1024),
            log_allow=log_allow,
            png_sizes=tuple(png_sizes),
        ),
        brief=BriefSettings(title=brief.text("title", BriefSettings.title),
                            intro=brief.text("intro", ""), sections=brief_sections),
    )


def artifacts_root_of(project_root: Path) -> str:
    """The `[artifacts] root` of selectors/harness.toml, read and checked on its own: lets
    `harness run` start pytest before it loads the whole configuration."""
    return _artifacts_root(_read(Path(project_root), HARNESS_FILE))


def _artifacts_root(h: Fields) -> str:
    artifacts = h.sub("artifacts")
    artifacts.only({"root"})
    return artifacts.text("root", "artifacts")


def label_of(targets: list[str] | tuple[str, ...]) -> str:
    """A selection's name: its targets in order, each once, joined by '+'."""
    return "+".join(dict.fromkeys(targets))


def find_project_root(start: Path) -> Path:
    """The nearest folder at or above `start` holding selectors/groups.toml."""
    start = Path(start).resolve()
    for folder in (start, *start.parents):
        if (folder / GROUPS_FILE).is_file():
            return folder
    raise ConfigError(f"{GROUPS_FILE}: not found in {start} or any parent folder "
                      "(run from inside the project)")


def _normalise_path(path: str) -> str:
    return Path(path).as_posix().strip("/") or "."
