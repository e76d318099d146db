"""`harness brief`: the handoff brief (docs/handoff_brief.md) rendered from the configuration.

Every table comes from selectors/groups.toml, selectors/harness.toml, selectors/budgets.toml
and selectors/owners.toml as the harness itself reads them (harness.config.selectors, harness.verdicts.budgets,
harness.verdicts.escalation), so the document cannot drift from what runs: a test regenerates it and
compares it with the committed file (`harness brief --check` does the same). The project's own
prose - the title, the opening, and sections such as the package's backend contract - comes
from [brief] of selectors/harness.toml. The output is deterministic: no dates, no machine facts.
"""
from __future__ import annotations

import difflib
import json
from pathlib import Path
from typing import Iterable

from harness.config import selectors
from harness.config import budgets as budgets_module
from harness.config import owners as owners_file
from harness.config.files import config_error
from harness.records import runfolder

BRIEF_FILE = "docs/handoff_brief.md"
METRIC_BASELINES_FILE = "baselines/metrics.json"
SOURCES = (selectors.GROUPS_FILE, selectors.HARNESS_FILE, budgets_module.BUDGETS_FILE,
           owners_file.OWNERS_FILE, METRIC_BASELINES_FILE)
ACCELERATOR_ENV = "HARNESS_ACCELERATOR"

def _md(text: object) -> str:
    return str(text).replace("|", "\\|").replace("\n", " ")


def _table(header: Iterable[str], rows: Iterable[Iterable[object]]) -> list[str]:
    header = list(header)
    lines = ["| " + " | ".join(header) + " |", "|" + "|".join(" --- " for _ in header) + "|"]
    lines += ["| " + " | ".join(_md(cell) for cell in row) + " |" for row in rows]
    return lines


def _seconds(value: float) -> str:
    return f"{value:g} s"


def _limits_text(limits: budgets_module.Limits | None, band: budgets_module.BandRule) -> str:
    """budgets.toml entry in words: ceiling, band, floor."""
    if limits is None:
        return "-"
    parts = []
    if limits.max_s is not None:
        parts.append(f"ceiling {_seconds(limits.max_s)} wall")
    if limits.tolerance_s is not None:
        half = f"± {_seconds(limits.tolerance_s)}"
    elif limits.tolerance_rel is not None:
        half = f"± {limits.tolerance_rel:.0%}"
    else:
        half = "± the [defaults] band"
    if limits.baseline_s is not None:
        parts.append(f"band {_seconds(limits.baseline_s)} {half} (wall clock until a baseline "
                     f"is recorded, then the recorded median on the {band.clock} clock)")
    elif limits.tolerance_s is not None or limits.tolerance_rel is not None:
        parts.append(f"band: the recorded median {half} ({band.clock} clock)")
    if limits.min_s is not None:
        parts.append(f"floor {_seconds(limits.min_s)}")
    return "; ".join(parts) or "-"


class _Notes:
    """The budgets.toml `note` of the entries a table shows: the cell points to it and the
    notes follow the table (a paragraph of reasons does not fit in a cell)."""

    def __init__(self, band: budgets_module.BandRule):
        self.band, self.notes = band, []

    def cell(self, subject: str, limits: budgets_module.Limits | None) -> str:
        text = _limits_text(limits, self.band)
        if limits is not None and limits.note:
            self.notes.append((subject, limits.note))
            text += "; see the note below"
        return text

    def lines(self) -> list[str]:
        """Markdown after the table; [] when no entry has a note. Empties the list."""
        notes, self.notes = self.notes, []
        if not notes:
            return []
        return ["", "Why these guardrails:", ""] + [f"- **{subject}**: {_md(note)}"
                                                     for subject, note in notes]


def _selection_text(group: selectors.Group) -> str:
    picks = [f"marker `{group.marker}`"] if group.marker else []
    picks += [f"`{path}/`" for path in group.paths] + [f"`{node}`" for node in group.node_ids]
    return ", ".join(picks)


