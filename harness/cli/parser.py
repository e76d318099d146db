"""The `harness` argument parser: one line and exit 2 on a usage error; `harness run` passes
what it does not know on to pytest."""
from __future__ import annotations

import argparse


from harness.cli.baseline import cmd_baseline
from harness.cli.combine import cmd_compare, cmd_merge
from harness.cli.common import USAGE_ERROR
from harness.cli.listing import cmd_list
from harness.cli.mutate import add_parser as add_mutate_parser
from harness.cli.reports import (cmd_brief, cmd_check_ckpt, cmd_export, cmd_history, cmd_prune,
                                 cmd_report, cmd_validate)
from harness.cli.run import cmd_run
from harness.report import export
from harness.runs.pytest_process import START_METHODS


def _version() -> str:
    """`<version> (<distribution>)` of the installed distribution that holds the harness."""
    from importlib import metadata

    names = metadata.packages_distributions().get("harness") or []
    for name in names:
        try:
            return f"{metadata.version(name)} ({name})"
        except metadata.PackageNotFoundError:
            continue
    return "unknown"   # run from a checkout that is not installed


class _VersionAction(argparse.Action):
    """--version, looked up only when asked (reading the installed distributions takes time)."""

    def __init__(self, option_strings, dest=argparse.SUPPRESS, default=argparse.SUPPRESS,
                 help="show the harness version and exit"):
        super().__init__(option_strings, dest, nargs=0, default=default, help=help)

    def __call__(self, parser, namespace, values, option_string=None):
        print(f"harness {_version()}")
        parser.exit()


def positive_int(text: str) -> int:
    if not text.isdigit() or int(text) < 1:
        raise argparse.ArgumentTypeError(f"expected an integer >= 1, got {text!r}")
    return int(text)


def workers_value(text: str) -> str:
    """-n/--workers: a positive number of pytest-xdist workers or 'auto' (checked here, so a
    bad value is one usage line, not a pytest-xdist traceback)."""
    if text == "auto" or (text.isdigit() and int(text) >= 1):
        return text
    raise argparse.ArgumentTypeError(f"expected a number of workers >= 1 or 'auto', got {text!r}")


class OneLineParser(argparse.ArgumentParser):
    """A usage error is one line on stderr and exit 2 (USAGE_ERROR), like every other harness
    error: no usage dump. Subcommand parsers inherit the class."""

    def error(self, message):
        self.exit(USAGE_ERROR, f"error: {self.prog}: {message} (see {self.prog} --help)\n")


