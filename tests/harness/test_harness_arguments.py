"""How `harness run` splits its command line between itself and pytest, and the nox sessions
that forward their arguments to it (no subprocess: the parser and the noxfile are loaded here)."""
import importlib.util
from pathlib import Path

import pytest

from harness import cli

REPO = Path(__file__).resolve().parents[2]


def split(*argv: str):
    args, pytest_args = cli.parse_arguments(cli.build_parser(), list(argv))
    return args, pytest_args


@pytest.mark.parametrize("argv, targets, workers, pytest_args", [
    (["run", "per_pr", "-x"], ["per_pr"], None, ["-x"]),
    (["run", "per_pr", "-k", "foo and bar"], ["per_pr"], None, ["-k", "foo and bar"]),
    (["run", "weekly", "-n", "2", "--maxfail=1"], ["weekly"], "2", ["--maxfail=1"]),
    # order kept, values of unknown options stay with them, ours taken out wherever they are
    (["run", "per_pr", "integration", "-p", "no:randomly", "--workers", "auto", "-rA"],
     ["per_pr", "integration"], "auto", ["-p", "no:randomly", "-rA"]),
    # `--` still hands everything after it on untouched, even options harness knows
    (["run", "per_pr", "-x", "--", "-n", "1", "--shard", "x"], ["per_pr"], None,
     ["-x", "-n", "1", "--shard", "x"]),
    # no abbreviations: `--work` is pytest's to judge, not `--workers`
    (["run", "per_pr", "--work", "3"], ["per_pr"], None, ["--work", "3"]),
])
def test_run_passes_options_it_does_not_know_to_pytest(argv, targets, workers, pytest_args):
    args, passed_on = split(*argv)
    assert (args.targets, args.workers, passed_on) == (targets, workers, pytest_args)


def test_run_keeps_its_own_options():
    args, passed_on = split("run", "weekly", "--shard", "1/2", "--accelerator", "cuda",
                            "--harness-artifacts", "/tmp/a", "-v")
    assert (args.shard, args.accelerator, args.harness_artifacts) == ("1/2", "cuda", "/tmp/a")
    assert passed_on == ["-v"]


@pytest.mark.parametrize("argv, message", [
    (["list", "per_pr", "-x"], "unrecognized arguments: -x (only `harness run` passes options "
                               "on to pytest)"),
    (["history", "--", "-x"], "arguments after -- are passed to pytest by `harness run` only"),
])
def test_other_commands_refuse_unknown_arguments(capsys, argv, message):
    with pytest.raises(SystemExit) as exit_info:
        split(*argv)
    assert exit_info.value.code == 2
    assert capsys.readouterr().err.splitlines() == [f"error: harness: {message} (see harness --help)"]


class RecordingSession:
    """Stands in for nox.Session (the real one runs commands in a subprocess): records run()."""

    def __init__(self, posargs):
        self.posargs = list(posargs)
        self.commands = []

    def run(self, *args, **kwargs):
        self.commands.append(list(args))


def test_nox_cadence_sessions_forward_their_arguments_to_harness_run(monkeypatch):
    nox_registry = pytest.importorskip("nox.registry")
    monkeypatch.setattr(nox_registry, "_REGISTRY", {})  # loading registers sessions: keep it local
    spec = importlib.util.spec_from_file_location("noxfile_under_test", REPO / "noxfile.py")
    noxfile = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(noxfile)
    for cadence in ("per_pr", "nightly", "weekly"):
        session_function = getattr(noxfile, cadence)
        assert session_function.name == cadence
        assert session_function.venv_backend == "none"  # never reinstalls TensorFlow / torch
        session = RecordingSession(["-x", "-k", "roundtrip", "-n", "2"])
        session_function(session)
        assert session.commands == [["python", "-m", "harness", "run", cadence,
                                     "-x", "-k", "roundtrip", "-n", "2"]]