def _pytest_selector(group: selectors.Group) -> str:
    return f"`harness run {group.name}` (= `pytest --harness-run {group.name}`)"


def _quality_lines(root: Path) -> list[str]:
    """The reconstruction-quality gates, from the committed metric baselines (their rules and
    recorded numbers); nothing when the project has no such file."""
    try:
        document = json.loads((root / METRIC_BASELINES_FILE).read_text(encoding="utf-8"))
        scenarios = document["scenarios"]
        rows = [(name, metric, f"{m['baseline']:.4f}", f"{m['tolerance']:.4f}",
                 f"{m['untrained']:.4f}", "yes" if m["gated"] else "no (learning check only)")
                for name, entry in sorted(scenarios.items())
                for metric, m in entry["metrics"].items()]
    except (OSError, ValueError, KeyError, TypeError, AttributeError):
        return []
    lines = ["### How reconstruction quality is judged", "",
             f"Metric baselines: `{METRIC_BASELINES_FILE}` (recorded with "
             f"`{document.get('record_command', 'python benchmarks/record_metric_baselines.py')}`"
             f"; the spread over seeds and numeric variants is stored with each metric).", "",
             f"- Tolerance: {document.get('tolerance_rule', 'not stated')}.",
             f"- Gate: {document.get('gate_rule', 'not stated')}.",
             f"- Parity: {document.get('parity_rule', 'not stated')}.", ""]
    lines += _table(["scenario", "metric", "baseline", "tolerance", "untrained", "gated"], rows)
    return lines + [""]


def _project_section(root: Path, section: str, index: int) -> str:
    try:
        return (root / section).read_text(encoding="utf-8").rstrip("\n")
    except (OSError, UnicodeDecodeError) as exc:
        raise config_error(selectors.HARNESS_FILE, f"brief.sections[{index}]",
                           f"cannot read {section!r} ({exc.__class__.__name__}; give the path of "
                           "a Markdown file under the project root)") from None


