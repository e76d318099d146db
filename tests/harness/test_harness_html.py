"""report.html: content built from a synthetic report.json (real report.build output), embedded
reconstruction PNGs, trend from a ledger, self-containment, and a headless-Chromium screenshot."""
import base64
import io
import json
from html import escape
import os
import re
import shutil
import subprocess
import time
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from harness import cli
from harness.report import charts, figures
from harness.report import html as html_report
from harness.records import ledger
from harness.report import model as report
from harness.records import runfolder
from harness.config import selectors
from tests.suite import report_gallery  # the suite's gallery: a pytest_harness_html_sections hook

REPO = Path(__file__).resolve().parents[2]

def render(final: dict, run: Path) -> str:
    """report.html as a run of this project renders it: with the suite's reconstruction gallery."""
    return html_report.render(final, run, report_gallery.pytest_harness_html_sections(None, final, run))


def write(run: Path, final: dict) -> Path:
    return html_report.write(run, final, report_gallery.pytest_harness_html_sections(None, final, run))

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")


def _png(path: Path, seed: int) -> None:
    """A small non-trivial image (a ramp with seeded noise), like a reconstruction PNG."""
    rng = np.random.default_rng(seed)
    ramp = np.add.outer(np.arange(48), np.arange(48)) * 2.5
    pixels = np.clip(ramp + rng.normal(0, 20, ramp.shape), 0, 255).astype(np.uint8)
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(pixels).save(path)


def _test(nodeid, group, outcome, seconds, message=None, artifacts=None):
    return {"nodeid": nodeid, "group": group, "outcome": outcome, "seconds": seconds,
            "start": 1.0, "stop": 1.0 + seconds, "message": message, "worker": None,
            "crashed": False, "artifacts": artifacts, "validation": [],
            "log": f"logs/{runfolder.safe_name(nodeid)}.log"}


ROUND_TRIP = ("tests/suite/integration/test_cli_workflow.py::"
              "test_cli_round_trip_leaves_valid_artifacts[{}]")


def _artifacts(nodeid: str) -> str:
    """Where the harness keeps a test's artifact_dir, relative to the run folder."""
    return f"tests/{runfolder.safe_name(nodeid[len('tests/suite/'):])}"


def synthetic_report(run_dir: Path, status_tests=None) -> dict:
    settings = selectors.load(REPO)
    selection = settings.resolve(["weekly"])
    tests = status_tests or [
        _test(ROUND_TRIP.format("tensorflow-gs1"), "integration", "passed", 17.2,
              artifacts=_artifacts(ROUND_TRIP.format("tensorflow-gs1"))),
        _test(ROUND_TRIP.format("pytorch-gs1"), "integration", "passed", 21.9,
              artifacts=_artifacts(ROUND_TRIP.format("pytorch-gs1"))),
        _test(ROUND_TRIP.format("pytorch-gs2"), "integration", "passed", 12.5,
              artifacts=_artifacts(ROUND_TRIP.format("pytorch-gs2"))),
        _test("tests/suite/backend_selection/test_dispatch.py::test_literals", "backend_selection",
              "passed", 0.4),
        _test("tests/suite/parity/test_parity_ops.py::test_translate", "parity", "failed", 3.1,
              message="AssertionError: PARITY-BREACH translate max|diff| 3e-4 > 1e-6"),
        _test("tests/suite/parity/test_cuda_parity.py::test_ops_on_gpu", "parity", "skipped",
              0.0, message="CUDA opt-in: no CUDA device (torch.cuda.is_available() is False)"),
        _test("tests/suite/model_manager/test_archive.py::test_roundtrip", "model_manager",
              "passed", 6.0),
    ]
    final = report.build(
        run_id=run_dir.name, selection=selection, config=settings, tests=tests,
        collection_errors=[], status=report.decide_status(
            tests=tests, collection_errors=[], interrupted=False, internal_error=False),
        started_utc="2025-10-19T21:58:00Z", finished_utc="2025-10-19T22:00:00Z",
        wall_seconds=55.0, environment={"python": "3.11", "packages": {}, "cuda": {}},
        fingerprint={}, fingerprint_hash="0123456789ab",
        pytest_info={"args": [], "exitstatus": 1, "workers": 0, "threads_per_worker": 1,
                     "pid": 1, "accelerator": "cpu"},
        collected=len(tests), crashed_workers=[])
    report.apply_findings(final, [{"source": "budgets", "title": "Runtime budgets",
                                   "severity": "warning",
                                   "items": ["group integration band (cpu): 39.10 s vs baseline "
                                             "36.00 s -> ok"]},
                                  {"source": "escalation", "title": "Escalations",
                                   "severity": "violation",
                                   "items": ["Parity tolerance breach -> as one line of text"]}])
    final["escalations"] = [{
        "trigger": "parity_breach", "title": "Parity tolerance breach",
        "component": "backend implementation", "owner": "INTEGRATE-PYTORCH-001",
        "contact": "plans/active", "label": "backend", "target": "parity",
        "subjects": ["tests/suite/parity/test_parity_ops.py::test_translate"],
        "evidence": ["test_translate: PARITY-BREACH translate"],
        "next_step": "Re-run `harness run parity` to confirm",
        "steps": ["Re-run `harness run parity` to confirm", "Open an issue labelled backend"]}]
    return final


