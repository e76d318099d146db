"""The backend-neutral workflow: group -> normalise -> train -> save -> predict -> stitch ->
results, plus the output files the CLIs write. A backend (`ptycho.backend_api.Backend`) only
trains, predicts one batch, and (de)serialises its models; everything here is NumPy.
Importing this module imports neither TensorFlow nor torch.
"""
import json
import tempfile
import time
from functools import partial
from pathlib import Path

import numpy as np

from ptycho import archive, images, limits, metrics, params, reference
from ptycho.backend_api import Backend, TrainingInputs
from ptycho.config.config import update_legacy_dict
from ptycho.errors import ArchiveError, ConfigError, DataError
from ptycho.fileio import atomic_output
from ptycho.log import get_logger
from ptycho.raw_data import RawData, generate_grouped_data, write_npz

logger = get_logger(__name__)

PREDICT_BATCH = 256     # patterns per backend.predict call: bounds memory at inference


def stitch_crop_size(N: int) -> int:
    """M, the central M x M of each patch that stitching keeps: the probe's disk (diameter
    N/2) is where the reconstruction is constrained by the data."""
    return N // 2


def prepare_probe(probe) -> np.ndarray:
    """The illumination the model multiplies with: probeGuess normalised with
    params.cfg['probe_scale'], then masked to the disk r < N/4 when params.cfg['probe.mask']."""
    probe = reference.normalize_probe(probe, params.cfg["probe_scale"])
    if params.cfg["probe.mask"]:
        probe = np.where(reference.central_disk(*probe.shape), probe, 0).astype(np.complex64)
    return probe


def canvas_shape(raw: RawData) -> tuple[int, int]:
    """The stitched canvas: objectGuess's shape when present (so metrics compare pixel to
    pixel), else just large enough for every patch."""
    if raw.objectGuess is not None:
        return raw.objectGuess.shape
    source = raw.path or "data"
    low = min(raw.xcoords.min(), raw.ycoords.min())
    if low < 0:
        raise DataError(source, f"scan positions reach {low:.6g}, but without objectGuess they "
                        "place patches on a canvas whose origin is 0", "store positions as pixel "
                        "coordinates >= 0 (shift them by their minimum), or include objectGuess")
    half = raw.N - raw.N // 2
    shape = (int(np.ceil(raw.ycoords.max())) + half + 1, int(np.ceil(raw.xcoords.max())) + half + 1)
    limits.check_bytes(limits.ARRAY, 16.0 * shape[0] * shape[1], source,
                       f"the stitching canvas of {shape[0]} x {shape[1]} pixels (scan positions up "
                       f"to {max(raw.xcoords.max(), raw.ycoords.max()):.6g})")
    return shape


def _check_patch_size(raw: RawData) -> None:
    if raw.N != params.cfg["N"]:
        raise ConfigError(raw.path or "data", f"patterns are {raw.N}x{raw.N} but the model "
                          f"expects N = {params.cfg['N']}",
                          f"use data with {params.cfg['N']}x{params.cfg['N']} patterns or a model "
                          f"trained with N = {raw.N}")


def reconstruct(backend: Backend, models: dict, raw: RawData, n_groups: int | None = None,
                seed: int = 0) -> dict:
    """Predict object patches for `raw` (normalised with its own factor) and stitch them.

    n_groups None uses every scan position; seed fixes the grouping. Returns obj_patches
    (B, N, N, C) complex64, stitched (H, W) complex64, positions (B*C, 2) (x, y) and norm_factor.
    """
    _check_patch_size(raw)
    canvas = canvas_shape(raw)      # before predicting: a canvas over the size policy fails fast
    grouped = generate_grouped_data(raw, n_groups or raw.n_positions, seed=seed)
    X_norm, norm_factor = reference.normalize_diffraction(grouped.X)
    offsets = grouped.coords_offsets.astype(np.float32)
    patches = np.concatenate([backend.predict(models, X_norm[i:i + PREDICT_BATCH],
                                              offsets[i:i + PREDICT_BATCH])
                              for i in range(0, len(X_norm), PREDICT_BATCH)])
    n_batch, n_size, _, n_channels = patches.shape
    flat = np.moveaxis(patches, 3, 1).reshape(n_batch * n_channels, n_size, n_size)
    positions = grouped.coords_global.reshape(n_batch * n_channels, 2)
    stitched = reference.reassemble(flat, positions, canvas, stitch_crop_size(n_size))
    return {"obj_patches": patches, "stitched": stitched, "positions": positions,
            "norm_factor": norm_factor}


