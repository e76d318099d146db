"""`harness list`: what a cadence or group selects (optionally collected by pytest)."""
from __future__ import annotations

import json
import subprocess
import tempfile
from pathlib import Path

from rich.console import Console
from rich.markup import escape
from rich.table import Table

from harness.cli.common import (USAGE_ERROR, Context, UsageProblem, _context, _last_error_line,
                                _print_json)
from harness.config import selectors
from harness.report import model as report
from harness.runs import pytest_process


def _list_json(ctx: Context, selection: selectors.Selection, collect: bool) -> int:
    """`harness list --json`: groups, cadences and (unless --no-collect) the selected ids."""
    settings = ctx.settings
    document = {
        "groups": {name: {"owner": g.owner, "description": g.description,
                          "cadences": list(g.cadences), "marker": g.marker,
                          "paths": list(g.paths), "node_ids": list(g.node_ids),
                          "selected": name in selection.groups,
                          "guardrails": report.guardrails_text(g.budget) or None}
                   for name, g in settings.groups.items()},
        "cadences": {name: {"description": c.description,
                            "groups": [g for g, group in settings.groups.items()
                                       if name in group.cadences],
                            "persistent_artifacts": c.persistent_artifacts,
                            "guardrails": report.guardrails_text(c.budget) or None}
                     for name, c in settings.cadences.items()},
    }
    errors = []
    if collect:
        listing = _collect(ctx, selection)
        errors = [error["message"] for error in listing["errors"]]
        document["tests"] = [{"nodeid": t["nodeid"], "group": t["group"]} for t in listing["tests"]]
        document["errors"] = errors
    _print_json(document)
    return USAGE_ERROR if errors else 0


def cmd_list(args, console: Console) -> int:
    ctx = _context(args)
    settings = ctx.settings
    targets = args.targets or list(settings.groups)
    selection = settings.resolve(targets)
    if args.json:
        return _list_json(ctx, selection, not args.no_collect)
    groups = Table(title="selector groups")
    for column in ("group", "owner", "cadences", "selection", "guardrails"):
        groups.add_column(column, no_wrap=column in ("group", "selection", "guardrails"))
    for name, group in settings.groups.items():
        chosen = name in selection.groups
        picks = [f"marker {group.marker}"] if group.marker else []
        picks += [f"path {p}/" for p in group.paths] + [f"id {n}" for n in group.node_ids]
        groups.add_row(f"[bold]{name}[/]" if chosen else f"[dim]{name}[/]", group.owner,
                       ", ".join(group.cadences), escape("\n".join(picks)),
                       escape(report.guardrails_text(group.budget, "\n") or "-"))
    console.print(groups)
    cadences = Table(title="cadences")
    for column in ("cadence", "groups", "persistent artifacts", "guardrails", "description"):
        cadences.add_column(column)
    for name, cadence in settings.cadences.items():
        members = [g.name for g in settings.groups.values() if name in g.cadences]
        cadences.add_row(name, ", ".join(members), "yes" if cadence.persistent_artifacts else "no",
                         escape(report.guardrails_text(cadence.budget, "\n") or "-"),
                         escape(cadence.description))
    console.print(cadences)
    if args.no_collect:
        return 0
    listing = _collect(ctx, selection)
    for error in listing["errors"]:
        console.print(f"[red]collection error[/] {escape(error['message'])}", highlight=False)
    by_group: dict[str, list[str]] = {name: [] for name in selection.groups}
    for test in listing["tests"]:
        by_group.setdefault(test["group"] or "?", []).append(test["nodeid"])
    # the same lookup as the group and cadence guardrails: a [tests."<node id or glob>"] entry
    guardrails = selectors.guardrails_of(ctx.project_root)
    for name, ids in by_group.items():
        description = settings.groups[name].description if name in settings.groups else ""
        console.print(f"[bold]{name}[/] ({len(ids)} test{'s' if len(ids) != 1 else ''}): "
                      f"{escape(description)}", highlight=False)
        for nodeid in ids:
            limits = report.guardrails_text(guardrails("test", nodeid))
            console.print(f"  {escape(nodeid)}" + (f"  [dim]{escape(limits)}[/]" if limits else ""),
                          highlight=False)
    return USAGE_ERROR if listing["errors"] else 0


def _collect(ctx: Context, selection: selectors.Selection) -> dict:
    """`pytest --collect-only -q` in a subprocess; the plugin writes ids, groups and errors."""
    with tempfile.TemporaryDirectory() as scratch:
        target = Path(scratch) / "collected.json"
        command = pytest_process.pytest_command(
            "--collect-only", *pytest_process.QUIET, targets=selection.targets,
            extra=["--harness-collect-json", str(target)])
        done = subprocess.run(command, cwd=ctx.project_root, capture_output=True, text=True)
        if not target.is_file():
            raise UsageProblem(f"pytest --collect-only failed (exit {done.returncode}): "
                               f"{_last_error_line(done.stdout + done.stderr)}")
        return json.loads(target.read_text(encoding="utf-8"))