def make_run(tmp_path: Path) -> Path:
    """A weekly run folder with three integration reconstructions and a ledger of 3 earlier
    runs plus one shard run."""
    root = tmp_path / "artifacts"
    run = runfolder.create_run_folder(root, "weekly")
    for scenario, seed in (("tensorflow-gs1", 1), ("pytorch-gs1", 2), ("pytorch-gs2", 3)):
        folder = run / _artifacts(ROUND_TRIP.format(scenario)) / "infer"
        _png(folder / "reconstructed_amplitude.png", seed)
        _png(folder / "reconstructed_phase.png", seed + 10)
        (folder / "metrics.json").write_text(json.dumps(
            {"amp_ssim": 0.81 + seed / 100, "phase_ssim": 0.7, "amp_psnr": 24.5, "frc50": 0.21}))
    # three earlier weekly runs and one shard run (must not show) in the ledger
    for index, seconds in enumerate((35.0, 37.5, 36.2)):
        entry = {"run_id": f"2025101{index}T000000Z-weekly", "cadence": "weekly",
                 "groups": {"integration": {"verdict": "passed", "seconds": seconds},
                            "parity": {"verdict": "passed", "seconds": 20.0 + index}}}
        ledger.append(root / runfolder.LEDGER, entry)
    ledger.append(root / runfolder.LEDGER, {
        "run_id": "shard", "cadence": "weekly", "shard": "1/2",
        "groups": {"integration": {"verdict": "passed", "seconds": 999.0}}})
    return run


@pytest.fixture
def run_dir(tmp_path):
    return make_run(tmp_path)


def test_html_content_is_complete_and_self_contained(run_dir):
    final = synthetic_report(run_dir)
    started = time.perf_counter()
    path = write(run_dir, final)
    elapsed = time.perf_counter() - started
    text = path.read_text(encoding="utf-8")
    assert path == run_dir / "report.html" and elapsed < 2.0
    # verdict first: the banner precedes every section
    assert text.index("TESTS FAILED") < text.index('id="groups"')
    assert "1 test failed" in text
    for group in ("integration", "backend_selection", "parity", "model_manager"):
        assert f"<td><b>{group}</b>" in text
    # budget bar of integration from its budgets.toml guardrails (band 36 +/- 5 s)
    assert "band 31.0–41.0 s wall" in text
    assert "guardrail only, not judged" in text  # no budget verdicts in this report
    assert "Parity tolerance breach" in text and "Next step:" in text
    assert "as one line of text" not in text  # the structured escalation replaces its text
    assert "PARITY-BREACH translate" in text and "Runtime budgets" in text
    assert "CUDA opt-in: no CUDA device" in text and "· accelerator cpu" in text
    # reconstructions: one case per scenario, backends side by side, embedded, with metrics
    assert text.count("data:image/png;base64,") == 6
    gs1 = text.index("<h3>test_cli_round_trip_leaves_valid_artifacts[gs1] · infer</h3>")
    gs2 = text.index("<h3>test_cli_round_trip_leaves_valid_artifacts[gs2] · infer</h3>")
    assert gs1 < text.index(">TensorFlow<", gs1) < text.index(">PyTorch<", gs1) < gs2
    assert ">TensorFlow<" not in text[gs2:]
    assert "amp_ssim" in text and "0.82" in text and "0.84" in text
    embedded = re.findall(r'src="data:image/png;base64,([^"]+)"', text)
    assert Image.open(io.BytesIO(base64.b64decode(embedded[0]))).size == (48, 48)
    # trend: 3 earlier runs + this one, the shard line left out
    assert "4 run(s) of <b>weekly</b>" in text and "999.00 s" not in text
    # slowest first
    assert text.index("[pytorch-gs1]</code></td><td>integration</td><td><span") < \
        text.index("[tensorflow-gs1]</code></td><td>integration</td><td><span")
    # self-contained: no reference to anything on a network
    assert not re.search(r"https?://", text)
    assert not re.search(r"<(script|link|iframe)\b", text)
    assert not re.search(r'src="(?!data:)', text)


