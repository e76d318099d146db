"""selectors/owners.toml: the components (owner, contact, label, next steps) and the triggers
that route a finding to one of them - parsed and checked once into `Owners`. What a run's
findings become with them is harness.verdicts.escalation.
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from harness.config.files import Fields, read_toml

OWNERS_FILE = "selectors/owners.toml"
RUNTIME, ARTIFACT = "runtime_budget", "artifact_validation"


@dataclass(frozen=True)
class Component:
    name: str
    owner: str
    contact: str
    label: str
    steps: tuple[str, ...]


@dataclass(frozen=True)
class Trigger:
    name: str
    title: str
    component: str
    match_text: tuple[str, ...] = ()
    match_groups: tuple[str, ...] = ()
    by_artifact: tuple[tuple[str, str], ...] = ()  # (glob, component), in file order

    def matches(self, failure: Any) -> bool:
        """`failure`: a harness.verdicts.escalation.Failure (its error lines and group)."""
        errors = failure.error_lines()
        return (any(text in line for text in self.match_text for line in errors)
                or failure.group in self.match_groups)


@dataclass(frozen=True)
class Owners:
    components: dict[str, Component]
    triggers: dict[str, Trigger]  # in file order


_PLACEHOLDERS = {"target", "run_dir", "label", "contact", "trigger", "subjects"}


def component_names(project_root: Path) -> tuple[str, ...] | None:
    """The owners a selector group can name: the components of the project's owners.toml, in
    file order (None without the file: a project that escalates to nobody names anyone)."""
    path = Path(project_root) / OWNERS_FILE
    if not path.is_file():
        return None
    components = read_toml(path).get("components")
    return tuple(components) if isinstance(components, dict) else ()


def load(project_root: Path = Path(".")) -> Owners:
    return parse(read_toml(Path(project_root) / OWNERS_FILE), OWNERS_FILE)


def parse(document: dict[str, Any], source: str = OWNERS_FILE) -> Owners:
    f = Fields(source, document)
    f.only({"components", "triggers"})
    c = f.sub("components", required=True)
    components = {}
    for name in c.table:
        e = c.sub(name)
        e.only({"owner", "contact", "label", "steps"})
        steps = e.texts("steps", required=True)
        for index, step in enumerate(steps):
            try:
                step.format(**dict.fromkeys(_PLACEHOLDERS, ""))
            except (KeyError, IndexError, ValueError) as exc:
                raise e.fail(f"steps[{index}]", f"bad placeholder {exc} (use "
                                                f"{', '.join('{' + p + '}' for p in sorted(_PLACEHOLDERS))})")
        components[name] = Component(name, e.text("owner", required=True),
                                     e.text("contact", required=True),
                                     e.text("label", required=True), steps)

    t = f.sub("triggers", required=True)
    for required in (RUNTIME, ARTIFACT):
        if required not in t.table:
            raise t.fail(required, "missing (the harness raises it itself; add the table)")
    triggers = {}
    for name in t.table:
        e = t.sub(name)
        e.only({"title", "component", "match_text", "match_groups", "by_artifact"})
        by_artifact = e.sub("by_artifact")
        routes = tuple((glob, by_artifact.text(glob)) for glob in by_artifact.table)
        trigger = Trigger(name, e.text("title", required=True), e.text("component", required=True),
                          e.texts("match_text"), e.texts("match_groups"), routes)
        for key, component in [("component", trigger.component),
                               *((f"by_artifact.{glob}", comp) for glob, comp in routes)]:
            if component not in components:
                raise e.fail(key, f"unknown component {component!r} (use one of "
                                  f"{', '.join(sorted(components))})")
        if name not in (RUNTIME, ARTIFACT) and not (trigger.match_text or trigger.match_groups):
            raise e.fail("match_text", "a failure trigger needs match_text or match_groups")
        triggers[name] = trigger
    return Owners(components, triggers)