def build_parser() -> argparse.ArgumentParser:
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument("--harness-artifacts", metavar="DIR",
                        help="harness root (default: $HARNESS_ARTIFACTS, else [artifacts] root "
                             "of selectors/harness.toml)")
    parser = OneLineParser(
        prog="harness", description="Regression harness: selector groups, cadence runs, reports.",
        epilog="exit codes: 0 green, 1 test failures, 2 usage/config/collection error, "
               "3 artifact validation failures, 4 budget findings only, 5 nothing "
               "selected, 130 interrupted")
    parser.add_argument("--version", action=_VersionAction)
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    listing = commands.add_parser("list", parents=[common],
                                  help="groups, cadences and the tests they select")
    listing.add_argument("targets", nargs="*", metavar="CADENCE|GROUP")
    listing.add_argument("--no-collect", action="store_true", help="do not collect test ids")
    listing.add_argument("--json", action="store_true",
                         help="print groups, cadences and selected test ids as JSON")
    listing.set_defaults(handler=cmd_list)

    # no abbreviations: a pytest long option must never be taken for a prefix of one of ours
    run = commands.add_parser("run", parents=[common], allow_abbrev=False,
                              help="run cadences/groups: harness run CADENCE|GROUP... [-n N] "
                                   "[PYTEST ARGS]",
                              epilog="Any other option (with the values after it) and "
                                     "everything after -- go to pytest, in order: "
                                     "harness run per_pr -x -k roundtrip. Name the targets "
                                     "first: a value after an option that is not ours "
                                     "cannot be told from a target.")
    run.add_argument("targets", nargs="+", metavar="CADENCE|GROUP")
    run.add_argument("-n", "--workers", metavar="N", type=workers_value,
                     help="pytest-xdist workers (a number >= 1 or 'auto')")
    run.add_argument("--harness-start", choices=START_METHODS,
                     help="how pytest starts: fork (default where the platform has it) or "
                          "subprocess (python -m pytest; default elsewhere; also "
                          "$HARNESS_START)")
    run.add_argument("--shard", metavar="I/N",
                     help="run part I of N, balanced by recorded durations (join the parts with "
                          "`harness merge`)")
    run.add_argument("--accelerator", choices=("cpu", "cuda"),
                     help="cuda adds the GPU variants (default: $HARNESS_ACCELERATOR, else cpu)")
    run.set_defaults(handler=cmd_run)

    show = commands.add_parser("report", parents=[common], help="re-render a run (default: latest)")
    show.add_argument("run", nargs="?", help="run folder name or path")
    show.add_argument("--format", choices=("table", "markdown", "json", "html"), default="table",
                      help="html: (re)write <run>/report.html and print its path")
    show.add_argument("--schema", action="store_true",
                      help="print the JSON Schema of report.json (harness/report/schemas/) and exit")
    show.set_defaults(handler=cmd_report)

    validate = commands.add_parser("validate", parents=[common],
                                   help="re-validate a run folder's files and kept artifacts")
    validate.add_argument("run", nargs="?", help="run folder name or path (default: latest)")
    validate.add_argument("--json", action="store_true", help="print the checks as JSON")
    validate.add_argument("--module-class", metavar="DOTTED.PATH",
                          help="LightningModule class for checkpoints (default: harness.toml)")
    validate.set_defaults(handler=cmd_validate)

    exporting = commands.add_parser("export", parents=[common],
                                    help="a run's timings for a benchmark dashboard")
    exporting.add_argument("run", nargs="?", help="run folder name or path (default: latest)")
    exporting.add_argument("--format", choices=export.FORMATS, default=export.FORMATS[0],
                           help="github-action-benchmark: its customSmallerIsBetter JSON")
    exporting.add_argument("--output", metavar="FILE", help="write here (default: stdout)")
    exporting.set_defaults(handler=cmd_export)
    ckpt = commands.add_parser("check-ckpt", help="validate a Lightning checkpoint")
    ckpt.add_argument("path", metavar="PATH", help="the .ckpt file to check (weights_only load, "
                                                   "hyper_parameters, state_dict, rebuild)")
    ckpt.add_argument("--module-class", metavar="DOTTED.PATH",
                      help="rebuild it as this LightningModule (default: the project's "
                           "[validation] checkpoint_module_class)")
    ckpt.set_defaults(handler=cmd_check_ckpt)

    joined = commands.add_parser("merge", parents=[common],
                                 help="merge the shard runs of one cadence into one run")
    joined.add_argument("runs", nargs="+", metavar="RUN",
                        help="shard run folders (names under the harness root, or paths)")
    joined.add_argument("--reruns", type=int, metavar="N",
                        help="confirmation re-runs of band/floor findings, run here (default: "
                             "[defaults] confirm_reruns of budgets.toml, as in a serial run)")
    joined.set_defaults(handler=cmd_merge)

    ab = commands.add_parser("compare", parents=[common],
                             help="A/B: run a selection alternately at BASE_REF (a git "
                                  "worktree) and HEAD (this working tree); per-group ratio with "
                                  "a bootstrap interval; exit 4 on a regression")
    ab.add_argument("base_ref", metavar="BASE_REF", help="branch, tag or commit to compare with")
    ab.add_argument("targets", nargs="*", metavar="CADENCE|GROUP", help="default: per_pr")
    ab.add_argument("--pairs", type=int, default=6, help="BASE/HEAD run pairs (default 6)")
    ab.add_argument("--threshold", type=float, default=0.10,
                    help="slowdown (and speed-up) that is flagged, as a fraction (default 0.10)")
    ab.add_argument("--warmup", type=int, default=1,
                    help="unmeasured BASE runs before the pairs (default 1)")
    ab.set_defaults(handler=cmd_compare)

    handoff = commands.add_parser("brief", help="render the handoff brief from selectors/*.toml")
    handoff.add_argument("--output", metavar="FILE",
                         help="where to write it (default docs/handoff_brief.md; - for stdout)")
    handoff.add_argument("--check", action="store_true",
                         help="exit 1 when FILE differs from a fresh render (writes nothing)")
    handoff.set_defaults(handler=cmd_brief)

    baseline = commands.add_parser("baseline", parents=[common],
                                   help="record or show this machine's runtime baseline")
    actions = baseline.add_subparsers(dest="action", required=True, metavar="ACTION")
    record = actions.add_parser("record", parents=[common],
                                help="run CADENCE (or groups) N times, write "
                                     "baselines/runtime/<fingerprint>.json")
    record.add_argument("targets", nargs="+", metavar="CADENCE|GROUP")
    record.add_argument("--runs", type=int, default=5, help="recording runs (default 5)")
    record.add_argument("-n", "--workers", metavar="N", type=workers_value,
                        help="pytest-xdist workers (a number >= 1 or 'auto')")
    record.add_argument("--dry-run", action="store_true", help="show the diff, write nothing")
    adopt = actions.add_parser("adopt", parents=[common],
                               help="write this machine's provisional baseline (learnt from "
                                    "the ledger's green runs) to baselines/runtime/")
    adopt.add_argument("--dry-run", action="store_true", help="show the diff, write nothing")
    actions.add_parser("show", parents=[common], help="the baseline matching this machine")
    baseline.set_defaults(handler=cmd_baseline)

    history = commands.add_parser("history", parents=[common], help="recent trend per group")
    history.add_argument("--limit", type=positive_int, default=20, help="last N runs (default 20)")
    history.add_argument("--cadence", help="only runs of this cadence / label")
    history.add_argument("--tests", type=positive_int, nargs="?", const=10, metavar="N",
                         help="also the per-test trend of the N slowest tests (default 10)")
    history.add_argument("--json", action="store_true",
                         help="print the ledger entries (timings and verdicts per group) as JSON")
    history.set_defaults(handler=cmd_history)

    prune = commands.add_parser("prune", parents=[common], help="apply the retention policy")
    prune.add_argument("--keep", type=int, help="keep the newest K runs (default: harness.toml)")
    prune.add_argument("--dry-run", action="store_true",
                       help="show which run folders would be deleted, delete nothing")
    prune.set_defaults(handler=cmd_prune)
    add_mutate_parser(commands, common)  # harness mutate: mutation score per component
    return parser


def parse_arguments(parser: argparse.ArgumentParser,
                    argv: list[str]) -> tuple[argparse.Namespace, list[str]]:
    """(harness's arguments, pytest's arguments). `harness run` passes every option it does
    not know itself, with the values after it, to pytest in order (so `nox -s per_pr -- -x`
    works), then everything after `--` untouched; other commands refuse unknown arguments."""
    after_dashes: list[str] = []
    if "--" in argv:
        split = argv.index("--")
        argv, after_dashes = argv[:split], argv[split + 1:]
    args, unknown = parser.parse_known_args(argv)
    if args.command != "run":
        if unknown:
            parser.error(f"unrecognized arguments: {' '.join(unknown)} (only `harness run` "
                         "passes options on to pytest)")
        if after_dashes:
            parser.error("arguments after -- are passed to pytest by `harness run` only")
    return args, unknown + after_dashes
