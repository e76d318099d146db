"""The reconstruction gallery of report.html - ptycho knowledge, so it lives with the suite, not
in harness/: for every folder of a run's kept artifacts that holds reconstructed_amplitude.png,
the ground truth (truth_{amplitude,phase}.png) once per scenario, then TensorFlow and PyTorch
amplitude and phase side by side with their metrics.json; phase PNGs carry their cyclic colormap
and display range in text chunks, drawn as labelled colour bars (harness.report.figures).

Plugged in through the harness hook `pytest_harness_html_sections` (registered by the top-level
conftest.py), so it appears wherever report.html is rendered: the run's recorder, `harness merge`
and `harness report RUN --format html`.
"""
from __future__ import annotations

import json
import re
from pathlib import Path

from harness.records.runfolder import TESTS_DIR
from harness.report.figures import escape, figure, metrics_table, section

AMPLITUDE_PNG = "reconstructed_amplitude.png"
PHASE_PNG = "reconstructed_phase.png"
TRUTH_PNGS = {"amplitude": "truth_amplitude.png", "phase": "truth_phase.png"}
METRICS_JSON = "metrics.json"
BACKENDS = {"tensorflow": "TensorFlow", "pytorch": "PyTorch"}
_BACKEND_TOKENS = {"tensorflow": "tensorflow", "tf": "tensorflow", "keras": "tensorflow",
                   "pytorch": "pytorch", "torch": "pytorch", "lightning": "pytorch"}
_TOKEN_SPLIT = re.compile(r"[^A-Za-z0-9]+")


def pytest_harness_html_sections(config, report, run_dir):
    return [section("Reconstructions", reconstructions_html(Path(run_dir), report),
                    "reconstructions")]


def _backend_of(relative: Path, metrics: dict) -> str | None:
    named = str(metrics.get("backend", "")).lower()
    if named in BACKENDS:
        return named
    for part in reversed(relative.parts):
        for token in _TOKEN_SPLIT.split(part.lower()):
            if token in _BACKEND_TOKENS:
                return _BACKEND_TOKENS[token]
    return None


def _without_backend(text: str) -> str:
    """A test id or folder name with the backend words taken out: both backends' runs of one
    scenario (test[tensorflow-gs1], test[pytorch-gs1]) come out the same (test[gs1])."""
    parts = re.split(r"([^A-Za-z0-9]+)", text)  # word, separator, word, ...: words at even places
    index = 0
    while index < len(parts):
        if index % 2 or parts[index].lower() not in _BACKEND_TOKENS:
            index += 1
            continue
        left = parts[index - 1] if index > 0 else ""
        right = parts[index + 1] if index + 1 < len(parts) else ""
        brackets = "".join(c for c in left + right if c in "[]()")
        joint = brackets or (right if "/" in right else left)
        # the word and the separators around it become one separator; the next word then
        # sits at `index` again (or, at the start, after an empty first word)
        if index > 0:
            parts[index - 1:index + 2] = [joint]
        else:
            parts[0:2] = ["", joint]
    return "".join(parts).replace("[]", "").replace("()", "").strip(" -_.")


def _case_of(relative: Path, owners: dict[str, str]) -> str:
    """The scenario a reconstruction folder shows: its test's id without the backend (plus the
    sub-folder inside the test's artifact_dir), else the folder path without the backend."""
    posix = relative.as_posix()
    for artifacts, nodeid in owners.items():
        if posix == artifacts or posix.startswith(artifacts + "/"):
            inside = posix[len(artifacts):].strip("/")
            name = nodeid.split("::")[-1]
            return _without_backend(name) + (f" · {inside}" if inside else "")
    return _without_backend(posix) or "reconstruction"


def find_reconstructions(run_dir: Path, report: dict | None = None) -> dict[str, dict[str, dict]]:
    """case -> backend -> {"folder", "amplitude", "phase", "metrics", "test"} for every folder
    under <run>/tests/ holding reconstructed_amplitude.png. A folder inside a test's kept
    artifacts (report.json `tests[].artifacts`) is named after that test."""
    root = Path(run_dir) / TESTS_DIR
    owners = {}
    for test in (report or {}).get("tests", []):
        if test.get("artifacts"):
            owners[test["artifacts"][len(TESTS_DIR) + 1:]] = test["nodeid"]
    cases: dict[str, dict[str, dict]] = {}
    for amplitude in sorted(root.rglob(AMPLITUDE_PNG)) if root.is_dir() else []:
        folder = amplitude.parent
        metrics = {}
        for candidate in (folder / METRICS_JSON, folder.parent / METRICS_JSON):
            try:
                loaded = json.loads(candidate.read_text(encoding="utf-8"))
            except (OSError, ValueError):
                continue
            if isinstance(loaded, dict):
                metrics = loaded
                break
        relative = folder.relative_to(root)
        backend = _backend_of(relative, metrics) or relative.as_posix()
        entry = {"folder": f"{TESTS_DIR}/{relative.as_posix()}",
                 "amplitude": amplitude, "phase": folder / PHASE_PNG, "metrics": metrics,
                 "truth": {part: folder / name for part, name in TRUTH_PNGS.items()
                           if (folder / name).is_file()}}
        cases.setdefault(_case_of(relative, owners), {})[backend] = entry
    return cases


def reconstructions_html(run_dir: Path, report: dict) -> str:
    """The gallery: per case the ground truth, then each backend's amplitude and phase."""
    cases = find_reconstructions(run_dir, report)
    if not cases:
        return ('<p class="empty">no reconstructions in this run (passing tests keep their '
                'artifacts only in persistent cadences such as weekly, or when marked '
                'persistent_artifacts)</p>')
    blocks = []
    for case, backends in cases.items():
        ordered = [b for b in BACKENDS if b in backends] + sorted(set(backends) - set(BACKENDS))
        panels = []
        truth = next((backends[b]["truth"] for b in ordered if len(backends[b]["truth"]) == 2), None)
        if truth:   # the same object for every backend of the case: shown once, first
            panels.append(
                '<div class="backend"><h3>Ground truth</h3><div class="images">'
                + "".join(figure(truth[part], part, run_dir) for part in TRUTH_PNGS)
                + '</div><p class="small">the simulated object over the scanned pixels; phase '
                'about its median, like the reconstructions</p></div>')
        for backend in ordered:
            entry = backends[backend]
            panels.append(
                f'<div class="backend"><h3>{escape(BACKENDS.get(backend, backend))}</h3>'
                f'<div class="images">{figure(entry["amplitude"], "amplitude", run_dir)}'
                f'{figure(entry["phase"], "phase", run_dir)}</div>'
                f'{metrics_table(entry["metrics"])}'
                f'<div class="small mono">{escape(entry["folder"])}</div></div>')
        blocks.append(f'<h3>{escape(case)}</h3><div class="recon">{"".join(panels)}</div>')
    return "".join(blocks)
