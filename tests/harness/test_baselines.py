"""Runtime baselines: robust statistics, recording, the JSON files, fingerprint matching, diffs."""
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from rich.console import Console

from harness.config.selectors import ConfigError
from harness.measure import calibration, environment
from harness.measure.calibration import Calibration
from harness.measure.timing import Measurement
from harness.records import baseline_diff, baselines
from harness.records.baselines import Baseline, Reference, Stats

HERE = {
    "python": "3.11", "implementation": "CPython", "system": "Linux", "machine": "x86_64",
    "cpu_model": "AMD EPYC", "cpu_count": 2, "gpus": 0,
    "packages": {"torch": "2.13.0+cpu", "tensorflow": "2.21.0", "lightning": "2.6.6", "numpy": "2.4.6"},
}


def machine(**changes) -> dict:
    fingerprint = json.loads(json.dumps(HERE))
    for key, value in changes.items():
        if key in fingerprint["packages"]:
            fingerprint["packages"][key] = value
        else:
            fingerprint[key] = value
    return fingerprint


def run(integration_cpu: float, per_pr_wall: float = 60.0) -> dict:
    return {"cadence": {"per_pr": Measurement(per_pr_wall, per_pr_wall * 0.9)},
            "group": {"integration": Measurement(integration_cpu * 1.1, integration_cpu)}}


def save(tmp_path: Path, fingerprint: dict, runs=None, calibrations=None) -> Baseline:
    baseline = baselines.record(runs or [run(30.0)], "per_pr", fingerprint, calibrations,
                                recorded_utc="2025-10-19T21:58:00Z")
    baselines.write(tmp_path, baseline)
    return baseline


# ---------------------------------------------------------------- statistics

def test_stats_are_robust_to_one_outlier():
    s = Stats.of([1.0, 2.0, 3.0, 4.0, 100.0])
    assert (s.median, s.mad, s.iqr, s.n, s.min, s.max) == (3.0, 1.0, 2.0, 5, 1.0, 100.0)
    assert Stats.of([5.0]) == Stats(5.0, 0.0, 0.0, 1, 5.0, 5.0)
    with pytest.raises(ValueError):
        Stats.of([])


def test_record_summarises_runs_and_keeps_other_subjects():
    previous = baselines.record([{"group": {"parity": 50.0}}], "nightly", HERE)
    new = baselines.record([run(30.0), run(31.0), run(35.0)], "per_pr", HERE, previous=previous)
    integration = new.entry("group", "integration")
    assert integration.cpu.median == 31.0 and integration.cpu.n == 3
    assert integration.wall.median == pytest.approx(34.1)
    assert integration.cadence == "per_pr" and integration.calibration_s is None
    assert new.entry("group", "parity") == previous.entry("group", "parity")
    assert new.entry("cadence", "per_pr").cpu.median == pytest.approx(54.0)


def test_record_brings_each_run_to_the_median_calibration():
    # the third run happened while a neighbour halved the machine's speed: its seconds and its
    # calibration both doubled, so after adjustment it agrees with the others
    new = baselines.record([run(30.0), run(30.0), run(60.0)], "per_pr", HERE,
                           calibrations=[0.1, 0.1, 0.2])
    integration = new.entry("group", "integration")
    assert integration.cpu.max == pytest.approx(30.0) and integration.cpu.mad == 0.0
    assert integration.calibration_s == 0.1


def test_record_brings_each_sample_to_the_median_probe_speed():
    slowed = 2.0 ** calibration.PROBE_EXPONENT  # the probe ran at half speed: work ~2.3x slower
    runs = [{"group": {"integration": Measurement(33.0, 30.0, 0.001)}},
            {"group": {"integration": Measurement(33.0, 30.0, 0.001)}},
            {"group": {"integration": Measurement(33.0 * slowed, 30.0 * slowed, 0.002)}}]
    integration = baselines.record(runs, "per_pr", HERE, calibrations=[0.1, 0.1, 0.1]).entry(
        "group", "integration")
    assert integration.cpu.max == pytest.approx(30.0) and integration.speed_s == 0.001
    assert integration.calibration_s == 0.1


def test_record_without_cpu_time_keeps_wall_only():
    new = baselines.record([{"test": {"t.py::a": 1.0}}, {"test": {"t.py::a": Measurement(1.2, 1.0)}}],
                           "per_pr", HERE)
    assert new.entry("test", "t.py::a").cpu is None
    with pytest.raises(ValueError, match="unknown measurement kind"):
        baselines.record([{"tests": {"t.py::a": 1.0}}], "per_pr", HERE)