def test_budget_bars_prefer_recorded_verdicts(run_dir):
    final = synthetic_report(run_dir)
    final["budgets"] = {"verdicts": [
        {"kind": "group", "subject": "integration", "check": "band", "clock": "cpu",
         "measured_s": 44.1, "baseline_s": 35.9, "allowed": [31.5, 40.3], "margin_s": -3.8,
         "status": "too_slow", "estimated": False, "basis": "recorded median 35.9 s"},
        {"kind": "group", "subject": "integration", "check": "ceiling", "clock": "wall",
         "measured_s": 45.0, "baseline_s": 35.9, "allowed": [0.0, 41.0], "margin_s": -4.0,
         "status": "over_ceiling", "estimated": False, "basis": "ceiling"},
        {"kind": "cadence", "subject": "weekly", "check": "ceiling", "clock": "wall",
         "measured_s": 55.0, "baseline_s": None, "allowed": [0.0, 170.0], "margin_s": 115.0,
         "status": "ok", "estimated": False, "basis": "ceiling max_s=170"}]}
    text = render(final, run_dir)
    assert "band 31.5–40.3 s cpu" in text and "max 41.0 s wall" in text
    assert "44.10 s cpu" in text  # the band's (cpu) time is shown under the group's wall time
    assert text.count('height="4" rx="2"') == 1  # two clocks: a thin wall bar over the cpu one
    assert '<span class="pill warn">too_slow</span>' not in text  # the worst status wins...
    assert '<span class="pill bad">over_ceiling</span>' in text   # ...the ceiling
    assert "Cadence and test budgets" in text and "ceiling max_s=170" in text
    assert "not judged" not in text


def test_no_reconstructions_and_broken_inputs_degrade_gracefully(tmp_path):
    run = runfolder.create_run_folder(tmp_path, "per_pr")
    final = synthetic_report(run)
    final["budgets"] = {"verdicts": "not a list"}
    (run / "tests" / "x").mkdir(parents=True)
    (run / "tests" / "x" / "reconstructed_amplitude.png").write_bytes(b"not a png")
    text = render(final, run)
    assert "missing or not a PNG" in text
    shutil.rmtree(run / "tests")
    text = render(final, run)
    assert "no reconstructions in this run" in text
    assert "TESTS FAILED" in text


def test_a_png_too_big_to_embed_is_linked_from_the_run_folder(run_dir):
    final = synthetic_report(run_dir)
    amplitude = next(run_dir.rglob("reconstructed_amplitude.png"))
    noise = np.random.default_rng(0).integers(0, 256, (1000, 1000, 3), dtype=np.uint8)
    Image.fromarray(noise).save(amplitude)  # noise does not compress: ~3 MB
    assert amplitude.stat().st_size > figures.MAX_EMBED_BYTES
    text = render(final, run_dir)
    href = amplitude.relative_to(run_dir).as_posix()
    assert f'<a href="{href}">amplitude: open the PNG</a>' in text and (run_dir / href).is_file()
    assert "over the 2 MB inline limit: linked, not embedded" in text
    assert "missing or not a PNG" not in text
    assert text.count("data:image/png;base64,") == 5  # the other five are still embedded


