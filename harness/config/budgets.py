"""Runtime budgets: selectors/budgets.toml parsed and checked once into `Budgets` - the limits of
each cadence, group and test (`Limits`), the band rule (`BandRule`, `[defaults]`), the timeout
rule (`TimeoutRule`, `[timeouts]`) and the provisional-baseline rule (`ProvisionalRule`).

What a run's timings get against them (the verdicts) is harness.verdicts.budgets.
"""
from __future__ import annotations

import fnmatch
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any, Iterable

from harness.config.files import Fields, config_error, read_toml

BUDGETS_FILE = "selectors/budgets.toml"
MAD_TO_SIGMA = 1.4826  # MAD of normally distributed samples * 1.4826 = their sigma
ENTRY_KEYS = frozenset({"max_s", "min_s", "baseline_s", "tolerance_s", "tolerance_rel"})
NOTE_KEY = "note"  # why an entry's limits are what they are (shown beside them in the brief)
KINDS = ("cadence", "group", "test")  # what is measured, budgeted and recorded
SECTIONS = {"cadence": "cadences", "group": "groups", "test": "tests"}  # their TOML/JSON tables


@dataclass(frozen=True)
class ProvisionalRule:
    """[defaults] provisional_runs / provisional_window of selectors/budgets.toml."""

    min_runs: int = 3
    window: int = 10


@dataclass(frozen=True)
class Limits:
    """One [cadences.X], [groups.X] or [tests."pattern"] entry; None = not set."""

    where: str
    max_s: float | None = None
    min_s: float | None = None
    baseline_s: float | None = None
    tolerance_s: float | None = None
    tolerance_rel: float | None = None
    note: str | None = None

    def guardrails(self) -> dict[str, float]:
        """The limits this entry sets, by budgets.toml key (for listings and reports)."""
        return {key: value for key, value in asdict(self).items()
                if key in ENTRY_KEYS and value is not None}


@dataclass(frozen=True)
class BandRule:
    """[defaults]: how bands are built when an entry does not say."""

    clock: str = "cpu"
    normalise_load: bool = True
    k_mad: float = 3.0
    rel_floor: float = 0.14
    abs_floor_s: float = 0.05
    rel_cap: float = 0.16
    confirm_reruns: int = 0
    probe_interval_s: float = 0.02  # harness.measure.calibration.SpeedProbe; 0 = no probe
    unscaled_agrees: bool = True   # a load-corrected finding needs the unscaled time on its side
    estimated_factor: float = 2.0  # an estimated verdict fails only beyond baseline / F .. x F
    provisional_runs: int = 3      # green ledger runs of a fingerprint before its provisional
    provisional_window: int = 10   # baseline exists; the newest this many are summarised
    contention_cores: float = 0.25  # foreign work from which a run is contended (contention.py)
    wall_budget_cores: int = 1  # the usable cores wall-time promises (max_s, baseline_s) hold for

    @property
    def provisional(self) -> ProvisionalRule:
        return ProvisionalRule(self.provisional_runs, self.provisional_window)

    def half_width(self, center: float, stats: Any) -> tuple[float, str]:
        """max(k_mad * 1.4826 * MAD, rel_floor * center, abs_floor_s), at most rel_cap * center
        (a baseline recorded on a noisy day must not make the band so wide that a real
        regression or a skipped workload still passes), and how it was made. `stats`: the
        recorded harness.records.baselines.Stats (its `mad`), or None."""
        spread = self.k_mad * MAD_TO_SIGMA * stats.mad if stats else 0.0
        parts = {f"{self.k_mad:g}*1.4826*MAD": spread,
                 f"{self.rel_floor:.0%} of median": self.rel_floor * center,
                 "abs_floor_s": self.abs_floor_s}
        how = max(parts, key=parts.get)
        if parts[how] > self.rel_cap * center:
            return self.rel_cap * center, f"capped at rel_cap={self.rel_cap:.0%} of median"
        return parts[how], how


@dataclass(frozen=True)
class TimeoutRule:
    """[timeouts]: per-test timeout = max(min_s, factor * reference), see timeout_for."""

    factor: float = 3.0
    min_s: float = 60.0
    default_s: float = 600.0


@dataclass(frozen=True)
class Budgets:
    source: str
    band: BandRule
    timeouts: TimeoutRule
    cadences: dict[str, Limits]
    groups: dict[str, Limits]
    tests: dict[str, Limits]  # node id or fnmatch glob -> limits, in file order

    def limits(self, kind: str, subject: str) -> Limits | None:
        """The entry for a subject; tests: exact node id first, else the first matching glob."""
        table = {"cadence": self.cadences, "group": self.groups, "test": self.tests}[kind]
        if subject in table or kind != "test":
            return table.get(subject)
        return next((limits for pattern, limits in table.items()
                     if fnmatch.fnmatchcase(subject, pattern)), None)

    def check_names(self, groups: Iterable[str], cadences: Iterable[str]) -> None:
        """Refuse entries for groups/cadences that selectors/*.toml does not define: a typo
        would otherwise leave a budget silently unenforced."""
        for kind, table, known in (("group", self.groups, set(groups)),
                                   ("cadence", self.cadences, set(cadences))):
            for name, limits in table.items():
                if name not in known:
                    raise config_error(self.source, limits.where,
                                       f"unknown {kind} {name!r} (use one of "
                                       f"{', '.join(sorted(known))})")