# ---------------------------------------------------------------- files

def test_file_is_named_by_fingerprint_sorted_and_round_trips(tmp_path):
    baseline = save(tmp_path, HERE, [run(30.0), run(32.0)], [0.1, 0.1])
    path = tmp_path / "runtime" / f"{environment.fingerprint_hash(HERE)}.json"
    assert baselines.path_for(tmp_path, HERE) == path
    text = path.read_text()
    assert text == json.dumps(json.loads(text), indent=2, sort_keys=True) + "\n"
    assert list(path.parent.iterdir()) == [path]  # no temp file left behind
    assert baselines.load(path).as_dict() == baseline.as_dict()
    assert json.loads(text)["groups"]["integration"]["cpu"]["median"] == 31.0



def test_files_with_the_tag_of_before_the_rename_still_load(tmp_path):
    baseline = save(tmp_path, HERE)
    path = baselines.path_for(tmp_path, HERE)
    document = json.loads(path.read_text())
    assert document["format"] == "harness-runtime-baseline"
    document["format"] = "ptycho-harness-runtime-baseline"  # committed before 2026-12-02
    path.write_text(json.dumps(document))
    assert baselines.load(path).as_dict() == baseline.as_dict()

def test_broken_baseline_names_file_and_key(tmp_path):
    save(tmp_path, HERE)
    path = baselines.path_for(tmp_path, HERE)
    document = json.loads(path.read_text())
    document["groups"]["integration"]["cpu"]["median"] = "fast"
    path.write_text(json.dumps(document))
    with pytest.raises(ConfigError, match=r"groups\.integration\.cpu\.median: must be a number >= 0 \(got 'fast'\)"):
        baselines.load(path)
    path.write_text("{not json")
    with pytest.raises(ConfigError, match="not valid JSON"):
        baselines.load_all(tmp_path)


def test_hand_edited_fingerprint_is_refused(tmp_path):
    save(tmp_path, HERE)
    path = baselines.path_for(tmp_path, HERE)
    document = json.loads(path.read_text())
    document["fingerprint"]["cpu_count"] = 64
    path.write_text(json.dumps(document))
    with pytest.raises(ConfigError, match="fingerprint_hash: does not match the fingerprint"):
        baselines.load(path)


# ---------------------------------------------------------------- matching

def test_exact_fingerprint_wins(tmp_path):
    save(tmp_path, machine(torch="2.12.0"))
    save(tmp_path, HERE)
    baseline, exact = baselines.match(tmp_path, HERE)
    assert exact and baseline.fingerprint == HERE


def test_nearest_prefers_same_core_count_then_closest_versions(tmp_path):
    save(tmp_path, machine(cpu_count=8))                      # same versions, other core count
    save(tmp_path, machine(torch="1.13.0", tensorflow="2.10.0"))  # a major and a minor apart
    save(tmp_path, machine(torch="2.12.1", cpu_model="Intel Xeon"))  # a minor apart
    baseline, exact = baselines.match(tmp_path, HERE)
    assert not exact
    assert baseline.fingerprint["packages"]["torch"] == "2.12.1"


def test_no_baseline_anywhere(tmp_path):
    calls = []
    reference = baselines.session_reference(tmp_path, HERE, calibrate=lambda: calls.append(1))
    assert reference == Reference(None, False, None) and calls == []


def test_another_machines_baseline_is_used_without_calibration(tmp_path):
    calls = []
    save(tmp_path, machine(cpu_count=4))
    reference = baselines.session_reference(tmp_path, HERE, calibrate=lambda: calls.append(1))
    assert not reference.exact and reference.calibration_s is None and calls == []
    assert reference.baseline.fingerprint["cpu_count"] == 4


@pytest.mark.parametrize("on_recording_machine, calibrated", [(True, 0.25), (False, None)])
def test_own_baseline_calibrates_only_when_asked(tmp_path, on_recording_machine, calibrated):
    """With the speed probe on, the plugin asks for no calibration against this machine's own
    baseline (budget_plugin.calibration_needed); another machine's is always calibrated."""
    save(tmp_path, HERE)
    reference = baselines.session_reference(
        tmp_path, HERE, calibrate=lambda: Calibration((0.3,) * 3, (0.2, 0.3, 0.25)),
        on_recording_machine=on_recording_machine)
    assert reference.exact and reference.calibration_s == calibrated