def test_trend_of_an_older_run_leaves_out_the_runs_after_it(run_dir):
    """Re-rendering a run must not draw the runs of later days as its earlier ones."""
    older = dict(synthetic_report(run_dir), run_id="20251011T000000Z-weekly")
    entries, _ = ledger.read(run_dir.parent / runfolder.LEDGER)
    entries.append(dict(entries[0], run_id="20251011T000000Z-weekly-2"))  # same second, later
    points = charts.trend_points(older, entries)
    assert [p["run_id"] for p in points] == ["20251010T000000Z-weekly", "20251011T000000Z-weekly"]
    assert "2 run(s) of <b>weekly</b>" in render(older, run_dir)
    # the newest run still sees every earlier one
    assert len(charts.trend_points(synthetic_report(run_dir), entries)) == 5


def test_harness_report_format_html_writes_the_page(run_dir, monkeypatch, capsys):
    final = synthetic_report(run_dir)
    runfolder.write_json_atomic(run_dir / "report.json", final)
    monkeypatch.chdir(REPO)
    code = cli.main(["report", str(run_dir), "--format", "html"])
    assert code == 0
    assert capsys.readouterr().out.strip().endswith("report.html")
    page = (run_dir / "report.html").read_text()
    assert "TESTS FAILED" in page
    # the re-render asks the project's hooks too: the suite's gallery is on the page
    assert 'id="reconstructions"' in page and page.count("data:image/png;base64,") == 6


@pytest.mark.skipif(CHROMIUM is None, reason="headless Chromium not installed (`apt-get install "
                    "chromium`; .ci/run installs it): the screenshot test needs it")
def test_screenshot_in_headless_chromium(run_dir, tmp_path):
    final = synthetic_report(run_dir)
    page = write(run_dir, final)
    shot = tmp_path / "report.png"
    command = [CHROMIUM, "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic",
               "--no-first-run", "--disable-background-networking", "--disable-component-update",
               "--disable-sync", "--hide-scrollbars", f"--user-data-dir={tmp_path / 'profile'}",
               f"--screenshot={shot}", "--window-size=1280,2000", page.as_uri()]
    done = subprocess.run(command, capture_output=True, text=True, timeout=120)
    assert shot.is_file(), f"no screenshot (exit {done.returncode}): {done.stderr[-800:]}"
    image = Image.open(shot).convert("RGB")
    assert image.size == (1280, 2000)
    pixels = np.asarray(image, dtype=np.int32)
    # not blank: many distinct colours, and the red 'failed' banner near the top
    packed = (pixels[..., 0] << 16) | (pixels[..., 1] << 8) | pixels[..., 2]
    assert len(np.unique(packed)) > 200
    banner = pixels[40:120, 40:1200].reshape(-1, 3)
    red = (banner[:, 0] > 180) & (banner[:, 1] < 60) & (banner[:, 2] < 70)
    assert red.mean() > 0.5, "the verdict banner is not where it should be"
    keep = os.environ.get("HARNESS_SCREENSHOT_DIR")
    if keep:  # leave the screenshot where a person can look at it
        Path(keep).mkdir(parents=True, exist_ok=True)
        shutil.copy(shot, Path(keep) / "report_html.png")


def test_slowest_tests_have_their_own_trend(tmp_path):
    """Each ledger line keeps its slowest tests' seconds; the page charts this run's slowest
    tests over the earlier runs, not only the groups."""
    root = tmp_path / "artifacts"
    run = runfolder.create_run_folder(root, "weekly")
    slow = ROUND_TRIP.format("tensorflow-gs1")
    for index, seconds in enumerate((30.0, 31.0)):
        ledger.append(root / runfolder.LEDGER, {
            "run_id": f"2025101{index}T000000Z-weekly", "cadence": "weekly",
            "groups": {"integration": {"verdict": "passed", "seconds": seconds}},
            "tests": {slow: seconds}})
    final = dict(synthetic_report(run), tests=[
        {"nodeid": slow, "group": "integration", "outcome": "passed", "seconds": 44.0}])
    page = render(final, run)
    section = page[page.index("Slowest tests over time"):]
    assert escape(slow) in section and "last 44.00 s" in section and "3 runs" in section
