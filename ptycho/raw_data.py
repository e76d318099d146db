"""Scan data in the NPZ contract (DATA-001) and the legacy grouping step.

Keys: xcoords, ycoords (n,) pixel positions; diff3d (n, N, N) float32 diffraction amplitude
(legacy name `diffraction`); probeGuess (N, N) complex64; optional objectGuess (H, W) complex64,
scan_index (n,) int, xcoords_start / ycoords_start (default to xcoords / ycoords).
FORMAT-001: diffraction stored as legacy (N, N, n) is transposed to (n, N, N) with a warning.
"""
import io
import zipfile
import zlib
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ptycho.fileio import atomic_output
from ptycho import params
from ptycho import limits
from ptycho.errors import ConfigError, DataError, PtychoInputError
from ptycho.log import get_logger

logger = get_logger(__name__)

REQUIRED_KEYS = ("xcoords", "ycoords", "probeGuess")
DIFFRACTION_KEYS = ("diff3d", "diffraction")
OPTIONAL_KEYS = ("objectGuess", "scan_index", "xcoords_start", "ycoords_start")
# Fixed member timestamp so identical arrays give byte-identical files.
_ZIP_DATE = (1980, 1, 1, 0, 0, 0)
_READ_ERRORS = (OSError, EOFError, zipfile.BadZipFile, zlib.error, ValueError)
_NPZ_MAGIC, _NPY_MAGIC = b"PK\x03\x04", b"\x93NUMPY"
def _declared_shape(archive: "np.lib.npyio.NpzFile", key: str) -> tuple[tuple, np.dtype]:
    """(shape, dtype) from the .npy header of member `key`, without reading its data."""
    with archive.zip.open(f"{key}.npy") as member:
        major, _ = np.lib.format.read_magic(member)
        read_header = (np.lib.format.read_array_header_1_0 if major == 1
                       else np.lib.format.read_array_header_2_0)
        shape, _, dtype = read_header(member)
    return shape, dtype


def _check_declared_size(path: Path, archive, key: str) -> None:
    """Refuse a member, before its data is read, whose header declares more bytes than the
    member holds (a forged or truncated header) or than the size policy allows."""
    shape, dtype = _declared_shape(archive, key)
    size = int(np.prod(shape, dtype=object)) * dtype.itemsize
    stored = archive.zip.getinfo(f"{key}.npy").file_size
    if size > stored:
        raise DataError(path, f"key '{key}' declares shape {shape} of {dtype} ({size} bytes) but "
                        f"holds only {stored} bytes (a truncated file or a forged header; "
                        "refused before reading)", "regenerate the file")
    limits.check_bytes(limits.ARRAY, size, path, f"key '{key}' (shape {shape} of {dtype})")


def write_npz(path, arrays: dict) -> None:
    """Write `arrays` as an uncompressed NPZ, deterministically (fixed member dates, sorted
    names) and atomically (temp file in the same folder, then os.replace)."""
    with atomic_output(path) as handle, zipfile.ZipFile(handle, "w", zipfile.ZIP_STORED) as zf:
        for name in sorted(arrays):
            buffer = io.BytesIO()
            np.lib.format.write_array(buffer, np.ascontiguousarray(arrays[name]),
                                      allow_pickle=False)
            info = zipfile.ZipInfo(f"{name}.npy", date_time=_ZIP_DATE)
            info.external_attr = 0o644 << 16
            zf.writestr(info, buffer.getvalue())


