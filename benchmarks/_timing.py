"""Shared by the benchmark scripts: one command's wall and CPU seconds, interleaved
repetitions of rival commands (so a change in machine load hits them alike), and the results
file each script writes."""
from __future__ import annotations

import json
import os
import resource
import statistics
import subprocess
import time
from datetime import datetime, timezone
from pathlib import Path

from ptycho.fileio import atomic_output

RESULTS = Path(__file__).resolve().parent / "results"


def timed(command: list[str], cwd: Path | None = None, env: dict | None = None,
          probe=None) -> dict:
    """Run `command` to the end: {"wall_s", "cpu_s" (user + sys of the child tree),
    "returncode", "stdout", "stderr"}, plus "speed_s", the machine's speed meanwhile, when a
    running harness.measure.calibration.SpeedProbe is given."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    mark = probe.mark() if probe else 0
    started = time.perf_counter()
    proc = subprocess.run(command, cwd=cwd, env=env, capture_output=True, text=True)
    wall = time.perf_counter() - started
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    speed = {"speed_s": probe.since(mark)[0]} if probe else {}
    return {"wall_s": wall, "cpu_s": cpu, "returncode": proc.returncode,
            "stdout": proc.stdout, "stderr": proc.stderr, **speed}


def interleaved(commands: dict[str, list[str]], runs: int, cwd: Path, report=print,
                probe=None, counterbalanced: bool = False) -> dict:
    """Run each named command `runs` times, alternating; {name: {"runs": [...], "median_wall_s",
    "median_cpu_s"}} (stdout/stderr dropped). With a running speed probe each run also
    records the machine's speed while it ran (see timed). `counterbalanced`: every other round
    runs the commands in reverse order, so that going first or second favours none of them."""
    results = {name: [] for name in commands}
    for index in range(runs):
        order = list(commands.items())
        if counterbalanced and index % 2:
            order.reverse()
        for name, command in order:
            outcome = timed(command, cwd, probe=probe)
            outcome.pop("stdout"), outcome.pop("stderr")
            results[name].append(outcome)
            speed = (f", probe {outcome['speed_s'] * 1e3:.3f} ms"
                     if outcome.get("speed_s") else "")
            report(f"{name:>10} run {index + 1}: {outcome['wall_s']:.1f} s wall, "
                   f"{outcome['cpu_s']:.1f} s CPU{speed}, exit {outcome['returncode']}")
    return {name: {"runs": done,
                   "median_wall_s": statistics.median(r["wall_s"] for r in done),
                   "median_cpu_s": statistics.median(r["cpu_s"] for r in done)}
            for name, done in results.items()}


def write_results(name: str, load_before: tuple[float, ...], **fields) -> Path:
    """benchmarks/results/<name>.json: `fields`, when they were recorded and the load average
    before and after (a busy machine explains odd figures). Prints and returns the path."""
    out = RESULTS / f"{name}.json"
    with atomic_output(out, "w") as handle:   # an interrupted run keeps the previous results
        handle.write(json.dumps({
            "recorded_utc": datetime.now(timezone.utc).isoformat(timespec="seconds"),
            "load_before": load_before, "load_after": os.getloadavg(), **fields,
        }, indent=2) + "\n")
    print(f"wrote {out}")
    return out
