"""The size policy: what an input may ask the package to allocate, checked before allocating.

Each limit has a reason, an environment variable that overrides it (for real data larger
than anything this project simulates) and a command-line flag of the CLIs that does the same
for one command (`--max-array-gb`, `--max-archive-gb`, `--max-n-filters-scale`). A request over a limit is refused with a ConfigError or
DataError naming the input, the size and the variable. docs/fault_injection.md lists them.
"""
import os
from dataclasses import dataclass

from ptycho.errors import ConfigError

GIB = 2 ** 30


@dataclass(frozen=True)
class Limit:
    name: str        # the environment variable that overrides it
    default: float
    unit: str        # "GiB" (converted to bytes by value()) or "" (a plain number)
    reason: str

    @property
    def flag(self) -> str:
        """The CLIs' flag: PTYCHO_MAX_ARRAY_GB -> --max-array-gb."""
        return "--" + self.name.removeprefix("PTYCHO_").lower().replace("_", "-")

    def value(self) -> float:
        """The limit in force: the CLI flag's value if one was given (override()), else the
        variable's if set, else the default (bytes for GiB)."""
        text = _OVERRIDES.get(self.name) or os.environ.get(self.name, "")
        try:
            number = float(text) if text else self.default
        except ValueError:
            raise ConfigError(self.name, f"must be a number, got {text!r}",
                              f"set {self.name} to a number, or unset it") from None
        if not number > 0:
            raise ConfigError(self.name, f"must be > 0, got {text!r}", f"unset {self.name}")
        return number * GIB if self.unit == "GiB" else number

    def describe(self) -> str:
        return f"{self.default:g}{' ' + self.unit if self.unit else ''}"


ARRAY = Limit("PTYCHO_MAX_ARRAY_GB", 8, "GiB",
              "one array read from an NPZ, simulated or stitched: a third of the 24 GiB CI "
              "machine type (the default simulated scan's largest array is ~34 MB)")
ARCHIVE = Limit("PTYCHO_MAX_ARCHIVE_GB", 2, "GiB",
                "bytes extracted from a model archive (the networks here are a few MB; a zip "
                "bomb must not fill the temp folder)")
FILTERS_SCALE = Limit("PTYCHO_MAX_N_FILTERS_SCALE", 8, "",
                      "network width: 8 gives 256/512/1024 filters, 16 x the CLI default; wider "
                      "exhausts memory before training starts")
POLICY = (ARRAY, ARCHIVE, FILTERS_SCALE)
_OVERRIDES: dict[str, str] = {}     # set from the command line, for this process


def override(limit: Limit, value: float) -> None:
    """A CLI flag's value for `limit` (wins over the environment variable)."""
    _OVERRIDES[limit.name] = repr(float(value))


def check_bytes(limit: Limit, nbytes: float, where, what: str, error=ConfigError) -> None:
    """`error` (a PtychoInputError class) when `nbytes` (what `where` asks for) is over `limit`."""
    allowed = limit.value()
    if nbytes > allowed:
        raise error(where, f"{what} needs {nbytes / GIB:.3g} GiB, over the "
                          f"{allowed / GIB:g} GiB size policy (refused before allocating)",
                          f"ask for less; for real data this large pass {limit.flag} or set "
                          f"{limit.name}")
