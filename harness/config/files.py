"""Reading the harness's hand-edited files (TOML under selectors/, JSON under baselines/) with
errors that name the file, the key and the fix, e.g.

    selectors/budgets.toml: groups.parity.max_s: must be a positive number (got 'x')

Every problem is one ConfigError (defined here, the bottom of the harness); a CLI prints it as one
line on stderr and exits 2. Two typed readers: Fields (budgets.toml, owners.toml, the baseline
JSON files) and Checker (groups.toml, harness.toml; its errors end with a separate fix).
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


def read_toml(path: Path) -> dict[str, Any]:
    try:
        with open(path, "rb") as handle:
            return tomllib.load(handle)
    except FileNotFoundError:
        raise config_error(path, "", "file not found (restore it from git)") from None
    except tomllib.TOMLDecodeError as exc:
        raise config_error(path, "", f"not valid TOML: {exc}") from None


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

    def only(self, allowed: set[str] | frozenset[str]) -> None:
        """Reject unknown keys: a typo such as `max_sec` must not silently disable a budget."""
        for name in self.table:
            if name not in allowed:
                raise self.fail(name, f"unknown key (allowed: {', '.join(sorted(allowed))})")

    def sub(self, name: str, required: bool = False) -> Fields:
        if name not in self.table:
            if required:
                raise self.fail(name, "missing table")
            return Fields(self.source, {}, self.key(name))
        return Fields(self.source, self.table[name], self.key(name))

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


def read_project_toml(project_root: Path, relative: str) -> dict[str, Any]:
    """`relative` (selectors/groups.toml, ...) of `project_root`; errors name it as `relative`."""
    path = project_root / relative
    try:
        with open(path, "rb") as handle:
            return tomllib.load(handle)
    except FileNotFoundError:
        raise ConfigError(f"{relative}: file not found in {project_root} "
                          "(restore it from version control)") from None
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"{relative}: not valid TOML: {exc} (fix the syntax)") from None


class Checker:
    """Typed accessors for selectors/groups.toml and harness.toml that raise one ConfigError
    `file: entry: what (fix)` (the older sibling of Fields, whose errors carry no separate fix)."""

    _MISSING = object()

    def __init__(self, filename: str):
        self.filename = filename

    def fail(self, where: str, what: str, fix: str):
        prefix = f"{self.filename}: {where}: " if where else f"{self.filename}: "
        raise ConfigError(f"{prefix}{what} ({fix})")

    def keys(self, table: dict, where: str, allowed: set[str], required: set[str] = frozenset()):
        for key in table:
            if key not in allowed:
                entry = f"{where}.{key}" if where else key
                self.fail(entry, "unknown key", "allowed: " + ", ".join(sorted(allowed)))
        for key in sorted(required - set(table)):
            entry = f"{where}.{key}" if where else key
            self.fail(entry, "missing", "add it")

    def name(self, name: str, where: str):
        if not _NAME.match(name):
            self.fail(where, f"{name!r} is not a valid name", "use letters, digits and underscores")

    def table(self, parent: dict, key: str, optional: bool = False, where: str = "") -> dict:
        entry = f"{where}.{key}" if where else key
        value = parent.get(key, {} if optional else self._MISSING)
        if value is self._MISSING:
            self.fail(entry, "missing", f"add a [{entry}] table")
        if not isinstance(value, dict):
            self.fail(entry, f"expected a table, got {type(value).__name__}", f"write it as [{entry}]")
        return value

    def _get(self, table: dict, entry: str, key: str, default, types, type_name: str):
        value = table.get(key, self._MISSING)
        if value is self._MISSING:
            if default is self._MISSING:
                self.fail(entry, "missing", "add it")
            return default
        # bool is an int in Python: refuse it where a number is expected
        if not isinstance(value, types) or (isinstance(value, bool) and bool not in types):
            self.fail(entry, f"expected {type_name}, got {value!r}", f"write a {type_name}")
        return value

    def string(self, table, entry, key, default=_MISSING) -> str:
        return self._get(table, entry, key, default, (str,), "string")

    def boolean(self, table, entry, key, default=_MISSING) -> bool:
        return self._get(table, entry, key, default, (bool,), "boolean (true/false)")

    def integer(self, table, entry, key, default=_MISSING) -> int:
        return self._get(table, entry, key, default, (int,), "integer")

    def string_list(self, table, entry, key, default=_MISSING) -> list[str]:
        value = self._get(table, entry, key, default, (list,), "list of strings")
        for item in value:
            if not isinstance(item, str):
                self.fail(entry, f"expected a list of strings, got item {item!r}", "quote each entry")
        return list(value)
