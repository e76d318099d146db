"""Make the suite miss kills on purpose and show that the mutation score says so.

    python benchmarks/break_mutation.py [COMPONENT]     (default: archive, ~3 min on 2 cores)

The committed HEAD is checked out twice into temporary git worktrees. In the first,
`python -m harness mutate COMPONENT` runs as committed; in the second, the component's unit
test file first has every plain assertion swallowed (`assert X` -> `assert True or X`; the
`pytest.raises` checks stay), the way a test that catches its own AssertionError goes blind.
The script checks that the score drops and that the new survivors are listed in report.md with
file:line and their diff (the run exits 4 only when the drop takes the component below its
target); results in benchmarks/results/break_mutation.json.
"""
from __future__ import annotations

import argparse
import json
import os
import re
import subprocess
import sys
import tempfile
from pathlib import Path

from _timing import write_results

REPO_ROOT = Path(__file__).resolve().parents[1]
# component -> the test file whose assertions are swallowed
TEST_FILES = {"archive": "tests/unit/test_archive.py", "reference": "tests/unit/test_reference.py",
              "grouping": "tests/unit/test_raw_data.py", "config_bridge": "tests/unit/test_config.py"}
_ASSERT = re.compile(r"^(\s+)assert (?!True or )", re.M)


def mutate(tree: Path, artifacts: Path, component: str) -> tuple[int, dict, str]:
    env = {**os.environ, "HARNESS_ARTIFACTS": str(artifacts)}
    done = subprocess.run([sys.executable, "-m", "harness", "mutate", component], cwd=tree,
                          env=env, capture_output=True, text=True)
    runs = sorted(p for p in artifacts.glob("*-mutation") if (p / "report.json").is_file())
    if not runs:
        sys.exit(f"error: harness mutate {component} wrote no report (exit {done.returncode}):"
                 f"\n{done.stdout[-2000:]}{done.stderr[-2000:]}")
    return (done.returncode, json.loads((runs[-1] / "report.json").read_text()),
            (runs[-1] / "report.md").read_text())


def run(component: str, work: Path, broken: bool) -> dict:
    tree = work / ("broken" if broken else "intact")
    subprocess.run(["git", "-C", str(REPO_ROOT), "worktree", "add", "-q", "--detach", str(tree),
                    "HEAD"], check=True)
    try:
        swallowed = 0
        if broken:
            path = tree / TEST_FILES[component]
            text, swallowed = _ASSERT.subn(r"\1assert True or ", path.read_text())
            path.write_text(text)
        code, report, markdown = mutate(tree, work / f"{tree.name}-artifacts", component)
    finally:
        subprocess.run(["git", "-C", str(REPO_ROOT), "worktree", "remove", "--force", str(tree)],
                       check=False)
    summary = report["mutation"]["components"][component]
    survivors = [m for m in report["mutation"]["mutants"]
                 if m["outcome"] == "survived" and not m.get("equivalent")]
    return {"exit": code, "swallowed_assertions": swallowed, "score": summary["score"],
            "killed": summary["killed"], "survived": summary["survived"],
            "timed_out": summary["timed_out"], "equivalent": summary["equivalent"],
            "total": summary["total"], "wall_seconds": report["wall_seconds"],
            "survivors": [f"{m['file']}:{m['line']} {m['operator']}" for m in survivors],
            "named_in_report_md": all(f"`{m['file']}:{m['line']}`" in markdown
                                      for m in survivors[:25])}


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("component", nargs="?", default="archive", choices=sorted(TEST_FILES))
    args = parser.parse_args(argv)
    load_before = os.getloadavg()
    with tempfile.TemporaryDirectory(prefix="break-mutation-") as work:
        intact = run(args.component, Path(work), broken=False)
        broken = run(args.component, Path(work), broken=True)
    new = sorted(set(broken["survivors"]) - set(intact["survivors"]))
    # caught: the score drops and report.md names every new survivor; the exit code turns 4
    # only where the drop takes the component below its target
    caught = broken["score"] < intact["score"] and broken["named_in_report_md"] and bool(new)
    for name, result in (("intact", intact), ("broken", broken)):
        print(f"{name}: score {100 * result['score']:.1f} % ({result['killed']} killed, "
              f"{result['survived']} survived, {result['timed_out']} timed out of "
              f"{result['total']}), exit {result['exit']}, {result['wall_seconds']:.0f} s")
    print(f"{len(new)} new survivors, e.g. {', '.join(new[:5])}; "
          f"{'caught' if caught else 'MISSED'}")
    write_results("break_mutation", load_before, component=args.component, intact=intact,
                  broken=broken, new_survivors=new, caught=caught)
    return 0 if caught else 1


if __name__ == "__main__":
    sys.exit(main())
