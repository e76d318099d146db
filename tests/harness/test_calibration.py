"""The calibration workload, the speed ratio and how it carries baselines; the two clocks."""
import subprocess
import sys

import pytest

from harness import calibration
from harness.baselines import Entry, Reference, Stats
from harness.timing import Measurement, stopwatch


def entry(calibration_s):
    return Entry(Stats.of([10.0]), Stats.of([9.0]), calibration_s, "per_pr", "2025-10-19T21:58:00Z")


def test_workload_is_deterministic():
    assert calibration.workload(rounds=2) == calibration.workload(rounds=2)
    assert calibration.workload(rounds=2) != calibration.workload(rounds=3)


def test_measure_takes_the_median_cpu_time_of_repetitions():
    result = calibration.measure(repetitions=3)
    assert len(result.cpu_s) == len(result.wall_s) == 3
    assert result.seconds == sorted(result.cpu_s)[1] > 0


def test_speed_ratio():
    assert calibration.speed_ratio(0.2, 0.1) == pytest.approx(2.0)
    assert calibration.speed_ratio(0.05, 0.1) == pytest.approx(0.5)
    with pytest.raises(ValueError):
        calibration.speed_ratio(0.0, 0.1)


def test_no_scaling_on_the_recording_machine_unless_load_normalisation_is_on():
    same = Reference(None, exact=True, calibration_s=0.3)
    assert same.scale_for(entry(0.1), normalise_load=False) == 1.0
    assert same.scale_for(entry(0.1), normalise_load=True) == pytest.approx(3.0)


def test_other_machines_are_always_scaled_when_both_sides_were_calibrated():
    other = Reference(None, exact=False, calibration_s=0.05)
    assert other.scale_for(entry(0.1), normalise_load=False) == pytest.approx(0.5)
    assert other.scale_for(entry(None), normalise_load=False) == 1.0
    assert Reference(None, exact=False).scale_for(entry(0.1), normalise_load=True) == 1.0


def test_stopwatch_counts_cpu_time_of_reaped_children():
    burn = "import time\nt = time.process_time()\nwhile time.process_time() - t < 0.3: pass"
    with stopwatch() as watch:
        subprocess.run([sys.executable, "-c", burn], check=True)
    assert watch.measurement.cpu_s >= 0.3
    assert watch.measurement.wall_s >= 0.3


def test_measurements_add_up_and_lose_cpu_when_one_side_lacks_it():
    assert Measurement(1.0, 0.5) + Measurement(2.0, 1.0) == Measurement(3.0, 1.5)
    assert (Measurement(1.0, 0.5) + Measurement.of(2)) == Measurement(3.0, None)


def test_session_speed_from_start_and_end_calibrations_is_their_geometric_mean():
    reference = Reference(None, exact=True, calibration_s=0.1).calibrated(0.4)
    assert reference.calibration_s == pytest.approx(0.2)
    assert Reference(None, exact=True).calibrated(0.1, 0.4) == reference
    assert reference.scale_for(entry(0.1), normalise_load=True) == pytest.approx(2.0)
