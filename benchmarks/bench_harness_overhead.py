"""Harness overhead: the per-PR selection run through `harness run per_pr` versus the same
tests under plain pytest (the plugin stays loaded from conftest.py but is inactive without
--harness-run). Runs alternate; medians of wall and CPU seconds are compared (target: the
harness adds <= 3 % wall time). Results: benchmarks/results/harness_overhead.json.

    python benchmarks/bench_harness_overhead.py [--runs N]
"""
from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _timing import interleaved, write_results  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
TARGET = 0.03


def commands() -> dict[str, list[str]]:
    """The same tests both ways: plain pytest gets the per_pr groups' folders and markers from
    the selectors config (the folders, so that both collect the same modules - with
    `tests/suite -m ...` pytest would also import every other group's modules)."""
    sys.path.insert(0, str(ROOT))
    from harness import selectors

    settings = selectors.load(ROOT)
    groups = [settings.groups[name] for name in settings.resolve(["per_pr"]).groups]
    return {
        "harness": ["harness", "run", "per_pr"],
        "pytest": [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider",
                   *(path for group in groups for path in group.paths),
                   "-m", " or ".join(group.marker for group in groups)],
    }


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=3, help="runs of each (default 3)")
    args = parser.parse_args(argv)
    load_before = os.getloadavg()
    compared = commands()
    results = interleaved(compared, args.runs, ROOT)
    harness, plain = results["harness"], results["pytest"]
    overhead = harness["median_wall_s"] / plain["median_wall_s"] - 1
    cpu_overhead = harness["median_cpu_s"] / plain["median_cpu_s"] - 1
    print(f"harness run per_pr {harness['median_wall_s']:.1f} s vs plain pytest "
          f"{plain['median_wall_s']:.1f} s: {overhead:+.1%} wall, {cpu_overhead:+.1%} CPU "
          f"(target <= {TARGET:.0%} wall)")
    write_results("harness_overhead", load_before, commands=compared, results=results,
                  wall_overhead=overhead, cpu_overhead=cpu_overhead, target=TARGET)
    return 0 if overhead <= TARGET else 1


if __name__ == "__main__":
    sys.exit(main())
