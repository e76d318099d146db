"""report.json as typed dataclasses: `RunReport.from_json(dict)` and `RunReport.to_json()`
(the JSON Schema that report.json follows: schemas/report.schema.json, `harness report
--schema`). Top-level keys that checks attach later (`budgets`, `escalations`, a merged run's
`merged_from` / `shards`, ...) stay in `RunReport.attached`, in their order, after the built
keys; a round trip gives back the same JSON.

Typed so far: the run, its selection, the totals, the groups, the findings and two attached
sections: the budget checks' `budgets` (`BudgetReport`: the reference, the contention reading
and the verdicts) and `escalations` (`Escalation`). Those two are held typed in `attached` and
read as `RunReport.budgets` / `RunReport.escalations`; one that does not parse stays JSON there
(and reads as None). A test record, the environment, the pytest facts, the budget measurements
and the other attached sections (`mutation`, `merged_from`, `shards`, ...) are still JSON.
"""
from __future__ import annotations

from dataclasses import dataclass, field, fields
from typing import Any, Mapping

OUTCOME_COUNTERS = ("passed", "failed", "errors", "skipped", "xfailed", "xpassed")


def _known(cls, data: Any) -> dict[str, Any]:
    """The values of `cls`'s fields that the JSON object `data` has, in its order (the rest
    keep their defaults)."""
    if not isinstance(data, Mapping):
        raise TypeError(f"{cls.__name__}: expected a JSON object, got {type(data).__name__}")
    names = {f.name for f in fields(cls)}
    return {key: value for key, value in data.items() if key in names}


def _json(value: Any) -> Any:
    """A typed value as JSON: a dataclass by its to_json, a list item by item, JSON as it is."""
    if hasattr(value, "to_json"):
        return value.to_json()
    if isinstance(value, list):
        return [_json(item) for item in value]
    return value


def _list_of(cls, data: Any) -> list:
    if not isinstance(data, list):
        raise TypeError(f"{cls.__name__}: expected a JSON array, got {type(data).__name__}")
    return [cls.from_json(item) for item in data]


@dataclass
class Counts:
    """Tests per outcome; `not_run` (selected but never run) only in the run's totals."""

    passed: int = 0
    failed: int = 0
    errors: int = 0
    skipped: int = 0
    xfailed: int = 0
    xpassed: int = 0
    total: int = 0
    not_run: int | None = None

    def to_json(self) -> dict[str, int]:
        data = {name: getattr(self, name) for name in (*OUTCOME_COUNTERS, "total")}
        if self.not_run is not None:
            data["not_run"] = self.not_run
        return data

    @classmethod
    def from_json(cls, data: Mapping[str, Any] | None) -> Counts:
        return cls(**_known(cls, data or {}))


@dataclass
class SlowTest:
    nodeid: str
    seconds: float

    def to_json(self) -> dict[str, Any]:
        return {"nodeid": self.nodeid, "seconds": self.seconds}


@dataclass
class GroupSummary:
    description: str = ""
    owner: str = ""
    cadences: list[str] = field(default_factory=list)
    verdict: str = "empty"
    counts: Counts = field(default_factory=Counts)
    seconds: float = 0.0
    span_seconds: float = 0.0
    artifacts_validated: int = 0
    validation_failures: int = 0
    slowest: list[SlowTest] = field(default_factory=list)
    guardrails: dict[str, float] = field(default_factory=dict)
    guardrails_text: str = ""

    def to_json(self) -> dict[str, Any]:
        return {"description": self.description, "owner": self.owner,
                "cadences": list(self.cadences), "verdict": self.verdict,
                "counts": self.counts.to_json(), "seconds": self.seconds,
                "span_seconds": self.span_seconds,
                "artifacts_validated": self.artifacts_validated,
                "validation_failures": self.validation_failures,
                "slowest": [s.to_json() for s in self.slowest],
                "guardrails": dict(self.guardrails), "guardrails_text": self.guardrails_text}

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> GroupSummary:
        return cls(description=data.get("description", ""), owner=data.get("owner", ""),
                   cadences=list(data.get("cadences", [])), verdict=data.get("verdict", "empty"),
                   counts=Counts.from_json(data.get("counts")),
                   seconds=data.get("seconds", 0.0), span_seconds=data.get("span_seconds", 0.0),
                   artifacts_validated=data.get("artifacts_validated", 0),
                   validation_failures=data.get("validation_failures", 0),
                   slowest=[SlowTest(s["nodeid"], s["seconds"]) for s in data.get("slowest", [])],
                   guardrails=dict(data.get("guardrails") or {}),
                   guardrails_text=data.get("guardrails_text", ""))


