"""The calibration workload, the speed ratio and how it carries baselines; the two clocks."""
import subprocess
import sys
import time
from dataclasses import replace

import pytest

from harness.measure import calibration
from harness.records.baselines import Entry, Reference, Stats
from harness.measure.calibration import SpeedProbe
from harness.measure.timing import Measurement, stopwatch


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
    assert same.scale_for(entry(0.1), None, normalise_load=False) == (1.0, "none")
    factor, how = same.scale_for(entry(0.1), None, normalise_load=True)
    assert factor == pytest.approx(3.0) and how == "calibration"


def test_other_machines_are_never_scaled():
    """No short workload predicts the suite's groups across machines (see harness.records.baselines):
    another machine's seconds are used as recorded, and its verdicts are estimated."""
    other = Reference(None, exact=False, calibration_s=0.05)
    assert other.scale_for(entry(0.1), None, normalise_load=True) == (1.0, "none")
    probed = replace(entry(0.1), speed_s=0.0003)
    assert other.scale_for(probed, Measurement(1.0, 1.0, 0.0001), True) == (1.0, "none")
    # an exact reference's fallback entry (another machine) is not scaled either
    same = Reference(None, exact=True, calibration_s=0.05)
    assert same.scale_for(entry(0.1), None, True, exact=False) == (1.0, "none")
    assert same.scale_for(entry(0.1), None, True)[0] == pytest.approx(0.5)


def test_the_speed_probe_reading_of_the_measurement_wins_over_the_session_calibration():
    probed = replace(entry(0.1), speed_s=0.0003)
    session = Reference(None, exact=True, calibration_s=0.1)  # calibration says: no load
    factor, how = session.scale_for(probed, Measurement(1.0, 1.0, 0.0006), normalise_load=True)
    assert factor == pytest.approx(2.0 ** calibration.PROBE_EXPONENT) and how == "speed probe"
    # without a probe reading on either side, the calibration decides
    assert session.scale_for(probed, Measurement(1.0, 1.0), True) == (1.0, "calibration")
    assert session.scale_for(entry(0.1), Measurement(1.0, 1.0, 0.0006), True) == (1.0, "calibration")


def test_speed_probe_samples_in_the_background_and_its_cpu_is_not_the_bodys():
    with SpeedProbe(interval_s=0.001) as probe:
        with stopwatch(probe) as idle:
            time.sleep(0.3)
        start = probe.mark()
        speed, probe_cpu = probe.since(start)
        assert speed is None and probe_cpu == 0.0
    assert 0 < idle.measurement.speed_s < 0.05  # CPU seconds per ~0.3 ms probe
    samples = probe.since(0)
    assert 0.01 < samples[1] < idle.measurement.wall_s  # the probe did spend CPU time ...
    assert idle.measurement.cpu_s < samples[1] / 2  # ... which the sleeping body is not charged
    with pytest.raises(ValueError):
        SpeedProbe(interval_s=0)


def test_speed_probe_thins_out_in_long_windows():
    """Dense for the first DENSE_READINGS intervals of a window, then the interval grows with
    the window's age up to SPARSE_FACTOR x: ~180 readings in 1 s at 2 ms instead of ~500;
    a new window (mark) is read densely again."""
    probe = SpeedProbe(interval_s=0.002)
    assert probe.interval_at(0.05) == 0.002
    assert probe.interval_at(0.2) == pytest.approx(0.2 / calibration.DENSE_READINGS)
    assert probe.interval_at(60.0) == calibration.SPARSE_FACTOR * 0.002
    with probe:
        long_window = probe.mark()
        time.sleep(1.0)
        short_window = probe.mark()
        readings = short_window - long_window
        time.sleep(0.1)
        assert 40 < readings < 300
        assert probe.mark() - short_window > 25  # ~45 at 2 ms


def test_speed_probe_mean_is_weighted_by_the_time_each_reading_stands_for():
    probe = SpeedProbe()
    probe._readings = [(1.0, 0.02), (3.0, 0.06)]  # (probe CPU s, s since the reading before)
    assert probe.since(0) == (pytest.approx(2.5), 4.0)
    assert probe.since(2) == (None, 0.0)


def test_stopwatch_counts_cpu_time_of_reaped_children():
    burn = "import time\nt = time.process_time()\nwhile time.process_time() - t < 0.3: pass"
    with stopwatch() as watch:
        subprocess.run([sys.executable, "-c", burn], check=True)
    assert watch.measurement.cpu_s >= 0.3
    assert watch.measurement.wall_s >= 0.3


def test_measurements_add_up_and_lose_cpu_when_one_side_lacks_it():
    assert Measurement(1.0, 0.5) + Measurement(2.0, 1.0) == Measurement(3.0, 1.5)
    assert (Measurement(1.0, 0.5) + Measurement.of(2)) == Measurement(3.0, None)


def test_a_sum_runs_at_the_cpu_weighted_speed_of_its_parts():
    total = Measurement(1.0, 1.0, 0.001) + Measurement(3.0, 3.0, 0.002) + Measurement(1.0, 1.0)
    assert total.speed_s == pytest.approx((0.001 * 1 + 0.002 * 3) / 4)
    assert (Measurement(1.0, 1.0) + Measurement(1.0, 1.0)).speed_s is None


def test_session_speed_from_start_and_end_calibrations_is_their_geometric_mean():
    reference = Reference(None, exact=True, calibration_s=0.1).calibrated(0.4)
    assert reference.calibration_s == pytest.approx(0.2)
    assert Reference(None, exact=True).calibrated(0.1, 0.4) == reference
    assert reference.scale_for(entry(0.1), None, normalise_load=True)[0] == pytest.approx(2.0)
