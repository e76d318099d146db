"""`harness` (also `python -m harness`): list, run, report, validate, check-ckpt, baseline,
history, prune, merge, brief, compare.

`harness run` forks its pytest process (`pytest -p harness.plugin --harness-run ...`, in the
project root, in its own session; see harness/runs/pytest_process.py): the CLI stays free of test
imports, the test process can be interrupted cleanly, and its output goes to <run>/pytest.log
while the CLI shows live progress from <run>/events.jsonl. Exit codes: see EXIT_CODES in
harness/report/model.py (0 green, 1 test failures, 2 usage/config/collection error, 3 artifact
validation failures, 4 budget findings only, 5 nothing selected, 130 interrupted).
"""
from __future__ import annotations

import os
import sys

from rich.console import Console

from harness.cli.common import INTERRUPTED, USAGE_ERROR, UsageProblem
from harness.cli.parser import build_parser, parse_arguments
from harness.cli.run import cmd_run
from harness.config import selectors
from harness.records import runfolder


def main(argv: list[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    args, pytest_args = parse_arguments(build_parser(), argv)
    # CI logs are wider than the 80 columns rich assumes without a terminal
    console = Console(width=None if sys.stdout.isatty() else 140)
    try:
        if args.command == "run":
            return cmd_run(args, console, pytest_args)
        return args.handler(args, console)
    except (selectors.ConfigError, UsageProblem, runfolder.NotARootFolder) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return USAGE_ERROR
    except KeyboardInterrupt:
        return INTERRUPTED
    except BrokenPipeError:  # `harness report | head`
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 0