@pytest.mark.parametrize("a, b, distance", [("2.13.0", "2.13.0", 0), ("2.13.0+cpu", "2.13.1", 1),
                                            ("2.13.0", "2.12.0", 2), ("2.13.0", "1.13.0", 3),
                                            ("2.13.0", None, 3)])
def test_version_distance(a, b, distance):
    assert baselines.version_distance(a, b) == distance


# ---------------------------------------------------------------- recording and diffs

def test_record_cadence_runs_calibrates_writes_and_diffs(tmp_path):
    old = save(tmp_path, HERE, [run(30.0)], [0.1])
    timings = iter([run(33.0), run(33.0), run(36.0)])
    recording = baselines.record_cadence(
        "per_pr", 3, lambda: next(timings), tmp_path, HERE,
        calibrate=lambda: Calibration((0.1,), (0.1,)))
    assert recording.old.as_dict() == old.as_dict()
    assert baselines.load(recording.path).entry("group", "integration").cpu.median == 33.0
    changes = {(c.kind, c.subject): c for c in baseline_diff.diff(recording.old, recording.new)}
    assert changes["group", "integration"].status == "changed"
    assert changes["group", "integration"].relative("cpu") == pytest.approx(0.1)
    console = Console(record=True, width=200)
    console.print(baseline_diff.diff_table(recording.old, recording.new))
    text = console.export_text()
    assert "integration" in text and "+10.0%" in text and "30.000" in text and "33.000" in text


def test_dry_run_writes_nothing_and_runs_must_be_positive(tmp_path):
    recording = baselines.record_cadence("per_pr", 1, lambda: run(30.0), tmp_path, HERE,
                                         calibrate=lambda: Calibration((0.1,), (0.1,)),
                                         write_file=False)
    assert recording.old is None and not recording.path.exists()
    assert [c.status for c in baseline_diff.diff(None, recording.new)] == ["added", "added"]
    with pytest.raises(ValueError, match="at least 1"):
        baselines.record_cadence("per_pr", 0, lambda: run(30.0), tmp_path, HERE)


def test_record_cadence_takes_each_runs_speed_from_the_calibrations_around_it(tmp_path):
    speeds = iter([0.1, 0.4, 0.1])  # a neighbour was busy between the two runs
    recording = baselines.record_cadence(
        "per_pr", 2, lambda: run(30.0), tmp_path, HERE, write_file=False,
        calibrate=lambda: Calibration((0.0,), (next(speeds),)))
    assert recording.new.entry("group", "integration").calibration_s == pytest.approx(0.2)


# ---------------------------------------------------------------- provisional baselines

def ledger_line(cpu: float, fingerprint: dict = HERE, status: str = "passed", **extra) -> dict:
    """A ledger line as harness.report.model.ledger_entry writes it for a judged run."""
    timing = {"cadence": {"per_pr": {"wall_s": 60.0, "cpu_s": cpu * 2, "speed_s": None}},
              "group": {"integration": {"wall_s": cpu * 1.1, "cpu_s": cpu, "speed_s": None}}}
    return {"run_id": f"run-{cpu}", "cadence": "per_pr", "status": status,
            "finished_utc": "2026-12-02T10:00:00Z", "fingerprint": fingerprint,
            "fingerprint_hash": environment.fingerprint_hash(fingerprint), "timing": timing,
            **extra}


RULE = baselines.ProvisionalRule(min_runs=3, window=4)


def test_provisional_baseline_needs_enough_green_runs_of_this_fingerprint():
    other = machine(cpu_model="Intel Xeon")
    lines = [ledger_line(10.0), ledger_line(11.0),
             ledger_line(99.0, status="over_budget"),       # a run with a finding: no sample
             ledger_line(98.0, shard="1/2"),                # a shard: its merged run counts
             ledger_line(94.0, contended=True),             # shared its cores: no sample
             ledger_line(97.0, fingerprint=other), ledger_line(96.0, fingerprint=other),
             ledger_line(95.0, fingerprint=other),          # another machine's runs
             {"run_id": "old", "fingerprint_hash": environment.fingerprint_hash(HERE),
              "status": "passed"}]                          # written before timings were kept
    assert baselines.provisional(lines, HERE, RULE) == (None, 0)
    learnt, runs = baselines.provisional(lines + [ledger_line(12.0)], HERE, RULE)
    assert runs == 3 and learnt.fingerprint_hash == environment.fingerprint_hash(HERE)
    integration = learnt.entry("group", "integration")
    assert integration.cpu.median == 11.0 and integration.cpu.n == 3
    assert integration.cadence == baselines.LEDGER_LABEL
    # the other machine learns only from its own lines
    theirs, _ = baselines.provisional(lines, other, RULE)
    assert theirs.entry("group", "integration").cpu.median == 96.0


