"""`harness merge` (shards into one run) and `harness compare` (A/B runs of two trees)."""
from __future__ import annotations

import argparse
import sys

from rich.console import Console
from rich.markup import escape

from harness.cli.common import UsageProblem, _context, _run_folder
from harness.cli.run import _append_step_summary
from harness.report import model as report


def cmd_merge(args, console: Console) -> int:
    from harness.runs import merge

    ctx = _context(args)
    runs = [_run_folder(argparse.Namespace(run=name), ctx) for name in args.runs]
    try:
        run_dir, final = merge.merge(runs, ctx.artifacts, ctx.settings,
                                     hooks=merge.hook_findings(ctx.project_root, args.reruns))
    except merge.MergeError as exc:
        raise UsageProblem(str(exc)) from None
    report.render_rich(final, console)
    console.print(f"merged {len(runs)} shard runs -> {run_dir} (report.md, report.html, "
                  "junit.xml, logs/, tests/)", highlight=False)
    _append_step_summary(run_dir)
    return final["exit_code"]


def cmd_compare(args, console: Console) -> int:
    """`harness compare BASE_REF [CADENCE|GROUP...]`: A/B of BASE_REF against this working tree
    on this machine (harness/runs/compare.py)."""
    from harness.runs import compare

    ctx = _context(args)
    targets = args.targets or ["per_pr"]
    console.print(f"harness compare {escape(args.base_ref)} vs HEAD: {' '.join(targets)}, "
                  f"{args.pairs} pairs", highlight=False)
    try:
        folder, doc = compare.run_comparison(
            ctx.project_root, ctx.settings, ctx.artifacts, args.base_ref, targets, args.pairs,
            args.threshold, args.warmup,
            progress=lambda line: console.print(escape(line), highlight=False))
    except compare.CompareError as exc:  # before anything ran
        raise UsageProblem(str(exc)) from None
    for result in doc["results"]:
        style = {"slower": "red", "faster": "yellow"}.get(result["verdict"], "green")
        console.print(f"[{style}]{result['verdict']:>6}[/] {escape(result['kind'])} "
                      f"{escape(result['subject'])}: HEAD/BASE {result['ratio']:.3f} "
                      f"(interval {result['interval'][0]:.3f}-{result['interval'][1]:.3f}, "
                      f"{len(result['ratios'])} pairs)", highlight=False)
    if doc.get("error"):
        print(f"error: {doc['error']}", file=sys.stderr)
    console.print(f"compare folder: {folder} (report.md, report.html, report.json, runs/) -> "
                  f"{doc['status']}, exit {doc['exit_code']}", highlight=False)
    _append_step_summary(folder)
    return doc["exit_code"]