def run_workflow(backend: Backend, train_data: RawData, test_data: RawData | None, config,
                 do_stitching: bool = True, execution_config=None):
    """Train on `train_data`, write `<config.output_dir>/wts.h5.zip`, and (when do_stitching
    and test_data is given) reconstruct test_data. Returns (amplitude, phase, results), with
    (None, None, results) when nothing was stitched."""
    update_legacy_dict(params.cfg, config)      # CONFIG-001, whatever the entry point
    _check_patch_size(train_data)
    seed = config.subsample_seed if config.subsample_seed is not None else config.seed
    grouped = generate_grouped_data(train_data, config.n_groups, seed=seed)
    X_norm, norm_factor = reference.normalize_diffraction(grouped.X)
    scale = reference.intensity_scale(config.nphotons, params.cfg["N"])
    params.cfg["intensity_scale"] = scale
    inputs = TrainingInputs(X_norm=X_norm, offsets=grouped.coords_offsets.astype(np.float32),
                            probe=prepare_probe(grouped.probe), intensity_scale=scale,
                            norm_factor=norm_factor)
    logger.info("training %s backend on %d groups of %s (intensity scale %.4g, norm factor %.4g)",
                backend.name, len(X_norm), X_norm.shape[1:], scale, norm_factor)
    started = time.perf_counter()
    models, history = backend.train(inputs, config, execution_config)
    train_seconds = time.perf_counter() - started
    logger.info("training took %.2f s", train_seconds)
    archive_file = archive.save_archive(config.output_dir, backend.name,
                                        partial(backend.save_payload, models), scale, norm_factor)
    logger.info("saved %s", archive_file)
    results = {"backend": backend.name, "history": history, "intensity_scale": scale,
               "norm_factor": norm_factor, "obj_patches": None, "stitched": None,
               "models": models, "archive_path": archive_file, "train_seconds": train_seconds}
    if not do_stitching or test_data is None:
        return None, None, results
    reconstruction = reconstruct(backend, models, test_data, seed=seed)
    # results["norm_factor"] stays the training one (the archived value); the test set was
    # normalised with its own factor.
    reconstruction["test_norm_factor"] = reconstruction.pop("norm_factor")
    results.update(reconstruction)
    return np.abs(results["stitched"]), np.angle(results["stitched"]), results


def load_bundle(backend: Backend, model_dir) -> tuple[dict, dict]:
    """(models, params document) from the archive in `model_dir` (folder or wts.h5.zip):
    validated (backend tag must be backend.name), params.cfg restored, payload rebuilt."""
    with tempfile.TemporaryDirectory(prefix="ptycho-archive-") as extract_dir:
        bundle = archive.extract_archive(model_dir, backend.name, extract_dir)
        try:
            models = backend.load_payload(bundle.folder, bundle.params)
        except ArchiveError as exc:
            where = Path(exc.where)
            if not where.is_relative_to(bundle.folder):
                raise
            # a payload file of the temporary extraction: name the archive and the member
            raise ArchiveError(f"{bundle.path}: {where.relative_to(bundle.folder).as_posix()}",
                               exc.what, exc.fix) from None
    logger.info("loaded %s model archive %s", backend.name, bundle.path)
    return models, bundle.params


# ---- output files (CLIs) ------------------------------------------------------------------

def write_json(path, value) -> Path:
    """JSON, atomically."""
    with atomic_output(path, "w") as handle:
        json.dump(value, handle, indent=2, sort_keys=True)
        handle.write("\n")
    return Path(path)


def write_reconstruction(output_dir, results: dict, raw: RawData) -> dict:
    """reconstructed_amplitude.png, reconstructed_phase.png, reconstruction.npz and (when raw
    has objectGuess) truth_amplitude.png, truth_phase.png and metrics.json in output_dir. Metrics are computed before anything is
    written. Returns the metrics dict ({} without ground truth)."""
    output_dir = Path(output_dir)
    stitched = results["stitched"]
    quality = {}
    if raw.objectGuess is not None:
        quality = metrics.evaluate_reconstruction(stitched, raw.objectGuess,
                                                  positions=results["positions"])
    write_npz(output_dir / "reconstruction.npz", {
        "reconstruction": stitched.astype(np.complex64), "amplitude": np.abs(stitched),
        "phase": np.angle(stitched), "positions": results["positions"]})
    images.save_reconstruction_pngs(stitched, output_dir, truth=raw.objectGuess)
    if quality:
        write_json(output_dir / "metrics.json", quality)
    return quality
