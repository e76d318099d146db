"""`harness mutate`'s command line, registered by harness/cli.py. Kept apart from
harness.mutation.command so that building the CLI's parser imports nothing heavy (`harness
run` forks its pytest process before numpy is imported; see harness/pytest_process.py)."""


def _cmd_mutate(args, console) -> int:
    from harness.mutation import command

    return command.cmd_mutate(args, console)


def add_parser(commands, common) -> None:
    """Register `harness mutate` on the CLI's subcommands."""
    mutate = commands.add_parser(
        "mutate", parents=[common],
        help="mutation score per component: mutate the guarded modules, run their tests")
    mutate.add_argument("components", nargs="*", metavar="COMPONENT",
                        help="components of selectors/components.toml (default: all)")
    mutate.add_argument("-n", "--workers", type=int, metavar="N",
                        help="mutants tested in parallel, each in its own scratch copy "
                             "(default: [settings] workers)")
    mutate.add_argument("--shard", metavar="I/N", help="test part I of N of the mutants "
                                                       "(join the parts with --merge)")
    mutate.add_argument("--merge", nargs="+", metavar="RUN",
                        help="join mutation shard runs into one run")
    mutate.add_argument("--list", action="store_true",
                        help="show the components, their mutant counts and tests; run nothing")
    mutate.add_argument("-v", "--verbose", action="store_true", help="print every mutant")
    mutate.set_defaults(handler=_cmd_mutate)
