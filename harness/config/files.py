"""Reading the harness's hand-edited files (TOML under selectors/, JSON under baselines/) with
errors that name the file, the key and the fix, e.g.

    selectors/budgets.toml: groups.parity.max_s: must be a positive number (got 'x')

Every problem is one ConfigError (defined here, the bottom of the harness); a CLI prints it as one
line on stderr and exits 2. One typed reader, Fields, serves every file (groups.toml,
harness.toml, budgets.toml, owners.toml, components.toml, the baseline JSON files).
"""
from __future__ import annotations

import json
import math
import re
import tomllib
from pathlib import Path
from typing import Any, Mapping

_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")  # a group or cadence name


class ConfigError(Exception):
    """A problem in a hand-edited file: `<file>: <entry>: <what> (<fix>)`."""


def config_error(source: str | Path, key: str, what: str) -> ConfigError:
    """`<source>: <key>: <what>`; `what` ends with the fix or the offending value."""
    return ConfigError(f"{source}: {key}: {what}" if key else f"{source}: {what}")


def read_toml(path: Path, shown_as: str | Path | None = None) -> dict[str, Any]:
    """The TOML file at `path`; errors name it as `shown_as` (selectors/groups.toml, ...) when
    given, else as `path`."""
    source = shown_as or path
    try:
        with open(path, "rb") as handle:
            return tomllib.load(handle)
    except FileNotFoundError:
        raise config_error(source, "", f"file not found in {Path(path).parent} (restore it "
                                       "from version control)") from None
    except tomllib.TOMLDecodeError as exc:
        raise config_error(source, "", f"not valid TOML: {exc} (fix the syntax)") from None


def read_json(path: Path) -> dict[str, Any]:
    try:
        data = json.loads(Path(path).read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise config_error(path, "", "file not found") from None
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise config_error(path, "", f"not valid JSON: {exc}") from None
    if not isinstance(data, dict):
        raise config_error(path, "", "must hold a JSON object at the top level")
    return data


class Fields:
    """Typed access to one table of a parsed file; every error carries `source` and the dotted
    key of the offending value."""

    def __init__(self, source: str | Path, table: Mapping[str, Any], prefix: str = ""):
        self.source, self.prefix = str(source), prefix
        if not isinstance(table, Mapping):
            raise config_error(self.source, prefix, f"must be a table (got {table!r})")
        self.table = table

    def key(self, name: str) -> str:
        return f"{self.prefix}.{name}" if self.prefix else name

    def fail(self, name: str, what: str) -> ConfigError:
        return config_error(self.source, self.key(name), what)

    def only(self, allowed: set[str] | frozenset[str],
             required: set[str] | frozenset[str] = frozenset()) -> None:
        """Reject unknown keys - a typo such as `max_sec` must not silently disable a budget -
        and missing `required` ones."""
        for name in self.table:
            if name not in allowed:
                raise self.fail(name, f"unknown key (allowed: {', '.join(sorted(allowed))})")
        for name in sorted(set(required) - set(self.table)):
            raise self.fail(name, "missing (add it)")

    def tables(self) -> dict[str, Fields]:
        """Each entry of this table as a table of its own ([cadences.<name>], ...)."""
        return {name: Fields(self.source, value, self.key(name))
                for name, value in self.table.items()}

    def name(self, name: str, value: str | None = None) -> str:
        """`value` (default: the key `name` itself) as a group/cadence/marker name."""
        value = name if value is None else value
        if not _NAME.match(value):
            raise self.fail(name, f"{value!r} is not a valid name (use letters, digits and "
                                  "underscores)")
        return value

    def sub(self, name: str, required: bool = False) -> Fields:
        if name not in self.table:
            if required:
                raise self.fail(name, f"missing table (add a [{self.key(name)}] table)")
            return Fields(self.source, {}, self.key(name))
        return Fields(self.source, self.table[name], self.key(name))

    def boolean(self, name: str, default: bool) -> bool:
        value = self.table.get(name, default)
        if not isinstance(value, bool):
            raise self.fail(name, f"must be true or false (got {value!r})")
        return value

    def number(self, name: str, default: float | None = None, *, positive: bool = False,
               required: bool = False) -> float | None:
        """A finite number >= 0 (> 0 with positive=True)."""
        if name not in self.table:
            if required:
                raise self.fail(name, "missing (add a number of seconds)")
            return default
        value = self.table[name]
        bad = isinstance(value, bool) or not isinstance(value, (int, float))
        if bad or not math.isfinite(value) or value < 0 or (positive and value == 0):
            kind = "a positive number" if positive else "a number >= 0"
            raise self.fail(name, f"must be {kind} (got {value!r})")
        return float(value)

    def integer(self, name: str, default: int | None = None, *, minimum: int = 0,
                required: bool = False) -> int | None:
        if name not in self.table:
            if required:
                raise self.fail(name, f"missing (add an integer >= {minimum})")
            return default
        value = self.table[name]
        if isinstance(value, bool) or not isinstance(value, int) or value < minimum:
            raise self.fail(name, f"must be an integer >= {minimum} (got {value!r})")
        return value

    def text(self, name: str, default: str | None = None, *, required: bool = False,
             choices: tuple[str, ...] | None = None) -> str | None:
        if name not in self.table:
            if required:
                raise self.fail(name, "missing (add a non-empty string)")
            return default
        value = self.table[name]
        if not isinstance(value, str) or not value.strip():
            raise self.fail(name, f"must be a non-empty string (got {value!r})")
        if choices is not None and value not in choices:
            raise self.fail(name, f"must be one of {', '.join(map(repr, choices))} (got {value!r})")
        return value

    def texts(self, name: str, *, required: bool = False) -> tuple[str, ...]:
        if name not in self.table:
            if required:
                raise self.fail(name, "missing (add a list of strings)")
            return ()
        value = self.table[name]
        if not isinstance(value, list) or not all(isinstance(v, str) and v.strip() for v in value):
            raise self.fail(name, f"must be a list of non-empty strings (got {value!r})")
        if required and not value:
            raise self.fail(name, "must not be empty")
        return tuple(value)