def _read_npz(path: Path) -> dict:
    """Every array in the NPZ at `path`, read eagerly; anything unreadable is a DataError."""
    if not path.is_file():
        raise DataError(path, "file not found" if not path.exists() else "not a regular file",
                        "check the path to the NPZ data file")
    with open(path, "rb") as handle:
        head = handle.read(len(_NPY_MAGIC))
    if not (head.startswith(_NPZ_MAGIC) or head.startswith(_NPY_MAGIC)):
        raise DataError(path, f"is not an NPZ file (it starts with {head[:6]!r}, not a zip "
                        "archive's PK header)", "give the .npz written by ptycho-simulate or "
                        "np.savez(path, xcoords=..., ycoords=..., diff3d=..., probeGuess=...)")
    try:
        archive = np.load(path, allow_pickle=False)
    except _READ_ERRORS as exc:
        raise DataError(path, f"cannot be read as NPZ ({type(exc).__name__}: {exc})",
                        "regenerate or re-download the file; it may be truncated or corrupt") from None
    if not isinstance(archive, np.lib.npyio.NpzFile):
        raise DataError(path, "holds a single .npy array, not an NPZ archive of named arrays",
                        "save the data with np.savez(path, xcoords=..., ycoords=..., diff3d=..., "
                        "probeGuess=...)")
    arrays = {}
    with archive:
        for key in archive.files:
            try:
                _check_declared_size(path, archive, key)
                arrays[key] = archive[key]
            except PtychoInputError:
                raise
            except _READ_ERRORS as exc:
                raise DataError(path, f"key '{key}' cannot be read ({type(exc).__name__}: {exc})",
                                "regenerate the file; pickled object arrays are refused and the "
                                "member may be truncated") from None
    return arrays


def _orient_diffraction(diffraction, n_positions: int, source, key: str):
    """Return diffraction as (n, N, N); FORMAT-001 legacy (N, N, n) is transposed with a warning."""
    shape = diffraction.shape
    if diffraction.ndim != 3:
        raise DataError(source, f"'{key}' must be 3-D (n, N, N), got shape {shape}",
                        "store one N x N amplitude pattern per scan position")
    standard = shape[0] == n_positions
    legacy = shape[2] == n_positions and shape[0] == shape[1]
    if standard and legacy and shape[1] == shape[2]:
        raise DataError(source, f"'{key}' shape {shape} is ambiguous: (n, N, N) and legacy "
                        f"(N, N, n) both fit because n == N == {n_positions}",
                        "use a number of scan positions different from the patch size")
    if standard:
        if shape[1] != shape[2]:
            raise DataError(source, f"'{key}' patterns are {shape[1]}x{shape[2]}, not square",
                            "crop or pad the patterns to N x N")
        return diffraction
    if legacy:
        logger.warning("%s: '%s' has legacy layout (N, N, n) = %s; transposing to (n, N, N) "
                       "(FORMAT-001)", source, key, shape)
        return np.transpose(diffraction, (2, 0, 1))
    raise DataError(source, f"'{key}' shape {shape} does not match the {n_positions} scan "
                    f"positions in xcoords/ycoords: expected ({n_positions}, N, N) or legacy "
                    f"(N, N, {n_positions})", "make xcoords, ycoords and the patterns agree in count")


@dataclass
class GroupedData:
    """Scan positions grouped for the network (C = gridsize**2 channels, channels-last)."""
    X: np.ndarray               # (B, N, N, C) float32 amplitudes, raw units
    coords_global: np.ndarray   # (B, C, 2) float64 absolute (x, y) per channel
    coords_center: np.ndarray   # (B, 2) float64 group centre (mean of its channels)
    coords_offsets: np.ndarray  # (B, C, 2) float64 = coords_global - coords_center
    nn_indices: np.ndarray      # (B, C) int64 indices into the scan
    probe: np.ndarray           # (N, N) complex64


