"""report.json as typed dataclasses: `RunReport.from_json(dict)` and `RunReport.to_json()`
(the JSON Schema that report.json follows: schemas/report.schema.json, `harness report
--schema`). Top-level keys that checks attach later (`budgets`, `escalations`, a merged run's
`merged_from` / `shards`, ...) stay JSON in `RunReport.attached`, in their order, after the
built keys; a round trip gives back the same JSON.

Typed so far: the run, its selection, the totals, the groups and the findings. A test record,
the environment and the pytest facts are still JSON dicts (`tests`, `environment`, `pytest`).
"""
from __future__ import annotations

from dataclasses import dataclass, field, fields
from typing import Any, Mapping

OUTCOME_COUNTERS = ("passed", "failed", "errors", "skipped", "xfailed", "xpassed")


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
        data = data or {}
        return cls(**{f.name: data[f.name] for f in fields(cls) if f.name in data})


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
            data[key] = value
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
        return cls(**values, attached={k: v for k, v in data.items() if k not in known})
