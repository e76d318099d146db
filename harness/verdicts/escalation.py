"""Escalations: what in a run needs an owner's attention, whose it is and what to do next.

Triggers (routing in selectors/owners.toml): a runtime budget verdict that is not ok, a failing
test whose failure matches a trigger (checkpoint load failure, POLICY-001 / CONFIG-001
violation, parity breach), an artifact that failed validation. Each becomes an Escalation
(plain data for report.md / report.json) naming the component, owner, contact, evidence and next
step; findings of the same trigger, component and re-run target are reported together.

A run's exit status: harness.report.exitcodes.ExitCode.
"""
from __future__ import annotations

import fnmatch
from dataclasses import asdict, dataclass
from pathlib import PurePath
from typing import Any, Iterable, Mapping

from harness.config.owners import ARTIFACT, RUNTIME, Owners, Trigger
from harness.verdicts import budgets



# ---------------------------------------------------------------- what happened in a run

@dataclass(frozen=True)
class Failure:
    """A failed or errored test. `text`: its failure text - pytest's longrepr, or just the crash
    message (`report.longrepr.reprcrash.message`); `log`: where its log is."""

    nodeid: str
    group: str | None
    text: str
    log: str | None = None

    def error_lines(self) -> list[str]:
        """The exception lines: a longrepr's "E " lines (its source lines name functions and
        exception classes without having raised them), else every line of a bare message."""
        lines = [line.strip() for line in self.text.splitlines() if line.strip()]
        errors = [line[1:].strip() for line in lines if line.startswith("E ")]
        return errors or lines


@dataclass(frozen=True)
class ArtifactProblem:
    """An artifact that failed validation, and the test that left it (if known)."""

    path: str
    problem: str
    nodeid: str | None = None
    group: str | None = None


@dataclass(frozen=True)
class Escalation:
    trigger: str            # trigger name in owners.toml, e.g. "policy_violation"
    title: str              # its title, e.g. "POLICY-001 violation"
    component: str
    owner: str
    contact: str
    label: str
    target: str | None      # the group or cadence to re-run
    subjects: tuple[str, ...]
    evidence: tuple[str, ...]
    next_step: str
    steps: tuple[str, ...]

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


def _explaining_line(failure: Failure, needles: Iterable[str]) -> str:
    """The error line that explains a failure: one with a matched string, else the last."""
    lines = failure.error_lines()
    for line in lines:
        if any(needle in line for needle in needles):
            return line[:300]
    return lines[-1][:300] if lines else "(no failure text)"


def escalate(owners: Owners, *, verdicts: Iterable[budgets.Verdict] = (),
             failures: Iterable[Failure] = (), problems: Iterable[ArtifactProblem] = (),
             test_groups: Mapping[str, str] = {}, group_owners: Mapping[str, str] = {},
             run_dir: str = "", cadence: str | None = None) -> list[Escalation]:
    """All escalations of one run.

    verdicts: budgets.judge() output (+ timeout verdicts); only findings escalate.
    failures: failed/errored tests; timeouts are left to their budget verdict.
    problems: artifacts that failed validation.
    test_groups: node id -> group; group_owners: group -> component (groups.toml `owner`).
    run_dir: the run folder (evidence and steps point at it); cadence: the run's cadence.
    """
    found: dict[tuple[str, str, str | None], tuple[list[str], list[str]]] = {}

    def add(trigger: Trigger, component: str, target: str | None, subject: str, lines: list[str]):
        subjects, evidence = found.setdefault((trigger.name, component, target), ([], []))
        if subject not in subjects:
            subjects.append(subject)
        evidence.extend(lines)

    runtime = owners.triggers[RUNTIME]
    for verdict in verdicts:
        if not verdict.finding:
            continue
        group = {"group": verdict.subject, "test": test_groups.get(verdict.subject)}.get(verdict.kind)
        component = group_owners.get(group, runtime.component) if group else runtime.component
        target = group or (verdict.subject if verdict.kind == "cadence" else cadence)
        add(runtime, component, target, verdict.subject,
            [verdict.summary(), f"  basis: {verdict.basis}"])

    failure_triggers = [t for t in owners.triggers.values() if t.name not in (RUNTIME, ARTIFACT)]
    for failure in failures:
        if budgets.timed_out(failure.text):
            continue
        trigger = next((t for t in failure_triggers if t.matches(failure)), None)
        if trigger is None:
            continue
        line = f"{failure.nodeid}: {_explaining_line(failure, trigger.match_text)}"
        add(trigger, trigger.component, failure.group or cadence, failure.nodeid,
            [line] + ([f"  log: {failure.log}"] if failure.log else []))

    artifact = owners.triggers[ARTIFACT]
    for problem in problems:
        name = PurePath(problem.path).name
        component = next((comp for glob, comp in artifact.by_artifact
                          if fnmatch.fnmatchcase(name, glob)), artifact.component)
        who = f" (left by {problem.nodeid})" if problem.nodeid else ""
        add(artifact, component, problem.group or cadence, problem.path,
            [f"{problem.path}: {problem.problem}{who}"])

    escalations = []
    for (trigger_name, component_name, target), (subjects, evidence) in found.items():
        trigger, component = owners.triggers[trigger_name], owners.components[component_name]
        values = {"target": target or "<cadence>", "run_dir": run_dir or "<run folder>",
                  "label": component.label, "contact": component.contact,
                  "trigger": trigger.title, "subjects": ", ".join(subjects)}
        steps = tuple(step.format(**values) for step in component.steps)
        escalations.append(Escalation(
            trigger_name, trigger.title, component_name, component.owner, component.contact,
            component.label, target, tuple(subjects),
            tuple(evidence) + ((f"run folder: {run_dir}",) if run_dir else ()),
            steps[0], steps))
    return escalations
