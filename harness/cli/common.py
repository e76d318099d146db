"""What every `harness` command shares: the project context, usage problems, exit codes."""
from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

from harness.config import selectors
from harness.records import runfolder
from harness.report.exitcodes import ExitCode

USAGE_ERROR = ExitCode.ERROR
VALIDATION_FAILED = ExitCode.INVALID
INTERRUPTED = ExitCode.INTERRUPTED


class UsageProblem(Exception):
    """Bad input to the CLI: printed as one `error: ...` line, exit 2."""


@dataclass
class Context:
    project_root: Path
    settings: selectors.HarnessConfig
    artifacts: Path


def _context(args) -> Context:
    root = selectors.find_project_root(Path.cwd())
    settings = selectors.load(root)
    artifacts = runfolder.resolve_root(root, settings.artifacts_root,
                                       getattr(args, "harness_artifacts", None), Path.cwd())
    return Context(root, settings, artifacts)


def _last_error_line(output: str) -> str:
    lines = [line.strip() for line in output.splitlines() if line.strip()]
    errors = [line for line in lines if line.startswith("ERROR")]
    return (errors or lines or ["no output"])[-1]


def _run_folder(args, ctx: Context) -> Path:
    try:
        return runfolder.find_run(ctx.artifacts, args.run)
    except FileNotFoundError as exc:
        raise UsageProblem(str(exc)) from None


def _print_json(document) -> None:
    print(json.dumps(document, indent=2, default=str))
