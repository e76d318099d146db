"""Weekly cadence serial versus two pytest-xdist workers: `harness run weekly` and
`harness run weekly -n 2`, alternating; medians of wall and CPU seconds. The faster one is the
default (README "Performance"). Results: benchmarks/results/parallelism.json.

    python benchmarks/bench_parallelism.py [--runs N]
"""
from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _timing import interleaved, write_results  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
COMMANDS = {"serial": ["harness", "run", "weekly"],
            "-n 2": ["harness", "run", "weekly", "-n", "2"]}


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=2, help="runs of each (default 2)")
    args = parser.parse_args(argv)
    load_before = os.getloadavg()
    results = interleaved(COMMANDS, args.runs, ROOT)
    for name, result in results.items():
        print(f"weekly {name:>6}: median {result['median_wall_s']:.1f} s wall, "
              f"{result['median_cpu_s']:.1f} s CPU")
    faster = min(results, key=lambda name: results[name]["median_wall_s"])
    print(f"faster: {faster}")
    write_results("parallelism", load_before, commands=COMMANDS, results=results, faster=faster)
    return 0


if __name__ == "__main__":
    sys.exit(main())