def render(project_root: Path) -> str:
    """The brief as Markdown, from the four config files under `project_root/selectors/`."""
    root = Path(project_root)
    settings = selectors.load(root)
    budget = budgets_module.load(root)
    budget.check_names(settings.groups, settings.cadences)
    owners = owners_file.load(root)
    band = budget.band

    project = settings.brief
    lines = [
        f"# {project.title}",
        "",
        "<!-- Generated by `harness brief` from " + ", ".join(SOURCES) + ". Do not edit by hand:"
        " change the configuration and run `harness brief` (a test fails when this file and the"
        " configuration disagree). -->",
        "",
        (f"{project.intro} " if project.intro else "") + "Every table below is generated from "
        "the harness configuration, so it states what the harness enforces today.",
        "",
    ]
    for index, section in enumerate(project.sections):
        lines += [_project_section(root, section, index), ""]
    lines += [
        "## 2. Regression selectors and cadence",
        "",
        f"Regression tests live under `{settings.suite_root}/`; each belongs to exactly one "
        "group (a test in none or two is a collection error).",
        "",
    ]
    notes = _Notes(band)
    group_rows = []
    for group in settings.groups.values():
        group_rows.append([f"**{group.name}**", group.description, group.owner,
                           ", ".join(group.cadences), _selection_text(group),
                           _pytest_selector(group),
                           notes.cell(group.name, budget.limits("group", group.name))])
    lines += _table(["group", "what it guards", "owner", "cadences", "selects", "run it",
                     "runtime guardrails (budgets.toml)"], group_rows)
    lines += notes.lines()
    lines += ["", "### Cadences", ""]
    cadence_rows = []
    for cadence in settings.cadences.values():
        members = [g.name for g in settings.groups.values() if cadence.name in g.cadences]
        cadence_rows.append([f"**{cadence.name}**", cadence.description, ", ".join(members),
                             notes.cell(cadence.name, budget.limits("cadence", cadence.name)),
                             "kept" if cadence.persistent_artifacts else "only failing / invalid",
                             f"`harness run {cadence.name}` / `nox -s {cadence.name}`"])
    lines += _table(["cadence", "purpose", "groups", "runtime guardrails", "artifacts of "
                     "passing tests", "run it"], cadence_rows)
    lines += notes.lines()
    if budget.tests:
        lines += ["", "### Per-test budgets", ""]
        lines += _table(["test (node id or glob)", "guardrail"],
                        [[f"`{pattern}`", notes.cell(f"`{pattern}`", limits)]
                         for pattern, limits in budget.tests.items()])
        lines += notes.lines()
    lines += [
        "",
        "### How runtimes are judged",
        "",
        "- Ceilings (`max_s`) are wall time, never scaled: what CI waits for.",
        f"- Bands are two-sided around a baseline, judged on the **{band.clock}** clock for a "
        f"recorded baseline and on wall time for a `baseline_s` default: above is "
        f"`too_slow`, below is `too_fast` (work was skipped). Half-width without an explicit "
        f"tolerance: max({band.k_mad:g} × 1.4826 × MAD, {band.rel_floor:.0%} of the median, "
        f"{_seconds(band.abs_floor_s)}), at most {band.rel_cap:.0%} of the median.",
        f"- Recorded baselines (`harness baseline record CADENCE --runs 5`, one file per machine "
        f"under `baselines/runtime/`) replace the `baseline_s` defaults"
        + (" and, on the machine that recorded them, are carried to the load of the moment "
           "(the speed probe's reading of the seconds a subject ran in, else the session "
           "calibration), which cancels a busy neighbour"
           + (" - it may move a band, not the direction: `too_slow` counts only above the "
              "recorded median unscaled, `too_fast` only below it" if band.unscaled_agrees else "")
           if band.normalise_load else "") + ". "
        f"A machine without its own file learns a **provisional baseline** from its ledger: "
        f"after {band.provisional_runs} green runs of its fingerprint, the newest "
        f"{band.provisional_window} of them; bands then turn exact, the report says "
        f"\"PROVISIONAL\", and `harness baseline adopt` writes it to `baselines/runtime/` for "
        f"committing. Runs of one fingerprint never move another's baseline. "
        + (f"A band or floor finding counts only when most runs - the first and "
           f"{band.confirm_reruns} re-run(s) of its group - repeat it."
           if band.confirm_reruns else "A band or floor finding is judged on one run "
           "(`--harness-reruns N` adds confirmation re-runs)."),
        f"- **Estimated verdicts** (another machine's baseline, or a `baseline_s` default) are "
        f"not scaled: no short workload predicts the suite's groups across machines. Outside "
        f"the band but within ×{band.estimated_factor:g} of the baseline (baseline / "
        f"{band.estimated_factor:g} .. baseline × {band.estimated_factor:g}) they are "
        f"**advisory**: reported with the command that makes them exact, the gate stays green. "
        f"Beyond that margin they fail the gate. So on an unknown machine only gross "
        f"regressions fail at once; a +25 % or +50 % one is caught by the exact band once the "
        f"provisional baseline exists, and by `harness compare BASE_REF` (A/B on one machine).",
        f"- **Contended runs**: a run measures the CPU time other processes took from its cores "
        f"(/proc/stat busy time minus its own process tree). From "
        f"{band.contention_cores:g} cores on average the run is contended: a neighbour slows "
        f"work on both clocks, so every slow verdict (`too_slow`, `over_ceiling`) is advisory "
        f"(with the evidence, and `harness compare` as the check that holds under load), "
        f"`too_fast` still fails (but only below the unscaled band too: the speed probe, "
        f"sharing a core with the neighbour, misreads the load), and the run is no sample for "
        f"a provisional baseline.",
        f"- **Wall-time promises on fewer cores**: ceilings (`max_s`) and wall-clock bands "
        f"around a `baseline_s` default or another machine's baseline are promised for "
        f"{band.wall_budget_cores} usable core(s) (`[defaults] wall_budget_cores`); on a run "
        f"with fewer (`taskset -c 0`) their slow verdicts are advisory, and exact bands (once "
        f"that fingerprint has its own baseline) judge as anywhere.",
        f"- Per-test timeout: max({_seconds(budget.timeouts.min_s)}, {budget.timeouts.factor:g} × "
        f"the test's reference time), else {_seconds(budget.timeouts.default_s)}.",
        "",
        *_quality_lines(root),
        "## 3. Artifacts and archival policy",
        "",
        f"Each run writes a folder `<root>/<UTC stamp>-<cadence>/` under the harness root "
        f"(`{settings.artifacts_root}/`, or `--harness-artifacts DIR` / `$HARNESS_ARTIFACTS`): "
        "`report.json`, `report.md` (the CI job summary), `report.html` (verdict, budget bars, "
        "escalations, reconstructions, trends; self-contained), `junit.xml`, `events.jsonl`, "
        "`logs/<test>.log` (captured output" + (f" and `{settings.package_logger}` DEBUG "
                                                 "records" if settings.package_logger else "")
        + "), and `tests/<test>/` with the artifacts a test kept. `ledger.jsonl` in the root "
        "gets one line per run.",
        "",
    ]
    validation = settings.validation
    lines += _table(["artifact", "required", "checked by"], [
        ["Lightning checkpoint `*.ckpt`", "`hyper_parameters` and `state_dict`; " + (
            f"rebuilds `{validation.checkpoint_module_class}` with a strict `load_state_dict`"
            if validation.checkpoint_module_class else "(no `checkpoint_module_class`: "
            "not rebuilt)"),
         "`torch.load(..., weights_only=True)`; `harness check-ckpt PATH`"],
        ["model archive `*.h5.zip`", "manifest (format, version, backend, models, members), "
         "params.json; no member escapes the folder", "harness validators"],
        ["reconstruction PNGs `*.png`", f"more than {validation.png_min_bytes} bytes, decodes, "
         "not one flat colour" + "".join(f"; `{glob}`: {width} x {height} pixels"
                                         for glob, (width, height) in validation.png_sizes),
         "Pillow"],
        ["debug logs `*.log`", "not empty; no `Traceback` / `ERROR` line"
         + (f" except those matching {', '.join(f'`{p}`' for p in validation.log_allow)}"
            if validation.log_allow else ""), "harness validators"],
    ])
    persistent = [c.name for c in settings.cadences.values() if c.persistent_artifacts]
    persistent += [f"group {g.name}" for g in settings.groups.values() if g.persistent_artifacts]
    retention = settings.retention
    lines += [
        "",
        "Archival policy:",
        "",
        "- **Transient**: a passing test's artifact folder is validated and removed at the end "
        "of the test.",
        "- **Persistent**: kept when the test failed, an artifact is invalid, the test is "
        "marked `@pytest.mark.persistent_artifacts`, or it runs in a persistent cadence/group: "
        + (", ".join(persistent) if persistent else "none configured") + ".",
        f"- **Retention** (`harness prune`, also after every run): the newest "
        f"{retention.keep_last} runs are kept, and beyond them "
        + (f"the newest {retention.keep_failing_max} failing runs and every unfinished run"
           if retention.keep_failing else "every unfinished run (no failing run)") + ".",
        "- **CI**: the workflow uploads the whole run folder as a build artifact and appends "
        "`report.md` to the job summary.",
        "",
        "## 4. Ownership matrix",
        "",
    ]
    owned = {name: [g.name for g in settings.groups.values() if g.owner == name]
             for name in owners.components}
    lines += _table(["component", "owner", "contact", "issue label", "groups"],
                    [[f"**{c.name}**", c.owner, c.contact, f"`{c.label}`",
                      ", ".join(owned[c.name]) or "-"] for c in owners.components.values()])
    lines += ["", "## 5. Escalation triggers and workflow", "",
              "A triggered escalation appears in the run's report (owner, evidence, next step) "
              "and decides the exit code: 1 test failures, 3 invalid artifacts, 4 budget "
              "findings only; 0 green.", ""]
    trigger_rows = []
    for trigger in owners.triggers.values():
        if trigger.name == owners_file.RUNTIME:
            raised = "a runtime budget verdict that is not ok (ceiling, band, floor, timeout)"
            routed = f"the owner of the subject's group; cadences: {trigger.component}"
        elif trigger.name == owners_file.ARTIFACT:
            raised = "a kept artifact that failed validation"
            routed = "; ".join(f"`{glob}` → {comp}" for glob, comp in trigger.by_artifact)
            routed = (routed + "; " if routed else "") + f"else {trigger.component}"
        else:
            bits = []
            if trigger.match_text:
                bits.append("a failure whose error lines contain "
                            + " or ".join(f"`{text}`" for text in trigger.match_text))
            if trigger.match_groups:
                bits.append("any failure in group " + ", ".join(trigger.match_groups))
            raised, routed = "; or ".join(bits), trigger.component
        trigger_rows.append([f"**{trigger.title}** (`{trigger.name}`)", raised, routed])
    lines += _table(["trigger", "raised by", "goes to"], trigger_rows)
    lines += ["", "Failure triggers are matched in this order; the first match wins. Steps per "
              "component (`{target}` is the group or cadence to re-run, `{run_dir}` the run "
              "folder):", ""]
    for component in owners.components.values():
        lines += [f"**{component.name}** ({component.owner}):", ""]
        lines += [f"{index}. {step}" for index, step in enumerate(component.steps, start=1)]
        lines.append("")
    lines += [
        "## 6. Monitoring cadence",
        "",
    ]
    lines += _table(["cadence", "when", "accelerator", "ceiling", "look at"], [
        [cadence.name, cadence.description, "cpu (default); cuda opt-in",
         _limits_text(budget.limits("cadence", cadence.name), band),
         "job summary (report.md); report.html in the uploaded run folder"
         + ("; kept artifacts and reconstructions" if cadence.persistent_artifacts else "")]
        for cadence in settings.cadences.values()])
    lines += [
        "",
        "- **CPU by default.** Every cadence runs on CPU; the numbers above are CPU numbers.",
        f"- **CUDA opt-in.** `harness run <cadence> --accelerator cuda` (or "
        f"`{ACCELERATOR_ENV}=cuda`) adds the GPU variants of the integration and parity groups "
        "(tests marked `cuda`); on a machine without a GPU they are skipped with the reason "
        "\"CUDA opt-in: no CUDA device\" and the report shows it. With the default (cpu) they are "
        "not selected at all.",
        "- **Scale-out.** `harness run <cadence> --shard I/N` runs one of N parts balanced by "
        "the recorded test durations (a test module is never split); `harness merge RUN...` "
        "joins the shard runs into one report and one ledger line, and budgets are judged on "
        "the merged view.",
        "- **Trend.** `harness history` and the trend charts in `report.html` show each group's "
        "time and verdict over the recorded runs; look at them weekly, and re-record a baseline "
        "only with the issue that justifies it.",
        "",
    ]
    return "\n".join(lines)


def write(project_root: Path, output: Path) -> Path:
    text = render(project_root)
    output = Path(output)
    output.parent.mkdir(parents=True, exist_ok=True)
    runfolder.write_atomic(output, text)
    return output


def check(project_root: Path, committed: Path) -> list[str]:
    """The unified diff between the committed brief and a fresh render; [] when they agree."""
    fresh = render(project_root)
    try:
        current = Path(committed).read_text(encoding="utf-8")
    except FileNotFoundError:
        current = ""
    if current == fresh:
        return []
    return list(difflib.unified_diff(current.splitlines(), fresh.splitlines(),
                                     f"{committed} (committed)", f"{committed} (from config)",
                                     lineterm=""))