class RawData:
    """One scan: positions, diffraction amplitudes, probe and optional ground-truth object.
    The constructor validates everything (DataError naming the file and key)."""

    def __init__(self, xcoords, ycoords, diff3d, probeGuess, objectGuess=None, scan_index=None,
                 xcoords_start=None, ycoords_start=None, path=None, diffraction_key="diff3d"):
        self.path = Path(path) if path is not None else None
        source = self.path if self.path is not None else "RawData"
        given = {"xcoords": xcoords, "ycoords": ycoords, diffraction_key: diff3d,
                 "probeGuess": probeGuess, "objectGuess": objectGuess, "scan_index": scan_index,
                 "xcoords_start": xcoords_start, "ycoords_start": ycoords_start}
        arrays = {}
        for key, value in given.items():
            if value is None:
                continue
            value = np.asarray(value)
            if not (np.issubdtype(value.dtype, np.number) or value.dtype == np.bool_):
                raise DataError(source, f"'{key}' has non-numeric dtype {value.dtype}",
                                "store numeric arrays only")
            if np.issubdtype(value.dtype, np.inexact) and not np.all(np.isfinite(value)):
                raise DataError(source, f"'{key}' contains NaN or Inf values",
                                "remove or repair the non-finite entries")
            arrays[key] = value

        for key in ("xcoords", "ycoords"):
            if np.iscomplexobj(arrays[key]):
                raise DataError(source, f"'{key}' is complex; scan positions are real pixel "
                                "coordinates", f"store the real part (np.real) as {key}")
            if arrays[key].ndim != 1 or arrays[key].size == 0:
                raise DataError(source, f"'{key}' must be a non-empty 1-D array, got shape "
                                f"{arrays[key].shape}", "store one coordinate per scan position")
        n = arrays["xcoords"].size
        if arrays["ycoords"].size != n:
            raise DataError(source, f"'xcoords' has {n} entries but 'ycoords' has "
                            f"{arrays['ycoords'].size}", "store one (x, y) per scan position")
        if np.iscomplexobj(arrays[diffraction_key]):
            raise DataError(source, f"'{diffraction_key}' is complex; it must hold real amplitudes",
                            "store sqrt(intensity) as float32")
        diffraction = _orient_diffraction(arrays[diffraction_key], n, source, diffraction_key)
        if diffraction.min() < 0:
            raise DataError(source, f"'{diffraction_key}' has negative values (min "
                            f"{diffraction.min():.3g}); it must hold amplitudes sqrt(intensity)",
                            "store the square root of the measured intensity")
        patch = diffraction.shape[1:]
        probe = arrays["probeGuess"]
        if probe.shape != patch:
            raise DataError(source, f"'probeGuess' shape {probe.shape} differs from the pattern "
                            f"shape {patch}", "store a probe of the same N x N size as the patterns")
        obj = arrays.get("objectGuess")
        if obj is not None and (obj.ndim != 2 or obj.shape[0] < patch[0] or obj.shape[1] < patch[1]):
            raise DataError(source, f"'objectGuess' must be a 2-D image at least {patch}, got "
                            f"shape {obj.shape}", "store the full object as (H, W) complex64")
        for key in ("scan_index", "xcoords_start", "ycoords_start"):
            if key in arrays and arrays[key].shape != (n,):
                raise DataError(source, f"'{key}' must have shape ({n},), got {arrays[key].shape}",
                                "store one entry per scan position")

        self.xcoords = arrays["xcoords"].astype(np.float64)
        self.ycoords = arrays["ycoords"].astype(np.float64)
        self.diff3d = np.ascontiguousarray(diffraction, dtype=np.float32)
        self.probeGuess = probe.astype(np.complex64)
        self.objectGuess = obj.astype(np.complex64) if obj is not None else None
        self.scan_index = (arrays["scan_index"].astype(np.int64) if "scan_index" in arrays
                           else np.zeros(n, dtype=np.int64))
        self.xcoords_start = arrays["xcoords_start"].astype(np.float64) \
            if "xcoords_start" in arrays else self.xcoords.copy()
        self.ycoords_start = arrays["ycoords_start"].astype(np.float64) \
            if "ycoords_start" in arrays else self.ycoords.copy()

    @property
    def n_positions(self) -> int:
        return self.xcoords.size

    @property
    def N(self) -> int:
        return self.diff3d.shape[1]

    @classmethod
    def from_file(cls, path) -> "RawData":
        path = Path(path)
        arrays = _read_npz(path)
        missing = [key for key in REQUIRED_KEYS if key not in arrays]
        diffraction_key = next((key for key in DIFFRACTION_KEYS if key in arrays), None)
        if diffraction_key is None:
            missing.append("diff3d")
        if missing:
            raise DataError(path, f"missing key(s) {', '.join(repr(k) for k in missing)}; "
                            f"found {sorted(arrays)}",
                            "the NPZ needs xcoords, ycoords, diff3d (or legacy diffraction) "
                            "and probeGuess")
        optional = {key: arrays[key] for key in OPTIONAL_KEYS if key in arrays}
        return cls(arrays["xcoords"], arrays["ycoords"], arrays[diffraction_key],
                   arrays["probeGuess"], path=path, diffraction_key=diffraction_key, **optional)

    def to_arrays(self) -> dict:
        arrays = {"xcoords": self.xcoords, "ycoords": self.ycoords, "diff3d": self.diff3d,
                  "probeGuess": self.probeGuess, "scan_index": self.scan_index,
                  "xcoords_start": self.xcoords_start, "ycoords_start": self.ycoords_start}
        if self.objectGuess is not None:
            arrays["objectGuess"] = self.objectGuess
        return arrays

    def to_file(self, path, legacy_layout: bool = False) -> None:
        """Write the NPZ contract atomically and deterministically; legacy_layout stores the
        diffraction as (N, N, n) under the legacy key 'diffraction' (FORMAT-001 input)."""
        arrays = self.to_arrays()
        if legacy_layout:
            arrays["diffraction"] = np.transpose(arrays.pop("diff3d"), (1, 2, 0))
        write_npz(path, arrays)


