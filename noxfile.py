"""nox sessions: thin wrappers over the `harness` CLI (see `harness --help`).

They run in the current environment (venv_backend="none"): install once with
`pip install -e ".[dev]"`; a cadence must never reinstall TensorFlow and torch. They call
`python -m harness`, not the `harness` script, so a clone always runs its own harness even where
another checkout holds the editable install (a git worktree, a second clone).
Arguments after `--` go to `harness run`, which passes every option it does not know itself
on to pytest: `nox -s nightly -- -n 2` (xdist workers), `nox -s per_pr -- -x -k roundtrip`.
"""
import nox

nox.options.sessions = ["per_pr"]


def _cadence(name: str):
    @nox.session(name=name, venv_backend="none")
    def run_cadence(session: nox.Session) -> None:
        session.run("python", "-m", "harness", "run", name, *session.posargs)

    run_cadence.__doc__ = f"harness run {name}"
    return run_cadence


per_pr = _cadence("per_pr")
nightly = _cadence("nightly")
weekly = _cadence("weekly")


@nox.session(venv_backend="none")
def tests(session: nox.Session) -> None:
    """The whole test suite (unit, harness self-tests, regression suite) with plain pytest."""
    session.run("python", "-m", "pytest", *session.posargs)


@nox.session(venv_backend="none")
def mutation(session: nox.Session) -> None:
    """harness mutate: mutation score per component (selectors/components.toml); arguments after
    -- go to `harness mutate` (`nox -s mutation -- archive dispatcher`, `-- --shard 1/2`)."""
    session.run("python", "-m", "harness", "mutate", *session.posargs)