def test_provisional_baseline_summarises_the_newest_window_per_subject():
    lines = [ledger_line(cpu) for cpu in (50.0, 10.0, 11.0, 12.0, 13.0)]
    lines.append({**ledger_line(14.0), "timing": {"group": {
        "backend_selection": {"wall_s": 3.0, "cpu_s": 2.0, "speed_s": None},
        "integration": {"wall_s": "broken"}}}})  # an unreadable subject is left out
    learnt, runs = baselines.provisional(lines, HERE, RULE)
    integration = learnt.entry("group", "integration")
    assert integration.cpu.n == 4 and integration.cpu.max == 13.0  # 50 fell out of the window
    assert learnt.entry("group", "backend_selection") is None  # 1 run < min_runs
    assert learnt.entry("cadence", "per_pr").cpu.n == 4 and runs == 4


def test_session_reference_prefers_committed_then_provisional_then_another_machine(tmp_path):
    lines = [ledger_line(cpu) for cpu in (10.0, 11.0, 12.0)]
    other = save(tmp_path, machine(cpu_count=4))
    reference = baselines.session_reference(tmp_path, HERE, calibrate=None,
                                            read_ledger=lambda: lines, rule=RULE)
    assert reference.exact and reference.provisional and reference.provisional_runs == 3
    assert reference.fallback == other and reference.entry("group", "integration")[1] is True
    # a subject the provisional baseline lacks comes from the fallback, estimated
    learnt = reference.baseline
    thinner = Reference(baselines.Baseline(HERE, {"group": {}}), True, fallback=other,
                        provisional_runs=3)
    assert thinner.entry("group", "integration") == (other.entry("group", "integration"), False)
    assert learnt.entry("group", "integration").cpu.median == 11.0

    too_few = baselines.session_reference(tmp_path, HERE, calibrate=None,
                                          read_ledger=lambda: lines[:2], rule=RULE)
    assert not too_few.exact and not too_few.provisional and too_few.baseline == other

    committed = save(tmp_path, HERE)
    exact = baselines.session_reference(tmp_path, HERE, calibrate=None, rule=RULE,
                                        read_ledger=lambda: pytest.fail("ledger read"))
    assert exact.exact and not exact.provisional and exact.baseline == committed


def test_adopt_writes_the_provisional_baseline_and_keeps_other_subjects(tmp_path):
    lines = [ledger_line(cpu) for cpu in (10.0, 11.0, 12.0)]
    with pytest.raises(ValueError, match="2 green run.*needs 3"):
        baselines.adopt(tmp_path, HERE, lines[:2], RULE)
    dry = baselines.adopt(tmp_path, HERE, lines, RULE, write_file=False)
    assert dry.old is None and not dry.path.exists()
    previous = baselines.record([{"group": {"parity": 50.0}}], "nightly", HERE)
    baselines.write(tmp_path, previous)
    adopted = baselines.adopt(tmp_path, HERE, lines, RULE)
    written = baselines.load(adopted.path)
    assert written.entry("group", "integration").cpu.median == 11.0
    assert written.entry("group", "parity") == previous.entry("group", "parity")
    assert [c.status for c in baseline_diff.diff(adopted.old, adopted.new)] == ["added", "added"]


@pytest.mark.skipif(len(os.sched_getaffinity(0)) < 2, reason="needs two usable cores")
def test_a_process_pinned_to_one_core_is_another_fingerprint():
    """`taskset -c 0` on a 2-core machine: its parallel work queues on one core, so its timings
    are not comparable with the unpinned runs' (bench_fresh_clone: integration judged too_slow
    against them); it learns a baseline of its own."""
    code = ("import json, os; os.sched_setaffinity(0, {min(os.sched_getaffinity(0))}); "
            "from harness.measure import environment; "
            "print(json.dumps(environment.fingerprint(environment.collect('.'))))")
    pinned = json.loads(subprocess.run([sys.executable, "-c", code], capture_output=True,
                                       text=True, check=True).stdout)
    here = environment.fingerprint(environment.collect(Path(".")))
    assert pinned["cpu_count"] == 1 and here["cpu_count"] == len(os.sched_getaffinity(0))
    assert environment.fingerprint_hash(pinned) != environment.fingerprint_hash(here)