@dataclass
class Selection:
    label: str
    targets: list[str] = field(default_factory=list)
    groups: list[str] = field(default_factory=list)

    def to_json(self) -> dict[str, Any]:
        return {"label": self.label, "targets": list(self.targets), "groups": list(self.groups)}

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> Selection:
        return cls(data.get("label", "?"), list(data.get("targets", [])),
                   list(data.get("groups", [])))


@dataclass
class Finding:
    """A finding section: {"source", "title", "severity": info|warning|violation, "items"}."""

    source: str
    title: str
    severity: str
    items: list[str] = field(default_factory=list)

    def to_json(self) -> dict[str, Any]:
        return {"source": self.source, "title": self.title, "severity": self.severity,
                "items": list(self.items)}

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> Finding:
        return cls(str(data.get("source", "")), str(data.get("title", "")),
                   data.get("severity", "info"), [str(i) for i in data.get("items", [])])


# ---------------------------------------------------------------- attached sections

class _Section:
    """Base of the attached sections' dataclasses. Their JSON gained keys over versions (an
    older report has no `contention`, no verdict `advisory`, ...): one read by from_json writes
    back the keys it was read with, in their order; one made here writes every field."""

    _keys: tuple[str, ...] | None = None

    def to_json(self) -> dict[str, Any]:
        names = [f.name for f in fields(self)] if self._keys is None else self._keys
        return {name: _json(getattr(self, name)) for name in names}

    @classmethod
    def from_json(cls, data: Mapping[str, Any]):
        values = _known(cls, data)
        made = cls(**cls._typed(dict(values)))
        made._keys = tuple(values)
        return made

    @classmethod
    def _typed(cls, values: dict[str, Any]) -> dict[str, Any]:
        """The JSON values with a type (or a lenient default) of their own, converted."""
        return values


@dataclass
class BudgetVerdict(_Section):
    """One budget verdict (harness.verdicts.budgets.Verdict.as_dict()): seconds on `clock`;
    `allowed` is [lo, hi], hi None for a floor (no upper limit)."""

    kind: str = ""              # cadence | group | test
    subject: str = ""           # cadence name, group name or test node id
    check: str = ""             # ceiling | band | floor | timeout
    clock: str | None = None    # wall | cpu
    measured_s: float | None = None
    baseline_s: float | None = None
    allowed: list[float | None] = field(default_factory=lambda: [None, None])
    margin_s: float | None = None
    status: str = "ok"          # ok | too_slow | too_fast | over_ceiling
    estimated: bool = False
    basis: str = ""
    advisory: bool = False

    @classmethod
    def _typed(cls, values: dict[str, Any]) -> dict[str, Any]:
        values["allowed"] = list(values.get("allowed") or [None, None])
        return values


@dataclass
class ContentionReading(_Section):
    """Foreign CPU time on the run's usable cores (harness.measure.contention.Contention.as_dict());
    when `contended`, too_slow band verdicts were advisory."""

    wall_s: float = 0.0
    foreign_cpu_s: float = 0.0
    foreign_cores: float = 0.0
    cpus: int = 0
    threshold_cores: float = 0.0
    contended: bool = False


@dataclass
class BudgetReport(_Section):
    """report.json's `budgets` (harness.report.budget_sections): the reference the verdicts were
    judged against - `baseline` (its fingerprint hash; None without one), `exact` (this
    machine's own), `provisional_runs` (learnt from that many green ledger runs; 0: none) and
    `calibration_s` (None: no session calibration) -, how many verdicts were `findings` and
    `advisories`, the run's `contention` (None: not measured), the `verdicts`, and the
    `measurements` that the run's ledger line keeps (kind -> subject -> seconds, JSON)."""

    baseline: str | None = None
    exact: bool = False
    provisional_runs: int = 0
    calibration_s: float | None = None
    findings: int = 0
    advisories: int = 0
    contention: ContentionReading | None = None
    verdicts: list[BudgetVerdict] = field(default_factory=list)
    measurements: dict[str, dict[str, dict[str, float | None]]] = field(default_factory=dict)

    @classmethod
    def _typed(cls, values: dict[str, Any]) -> dict[str, Any]:
        if values.get("contention") is not None:
            values["contention"] = ContentionReading.from_json(values["contention"])
        values["verdicts"] = _list_of(BudgetVerdict, values.get("verdicts") or [])
        return values


