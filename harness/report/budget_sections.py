"""Between report.json and the budget checks: the failures and artifact problems of a report as
escalation inputs, and the budget verdicts and escalations as report sections (findings)."""
from __future__ import annotations

from pathlib import Path

from harness.measure import contention
from harness.records import baselines
from harness.report.types import RunReport
from harness.verdicts import budgets, escalation

SOURCE = "budgets"  # the `source` of the budget checks' finding sections


def failures_of(report: RunReport, run_dir: Path | None) -> list[escalation.Failure]:
    """Failed / errored tests with their failure text: the log's failure part (pytest's
    longrepr, with its "E " lines) when the log is there, else the short message."""
    failures = []
    for test in report.tests:
        if test["outcome"] not in ("failed", "error"):
            continue
        text = test.get("message") or ""
        log = (run_dir / test["log"]) if run_dir and test.get("log") else None
        if log is not None and log.is_file():
            content = log.read_text(encoding="utf-8", errors="replace")
            marker = content.find("----- failure")
            if marker >= 0:
                text = content[marker:]
        failures.append(escalation.Failure(test["nodeid"], test.get("group"), text,
                                           test.get("log")))
    return failures


def artifact_problems(report: RunReport) -> list[escalation.ArtifactProblem]:
    groups = {t["nodeid"]: t["group"] for t in report.tests}
    return [escalation.ArtifactProblem(v["path"], f"[{v.get('rule')}] {v.get('message')}",
                                       v.get("nodeid"), groups.get(v.get("nodeid")))
            for v in report.validation.get("failures", [])]


def describe_reference(reference: baselines.Reference,
                       estimated_factor: float | None = None) -> str:
    margin = ("" if estimated_factor is None else
              f"; estimated verdicts fail the gate only beyond x{estimated_factor:g} of their "
              "baseline, inside that they are advisory")
    if reference.baseline is None:
        return ("reference: no recorded baseline (baselines/runtime/ is empty, no provisional "
                "one yet): bands use baseline_s defaults of selectors/budgets.toml, marked "
                f"estimated{margin}")
    speed = ("" if reference.calibration_s is None
             else f", session calibration {reference.calibration_s:.4f} s")
    if reference.provisional:
        fallback = ("" if reference.fallback is None else
                    f"; subjects it lacks: baseline {reference.fallback.fingerprint_hash} of "
                    f"another machine, estimated{margin}")
        return (f"reference: PROVISIONAL baseline of this machine "
                f"({reference.baseline.fingerprint_hash}) from its {reference.provisional_runs} "
                f"newest green ledger runs, exact{speed} (commit it: `harness baseline adopt`)"
                f"{fallback}")
    if reference.exact:
        return f"reference: baseline {reference.baseline.fingerprint_hash} from this machine{speed}"
    return (f"reference: baseline {reference.baseline.fingerprint_hash} from the nearest "
            f"machine, not scaled (verdicts estimated{margin}); exact after "
            "enough green runs here (provisional baseline) or `harness baseline record`")


TITLE = "Runtime budgets"


def _title_mark(reference: baselines.Reference) -> str:
    """What the reference is, in the section's title (shown even where the section is folded)."""
    if reference.provisional:
        return " · PROVISIONAL baseline of this machine"
    if reference.exact:
        return ""
    return " · estimated (no baseline of this machine yet)"


def budget_section(verdicts: list[budgets.Verdict], reference: baselines.Reference,
                    notes: list[str], measured: dict,
                    estimated_factor: float | None = None,
                    contended: contention.Contention | None = None) -> dict:
    findings = [v for v in verdicts if v.finding]
    advice = [v for v in verdicts if v.advice]
    items = [describe_reference(reference, estimated_factor), *notes]
    if contended is not None:
        items.insert(1, contended.describe())
    items += [f"{v.summary()} — {v.basis}" for v in findings + advice]
    items += [v.summary() for v in verdicts if v.status == "ok"]
    return {"source": SOURCE, "title": TITLE + _title_mark(reference),
            "severity": "violation" if findings else "warning" if advice else "info",
            "items": items,
            "attach": {"budgets": {
                "baseline": reference.baseline.fingerprint_hash if reference.baseline else None,
                "exact": reference.exact, "provisional_runs": reference.provisional_runs,
                "calibration_s": reference.calibration_s,
                "findings": len(findings), "advisories": len(advice),
                "contention": contended.as_dict() if contended else None,
                "verdicts": [v.as_dict() for v in verdicts], "measurements": measured}}}


def escalation_section(found: list[escalation.Escalation]) -> dict:
    items = [f"{e.title} -> {e.component} (owner {e.owner}; contact {e.contact}); subjects "
             f"{', '.join(e.subjects)}; next step: {e.next_step}; evidence: "
             f"{' · '.join(line.strip() for line in e.evidence)}" for e in found]
    return {"source": "escalation", "title": "Escalations",
            "severity": "violation" if found else "info",
            "items": items or ["nothing to escalate"],
            "attach": {"escalations": [e.as_dict() for e in found]}}