def _nearest_neighbours(points, seeds, k: int, chunk: int = 256):
    """Indices (len(seeds), k) of the k nearest points to each seed point (itself included),
    ties broken by index; chunked so memory stays O(chunk * n)."""
    rows = []
    for start in range(0, len(seeds), chunk):
        centre = points[seeds[start:start + chunk]]
        dist = np.sum((centre[:, None, :] - points[None, :, :]) ** 2, axis=2)
        rows.append(np.argsort(dist, axis=1, kind="stable")[:, :k])
    return np.concatenate(rows, axis=0)


def generate_grouped_data(raw: RawData, n_groups: int, seed=None, K=None) -> GroupedData:
    """Group scan positions for the network. Legacy consumer: N, gridsize and (default) K come
    from ptycho.params.cfg, not from any dataclass (CONFIG-001).

    gridsize 1: B = min(n_groups, n) positions drawn without replacement (seeded), sorted.
    gridsize 2: B seed positions drawn the same way; for each, its K nearest neighbours
    (itself included); 4 of them chosen (seeded) and sorted by index -> channel order.
    """
    N = params.cfg["N"]
    gridsize = params.cfg["gridsize"]
    source = raw.path if raw.path is not None else "RawData"
    if gridsize not in (1, 2):
        raise ConfigError("params.cfg", f"gridsize must be 1 or 2, got {gridsize!r}",
                          "call update_legacy_dict(params.cfg, config) with a valid ModelConfig")
    if raw.N != N:
        raise DataError(source, f"patterns are {raw.N}x{raw.N} but params.cfg['N'] is {N}",
                        "call update_legacy_dict(params.cfg, config) with model.N equal to the "
                        "data's patch size before grouping (CONFIG-001)")
    if isinstance(n_groups, bool) or not isinstance(n_groups, (int, np.integer)) or n_groups < 1:
        raise ConfigError("generate_grouped_data", f"n_groups must be an integer >= 1, got "
                          f"{n_groups!r}", "pass a positive number of groups")
    n = raw.n_positions
    n_channels = gridsize ** 2
    rng = np.random.default_rng(seed)
    n_batch = min(int(n_groups), n)
    seeds = np.sort(rng.choice(n, size=n_batch, replace=False))
    points = np.stack([raw.xcoords, raw.ycoords], axis=1)
    if gridsize == 1:
        nn_indices = seeds[:, None]
    else:
        k = params.cfg["neighbor_count"] if K is None else K
        if isinstance(k, bool) or not isinstance(k, (int, np.integer)) or k < n_channels:
            raise ConfigError("generate_grouped_data", f"K (neighbor_count) must be an integer "
                              f">= {n_channels}, got {k!r}", "set neighbor_count >= 4")
        if n < k:
            raise DataError(source, f"only {n} scan positions, fewer than K = {k} neighbours",
                            "use a dataset with more positions or a smaller neighbor_count")
        neighbours = _nearest_neighbours(points, seeds, int(k))
        picks = np.argsort(rng.random((n_batch, int(k))), axis=1)[:, :n_channels]
        nn_indices = np.sort(np.take_along_axis(neighbours, picks, axis=1), axis=1)
    nn_indices = nn_indices.astype(np.int64)
    coords_global = points[nn_indices]                          # (B, C, 2)
    coords_center = coords_global.mean(axis=1)                  # (B, 2)
    coords_offsets = coords_global - coords_center[:, None, :]  # (B, C, 2)
    X = np.ascontiguousarray(np.moveaxis(raw.diff3d[nn_indices], 1, 3), dtype=np.float32)
    return GroupedData(X=X, coords_global=coords_global, coords_center=coords_center,
                       coords_offsets=coords_offsets, nn_indices=nn_indices, probe=raw.probeGuess)