@dataclass
class Escalation(_Section):
    """One escalation (harness.verdicts.escalation.Escalation.as_dict()): what went wrong, the
    component and owner it goes to, and the next step; a missing title is its trigger."""

    trigger: str = ""
    title: str = ""
    component: str = ""
    owner: str = ""
    contact: str = ""
    label: str = ""
    target: str | None = None   # the group or cadence to re-run
    subjects: list[str] = field(default_factory=list)
    evidence: list[str] = field(default_factory=list)
    next_step: str = ""
    steps: list[str] = field(default_factory=list)

    @classmethod
    def _typed(cls, values: dict[str, Any]) -> dict[str, Any]:
        values.setdefault("title", values.get("trigger", ""))
        for name in ("subjects", "evidence", "steps"):
            values[name] = list(values.get(name, []))
        return values


def _escalations(data: Any) -> list[Escalation]:
    return _list_of(Escalation, data)


@dataclass
class RunReport:
    """One run's report.json (see the module docstring)."""

    schema: int
    run_id: str
    status: str
    exit_code: int
    selection: Selection
    started_utc: str | None = None
    finished_utc: str | None = None
    wall_seconds: float = 0.0
    commit: str | None = None
    environment: dict[str, Any] = field(default_factory=dict)
    fingerprint: dict[str, Any] = field(default_factory=dict)
    fingerprint_hash: str | None = None
    pytest: dict[str, Any] = field(default_factory=dict)
    totals: Counts = field(default_factory=Counts)
    guardrails: dict[str, dict[str, Any]] = field(default_factory=dict)
    groups: dict[str, GroupSummary] = field(default_factory=dict)
    tests: list[dict[str, Any]] = field(default_factory=list)
    validation: dict[str, Any] = field(default_factory=lambda: {"checked": 0, "failures": []})
    collection_errors: list[dict[str, Any]] = field(default_factory=list)
    crashed_workers: list[str] = field(default_factory=list)
    findings: list[Finding] = field(default_factory=list)
    files: dict[str, str] = field(default_factory=dict)
    attached: dict[str, Any] = field(default_factory=dict)

    _TYPED = {"selection": Selection, "totals": Counts}
    # attached sections read typed (kept in `attached`, in their place: key order round-trips)
    _ATTACHED = {"budgets": BudgetReport.from_json, "escalations": _escalations}

    @property
    def budgets(self) -> BudgetReport | None:
        """The budget checks' section; None when the run was not judged (or it did not parse)."""
        value = self.attached.get("budgets")
        return value if isinstance(value, BudgetReport) else None

    @property
    def escalations(self) -> list[Escalation] | None:
        """The budget checks' (or harness mutate's) escalations; None without (or unparsed)."""
        value = self.attached.get("escalations")
        typed = isinstance(value, list) and all(isinstance(e, Escalation) for e in value)
        return value if typed else None

    @classmethod
    def of(cls, report: RunReport | Mapping[str, Any]) -> RunReport:
        """`report` typed: a RunReport as it is, report.json's dict through from_json."""
        return report if isinstance(report, RunReport) else cls.from_json(report)

    def to_json(self) -> dict[str, Any]:
        data: dict[str, Any] = {}
        for f in fields(self):
            if f.name == "attached":
                continue
            value = getattr(self, f.name)
            if f.name == "groups":
                value = {name: group.to_json() for name, group in value.items()}
            elif f.name == "findings":
                value = [finding.to_json() for finding in value]
            elif hasattr(value, "to_json"):
                value = value.to_json()
            data[f.name] = value
        for key, value in self.attached.items():
            data[key] = _json(value)
        return data

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> RunReport:
        """Lenient: a missing key gets its default (a report of an older version or a test's
        partial one); a key it does not know goes to `attached`."""
        known = {f.name for f in fields(cls)} - {"attached"}
        values: dict[str, Any] = {}
        for name in known & set(data):
            value = data[name]
            if name in cls._TYPED:
                value = cls._TYPED[name].from_json(value or {})
            elif name == "groups":
                value = {key: GroupSummary.from_json(group) for key, group in value.items()}
            elif name == "findings":
                value = [Finding.from_json(finding) for finding in value]
            values[name] = value
        values.setdefault("selection", Selection("?"))
        for name, default in (("schema", 1), ("run_id", ""), ("status", "error"), ("exit_code", 2)):
            values.setdefault(name, default)
        return cls(**values, attached={key: cls._attached_from(key, value)
                                       for key, value in data.items() if key not in known})

    @classmethod
    def _attached_from(cls, key: str, value: Any) -> Any:
        """An attached section typed where it has a type; one that does not parse (an older
        or hand-edited report) stays JSON, for the readers that read it raw."""
        reader = cls._ATTACHED.get(key)
        if reader is None:
            return value
        try:
            return reader(value)
        except (TypeError, ValueError, KeyError, AttributeError):
            return value