def load(project_root: Path = Path(".")) -> Budgets:
    """selectors/budgets.toml of `project_root`, parsed once per process while the file is
    unchanged (the selectors' guardrails and the budget plugin both read it)."""
    path = Path(project_root) / BUDGETS_FILE
    try:
        stat = path.stat()
        key = (str(path.resolve()), stat.st_mtime_ns, stat.st_size)
    except OSError:
        key = None  # read_toml says what is wrong
    if key is None or key not in _LOADED:
        budgets = parse(read_toml(path), BUDGETS_FILE)
        if key is None:
            return budgets
        _LOADED.clear()
        _LOADED[key] = budgets
    return _LOADED[key]


_LOADED: dict[tuple, Budgets] = {}  # Budgets is frozen: sharing one is safe


def parse(document: dict[str, Any], source: str = BUDGETS_FILE) -> Budgets:
    f = Fields(source, document)
    f.only({"defaults", "timeouts", *SECTIONS.values()})
    d = f.sub("defaults")
    d.only({"clock", "normalise_load", "k_mad", "rel_floor", "abs_floor_s", "rel_cap",
            "confirm_reruns", "probe_interval_s", "estimated_factor", "provisional_runs",
            "provisional_window", "unscaled_agrees", "contention_cores", "wall_budget_cores"})
    band = BandRule(
        clock=d.text("clock", BandRule.clock, choices=("cpu", "wall")),
        normalise_load=d.boolean("normalise_load", BandRule.normalise_load),
        unscaled_agrees=d.boolean("unscaled_agrees", BandRule.unscaled_agrees),
        k_mad=d.number("k_mad", BandRule.k_mad),
        rel_floor=d.number("rel_floor", BandRule.rel_floor),
        abs_floor_s=d.number("abs_floor_s", BandRule.abs_floor_s),
        rel_cap=d.number("rel_cap", BandRule.rel_cap, positive=True),
        confirm_reruns=d.integer("confirm_reruns", BandRule.confirm_reruns),
        probe_interval_s=d.number("probe_interval_s", BandRule.probe_interval_s),
        estimated_factor=d.number("estimated_factor", BandRule.estimated_factor, positive=True),
        provisional_runs=d.integer("provisional_runs", BandRule.provisional_runs, minimum=1),
        provisional_window=d.integer("provisional_window", BandRule.provisional_window,
                                     minimum=1),
        contention_cores=d.number("contention_cores", BandRule.contention_cores, positive=True),
        wall_budget_cores=d.integer("wall_budget_cores", BandRule.wall_budget_cores, minimum=1),
    )
    if band.estimated_factor <= 1:
        raise d.fail("estimated_factor", f"must be above 1 (got {band.estimated_factor:g}): "
                                         "the margin is baseline / F .. baseline x F")
    if band.provisional_window < band.provisional_runs:
        raise d.fail("provisional_window", f"must be at least provisional_runs="
                                           f"{band.provisional_runs} (got "
                                           f"{band.provisional_window})")
    if band.rel_floor > band.rel_cap:
        raise d.fail("rel_floor", f"must not exceed rel_cap={band.rel_cap:g} (got {band.rel_floor:g})")
    t = f.sub("timeouts")
    t.only({"factor", "min_s", "default_s"})
    timeouts = TimeoutRule(
        factor=t.number("factor", TimeoutRule.factor, positive=True),
        min_s=t.number("min_s", TimeoutRule.min_s, positive=True),
        default_s=t.number("default_s", TimeoutRule.default_s, positive=True),
    )
    sections = {kind: {name: _limits(f.sub(SECTIONS[kind]).sub(name))
                       for name in f.sub(SECTIONS[kind]).table}
                for kind in KINDS}
    return Budgets(source, band, timeouts, sections["cadence"], sections["group"],
                   sections["test"])


def _limits(e: Fields) -> Limits:
    e.only(ENTRY_KEYS | {NOTE_KEY})
    limits = Limits(e.prefix, **{key: e.number(key, positive=True) for key in sorted(ENTRY_KEYS)},
                    note=e.text(NOTE_KEY))
    if limits.tolerance_s is not None and limits.tolerance_rel is not None:
        raise e.fail("tolerance_rel", "give tolerance_s or tolerance_rel, not both")
    if limits.min_s is not None and limits.max_s is not None and limits.min_s >= limits.max_s:
        raise e.fail("min_s", f"must be below max_s={limits.max_s:g} (got {limits.min_s:g})")
    if limits.baseline_s is not None and limits.max_s is not None \
            and limits.baseline_s > limits.max_s:
        raise e.fail("baseline_s", f"must not exceed max_s={limits.max_s:g} "
                                   f"(got {limits.baseline_s:g})")
    return limits
