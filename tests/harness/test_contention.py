"""harness/measure/contention.py: the CPU time other processes took from a run's cores, on a fake
/proc (exact arithmetic) and on this machine's real one (an own child is own work, a detached
neighbour is foreign)."""
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from harness.measure import contention

pytestmark = pytest.mark.skipif(not Path("/proc/stat").is_file(), reason="needs Linux /proc")
TICKS = os.sysconf("SC_CLK_TCK")
BURN = "import time\nend = time.process_time() + {s}\nwhile time.process_time() < end: pass\n"


def fake_proc(root: Path, cpus: dict[int, int], processes: dict[int, tuple[int, int]]) -> Path:
    """cpus: cpu -> busy ticks (split over user and steal); processes: pid -> (ppid, ticks)."""
    lines = ["cpu  0 0 0 0 0 0 0 0 0 0"]
    lines += [f"cpu{n} {busy - busy // 4} 0 0 500 7 0 0 {busy // 4} 0 0"
              for n, busy in cpus.items()]
    (root / "stat").write_text("\n".join(lines) + "\n")
    for pid, (ppid, ticks) in processes.items():
        (root / str(pid)).mkdir()
        # utime stime cutime cstime = ticks split in four; the name holds a space and a ")"
        fields = ["S", str(ppid)] + ["0"] * 9 + [str(ticks // 4)] * 4 + ["0"] * 5
        (root / str(pid) / "stat").write_text(f"{pid} (odd name) x) {' '.join(fields)}\n")
    return root


def test_busy_time_counts_only_the_usable_cpus_and_steal(tmp_path):
    proc = fake_proc(tmp_path, {0: 4 * TICKS, 1: 8 * TICKS, 2: 100 * TICKS}, {})
    assert contention.machine_busy_s({0, 1}, proc) == pytest.approx(12.0)


def test_the_tree_is_the_process_its_live_descendants_and_what_they_reaped(tmp_path):
    proc = fake_proc(tmp_path, {0: 0}, {
        10: (1, 4 * TICKS), 11: (10, 8 * TICKS), 12: (11, 4 * TICKS),  # 10 -> 11 -> 12
        20: (1, 40 * TICKS), 21: (20, 40 * TICKS)})                    # another tree
    assert contention.tree_cpu_s(10, proc) == pytest.approx(16.0)
    assert contention.tree_cpu_s(99, proc) == 0.0  # gone: nothing


def test_foreign_work_is_machine_busy_minus_own_and_judged_against_the_threshold():
    start = contention.Sample(100.0, machine_busy_s=50.0, own_s=20.0, cpus=2)
    end = contention.Sample(140.0, machine_busy_s=130.0, own_s=80.0, cpus=2)
    found = contention.between(start, end, threshold_cores=0.25)
    assert found.foreign_cpu_s == pytest.approx(20.0) and found.foreign_cores == pytest.approx(0.5)
    assert found.contended and "CONTENDED" in found.describe()
    assert "0.50 cores on average" in found.describe()
    assert not contention.between(start, end, threshold_cores=0.6).contended
    assert contention.between(None, end, 0.25) is None
    assert contention.between(end, start, 0.25) is None


def detached_burner(seconds: float) -> int:
    """A CPU burner that is not our descendant (the shell that started it exits at once)."""
    out = subprocess.run(["sh", "-c", f'"{sys.executable}" -c "{BURN.format(s=seconds)}" '
                                      ">/dev/null 2>&1 & echo $!"],
                         capture_output=True, text=True, check=True)
    return int(out.stdout)


def test_on_this_machine_an_own_child_is_own_work_and_a_detached_one_is_foreign():
    # (other work on this machine may add foreign time at any moment: only lower bounds hold)
    start = contention.sample()
    subprocess.run([sys.executable, "-c", BURN.format(s=1.0)], check=True)
    end = contention.sample()
    assert end.own_s - start.own_s >= 1.0  # the 1 CPU-s child was ours
    assert end.machine_busy_s - start.machine_busy_s >= 1.0

    pid = detached_burner(5.0)
    try:
        start = contention.sample()
        time.sleep(1.5)
        foreign = contention.between(start, contention.sample(), threshold_cores=0.5)
    finally:
        try:
            os.kill(pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
    assert foreign.contended and foreign.foreign_cores > 0.6, foreign.describe()
