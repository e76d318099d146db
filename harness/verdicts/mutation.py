"""Scores per component, findings and escalations for surviving mutants, and report.json's
`mutation` section.

score = (killed + timed out) / (mutants - equivalent - errors), the Stryker convention (a mutant
that hangs the tests is noticed by pytest-timeout in a real run). A component with a `target`
below which it falls is a violation (the run exits 4, like a budget finding); survivors of a
component that meets its target (or has none) are a warning. Every survivor is listed with
file:line and its diff and routed to the component's owner (selectors/owners.toml) as an
escalation, like any other finding.
"""
from __future__ import annotations

from typing import Any, Iterable

from harness.config.components import Equivalent, MutationConfig
from harness.verdicts import escalation

# what happened to one mutant (harness.runs.mutation runs them)
KILLED, SURVIVED, TIMED_OUT, ERROR = "killed", "survived", "timed_out", "error"
OUTCOMES = (KILLED, SURVIVED, TIMED_OUT, ERROR)

TRIGGER, TITLE = "mutation_survivor", "Mutation survivors"
SOURCE = "mutation"
FINDING_LINES = 40      # survivors listed per component in a findings section


def mark_equivalents(mutants: list[dict], equivalents: Iterable[Equivalent]) -> list[Equivalent]:
    """Set `equivalent` (the reason) on the survivors an entry names; returns the entries that
    matched no mutant of this run (stale: the code moved, or the mutant is now killed)."""
    used = set()
    for mutant in mutants:
        for entry in equivalents:
            if entry.file == mutant["file"] and entry.line == mutant["line"] \
                    and entry.operator == mutant["operator"] \
                    and entry.column in (None, mutant["column"]):
                used.add(entry.index)
                if mutant["outcome"] == SURVIVED:
                    mutant["equivalent"] = entry.reason
    return [entry for entry in equivalents if entry.index not in used]


def component_summary(component, mutants: list[dict], baseline: dict | None) -> dict[str, Any]:
    counts = dict.fromkeys(OUTCOMES, 0)
    equivalent = 0
    for mutant in mutants:
        if mutant["outcome"] == SURVIVED and mutant.get("equivalent"):
            equivalent += 1
        else:
            counts[mutant["outcome"]] += 1
    scored = counts[KILLED] + counts[SURVIVED] + counts[TIMED_OUT]
    score = (counts[KILLED] + counts[TIMED_OUT]) / scored if scored else None
    if score is None:
        verdict = "empty"
    elif component.target is None:
        verdict = "no_target"
    else:
        verdict = "ok" if score + 1e-12 >= component.target else "below_target"
    return {"description": component.description, "owner": component.owner,
            "modules": list(component.modules), "files": list(component.paths),
            "tests": list(component.tests), "groups": list(component.groups),
            "target": component.target, "total": len(mutants), **counts,
            "equivalent": equivalent, "score": None if score is None else round(score, 4),
            "verdict": verdict, "seconds": round(sum(m["seconds"] for m in mutants), 3),
            "baseline": baseline}


def pct(score: float | None) -> str:
    return "-" if score is None else f"{100 * score:.1f} %"


def survivor_line(mutant: dict) -> str:
    changed = [line for line in mutant.get("diff", "").splitlines()
               if line[:1] in "+-" and not line.startswith(("+++", "---"))]
    return (f"{mutant['file']}:{mutant['line']} [{mutant['operator'].split('/')[-1]}] "
            + " / ".join(line.strip() for line in changed)[:240])


def findings(summary: dict[str, dict], mutants: list[dict], stale: list[Equivalent],
             errors: list[dict]) -> list[dict]:
    sections = []
    for name, comp in summary.items():
        survivors = [m for m in mutants if m["component"] == name and m["outcome"] == SURVIVED
                     and not m.get("equivalent")]
        if comp["verdict"] == "below_target" or survivors:
            items = [survivor_line(m) for m in survivors[:FINDING_LINES]]
            if len(survivors) > FINDING_LINES:
                items.append(f"... and {len(survivors) - FINDING_LINES} more (report.json "
                             "mutation.mutants)")
            target = "" if comp["target"] is None else f", target {pct(comp['target'])}"
            sections.append({
                "source": SOURCE, "severity": "violation" if comp["verdict"] == "below_target"
                else "warning",
                "title": f"Mutation score {name}: {pct(comp['score'])}{target}, "
                         f"{len(survivors)} survivor(s)",
                "items": items})
    if stale:
        sections.append({"source": SOURCE, "severity": "warning",
                         "title": "Equivalent-mutant entries that matched no mutant",
                         "items": [f"equivalent[{e.index}] {e.file}:{e.line} {e.operator}: "
                                   "remove it, or fix its line after the code moved"
                                   for e in stale]})
    if errors:
        sections.append({"source": SOURCE, "severity": "warning",
                         "title": "Mutants that could not be tested",
                         "items": [f"{m['file']}:{m['line']} {m['operator']}: {m.get('killed_by')}"
                                   for m in errors]})
    return sections


def escalations(config: MutationConfig, summary: dict[str, dict], mutants: list[dict],
                run_dir: str) -> list[dict]:
    """One escalation per component with survivors, to its owner: the first step says how to
    kill or excuse a survivor, then the owner's own steps."""
    result = []
    for name, comp in summary.items():
        survivors = [m for m in mutants if m["component"] == name and m["outcome"] == SURVIVED
                     and not m.get("equivalent")]
        if not survivors:
            continue
        owner = config.owners.components[comp["owner"]]
        target = (comp["groups"] or comp["tests"] or [name])[0]
        values = {"target": target, "run_dir": run_dir or "<run folder>", "label": owner.label,
                  "contact": owner.contact, "trigger": TITLE,
                  "subjects": ", ".join(dict.fromkeys(m["file"] + ":" + str(m["line"])
                                                      for m in survivors))}
        first = (f"Kill each survivor with a test that fails on its diff (in "
                 f"{', '.join(comp['groups'] + comp['tests'])}), or list it with its reason in "
                 f"selectors/equivalent_mutants.toml; re-check with `harness mutate {name}`.")
        steps = (first, *(step.format(**values) for step in owner.steps))
        evidence = [f"{survivor_line(m)}\n{m.get('diff', '')}" for m in survivors]
        evidence.append(f"score {pct(comp['score'])} (target {pct(comp['target'])})")
        if run_dir:
            evidence.append(f"run folder: {run_dir}")
        result.append(escalation.Escalation(
            TRIGGER, f"{TITLE}: {name}", comp["owner"], owner.owner, owner.contact, owner.label,
            target, tuple(values["subjects"].split(", ")), tuple(evidence), first,
            steps).as_dict())
    return result


def status_of(summary: dict[str, dict], errors: list[dict]) -> str:
    if any(c["verdict"] == "below_target" for c in summary.values()):
        return "over_budget"
    return "passed" if summary else "empty"


def ledger_field(mutation: dict) -> dict[str, dict]:
    """What the ledger line keeps per component (the trend in `harness history`)."""
    return {name: {key: comp[key] for key in ("score", "target", "verdict", "total", KILLED,
                                              SURVIVED, TIMED_OUT, "equivalent", ERROR)}
            for name, comp in mutation.get("components", {}).items()}
