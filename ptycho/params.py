"""Legacy flat parameter dict. Legacy consumers (grouping, model construction) read `cfg`;
keep it in sync with the dataclasses through `ptycho.config.update_legacy_dict` (CONFIG-001)."""
from ptycho.config.config import TrainingConfig, dataclass_to_legacy_dict


def defaults() -> dict:
    """The legacy view of a fresh TrainingConfig() (model fields flattened), plus the
    intensity scale, which is computed from data at training time."""
    values = dataclass_to_legacy_dict(TrainingConfig())
    values["intensity_scale"] = None
    return values


cfg: dict = defaults()


def get(key: str):
    """cfg[key], with a KeyError that lists the known keys."""
    try:
        return cfg[key]
    except KeyError:
        raise KeyError(f"unknown params.cfg key {key!r}; known keys: {sorted(cfg)}") from None


def set(key: str, value) -> None:  # noqa: A001  (legacy name)
    cfg[key] = value


def reset() -> None:
    """Restore the defaults in place (the same dict object stays shared by every importer)."""
    cfg.clear()
    cfg.update(defaults())
