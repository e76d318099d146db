"""ptycho-train / ptycho-infer as subprocesses: bad input exits 2 with one stderr line and no
outputs; a tiny real train -> infer writes every promised file; each route imports only its
own framework."""
import json
import subprocess
import sys
import zipfile

import numpy as np
import pytest
from PIL import Image

from ptycho.simulate import write_dataset

N = 32
# Runs a CLI as its console script does and, at exit, reports which frameworks it imported.
_RUNNER = """
import atexit, sys
atexit.register(lambda: print("IMPORTED", sorted(m for m in ("tensorflow", "torch") if m in sys.modules),
                              file=sys.stderr))
from ptycho.cli.{cli} import console_main
console_main()
"""
_THREADS = {"OMP_NUM_THREADS": "1", "TF_NUM_INTRAOP_THREADS": "1", "TF_NUM_INTEROP_THREADS": "1"}


def _run(cli, *args, cwd=None):
    import os
    env = {**os.environ, **_THREADS}
    return subprocess.run([sys.executable, "-c", _RUNNER.format(cli=cli), *map(str, args)],
                          capture_output=True, text=True, cwd=cwd, env=env, timeout=600)


def _chatter(result) -> list:
    """stderr lines besides the runner's own report: a --quiet run that succeeds prints none."""
    return [line for line in result.stderr.splitlines() if not line.startswith("IMPORTED")]


def _imported(result) -> list:
    line = [l for l in result.stderr.splitlines() if l.startswith("IMPORTED")][-1]
    return eval(line.split(" ", 1)[1])   # a list literal printed by _RUNNER


def _error_lines(result) -> list:
    return [l for l in result.stderr.splitlines() if not l.startswith("IMPORTED")]


def _assert_bad_input(result, *fragments):
    lines = _error_lines(result)
    assert result.returncode == 2, result.stderr
    assert len(lines) == 1 and lines[0].startswith("error: "), result.stderr
    assert "Traceback" not in result.stderr
    for fragment in fragments:
        assert fragment in lines[0], lines[0]
    assert _imported(result) == []          # failed before any framework import


@pytest.fixture(scope="module")
def data(tmp_path_factory):
    folder = tmp_path_factory.mktemp("cli_data")
    write_dataset(folder / "scan.npz", n_images=48, N=N, object_size=80, seed=0)
    write_dataset(folder / "big.npz", n_images=8, N=64, object_size=72, seed=0)
    (folder / "notes.npz").write_text("not an npz")
    return folder


def _fake_archive(path, backend="tensorflow", n=N):
    """A well-formed manifest + params (payload never reached by the tests using it)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with zipfile.ZipFile(path, "w") as zf:
        zf.writestr("manifest.json", json.dumps({
            "format": "ptycho-model-archive", "version": 1, "backend": backend,
            "models": ["autoencoder", "diffraction_to_obj"], "members": []}))
        zf.writestr("params.json", json.dumps({"cfg": {"N": n, "gridsize": 1},
                                               "intensity_scale": 1.0, "norm_factor": 1.0}))
    return path


@pytest.mark.parametrize("args, fragments", [
    (["--train-data", "{d}/missing.npz"], ["missing.npz", "file not found"]),
    (["--train-data", "{d}/notes.npz"], ["notes.npz", "is not an NPZ file"]),
    (["--train-data", "{d}/scan.npz", "--test-data", "{d}/big.npz"], ["big.npz", "64x64"]),
    (["--train-data", "{d}/scan.npz", "--nepochs", "0"], ["--nepochs"]),
    (["--train-data", "{d}/scan.npz", "--gridsize", "3"], ["--gridsize"]),
    (["--train-data", "{d}/scan.npz", "--n-filters-scale", "-1"], ["--n-filters-scale"]),
    (["--train-data", "{d}/scan.npz", "--seed", "-1"], ["seed"]),
    (["--train-data", "{d}/scan.npz", "--accelerator", "cpu"], ["--accelerator", "--backend pytorch"]),
    (["--train-data", "{d}/scan.npz", "--backend", "jax"], ["--backend"]),
])
def test_train_bad_input(data, tmp_path, args, fragments):
    out = tmp_path / "out"
    result = _run("train", *[a.format(d=data) for a in args], "--output-dir", out)
    _assert_bad_input(result, *fragments)
    assert not out.exists()


@pytest.mark.parametrize("case, fragments", [
    ("missing", ["wts.h5.zip", "not found"]),
    ("truncated", ["wts.h5.zip", "truncated or corrupt"]),
    ("backend", ["'pytorch' backend", "--backend tensorflow"]),
    ("patch", ["scan.npz", "N = 64"]),
    ("data", ["missing.npz", "file not found"]),
])
def test_infer_bad_input(data, tmp_path, case, fragments):
    model = tmp_path / "model"
    test_data = data / "scan.npz"
    extra = []
    if case == "truncated":
        archive = _fake_archive(model / "wts.h5.zip")
        archive.write_bytes(archive.read_bytes()[:40])
    elif case == "backend":
        _fake_archive(model / "wts.h5.zip", backend="pytorch")
        extra = ["--backend", "tensorflow"]
    elif case == "patch":
        _fake_archive(model / "wts.h5.zip", n=64)
    elif case == "data":
        _fake_archive(model / "wts.h5.zip")
        test_data = data / "missing.npz"
    out = tmp_path / "out"
    result = _run("infer", "--model-path", model, "--test-data", test_data, "--output-dir", out, *extra)
    _assert_bad_input(result, *fragments)
    assert not out.exists()


def test_module_entry_points_have_help():
    for module in ("ptycho.cli.train", "ptycho.cli.infer"):
        result = subprocess.run([sys.executable, "-m", module, "--help"], capture_output=True,
                                text=True, timeout=120)
        assert result.returncode == 0 and "--output-dir" in result.stdout


@pytest.mark.parametrize("backend", ["tensorflow", "pytorch"])
def test_train_then_infer_through_the_clis(data, tmp_path, backend):
    if backend == "pytorch":
        pytest.importorskip("torch")
        pytest.importorskip("lightning")
    train_dir, infer_dir = tmp_path / "train", tmp_path / "infer"
    extra = ["--logger", "none"] if backend == "pytorch" else []
    trained = _run("train", "--backend", backend, "--train-data", data / "scan.npz",
                   "--output-dir", train_dir, "--nepochs", "1", "--n-groups", "32",
                   "--batch-size", "16", "--n-filters-scale", "0.25", "--quiet", *extra)
    assert trained.returncode == 0, trained.stderr
    assert _chatter(trained) == []      # TensorFlow's absl start-up lines are filtered out
    framework = {"tensorflow": "tensorflow", "pytorch": "torch"}[backend]
    assert _imported(trained) == [framework]
    history = json.loads((train_dir / "history.json").read_text())
    assert sorted(history) == ["amplitude_mae", "loss", "phase_offset", "poisson_nll"] and len(history["loss"]) == 1
    assert "DEBUG" in (train_dir / "train.log").read_text()
    with zipfile.ZipFile(train_dir / "wts.h5.zip") as zf:
        assert json.loads(zf.read("manifest.json"))["backend"] == backend

    inferred = _run("infer", "--model-path", train_dir, "--test-data", data / "scan.npz",
                    "--output-dir", infer_dir, "--quiet")
    assert inferred.returncode == 0, inferred.stderr
    assert _chatter(inferred) == []
    assert _imported(inferred) == [framework]        # the archive's framework only
    for name in ("reconstructed_amplitude.png", "reconstructed_phase.png"):
        with Image.open(infer_dir / name) as image:
            assert image.format == "PNG" and image.size == (80, 80)
    with np.load(infer_dir / "reconstruction.npz") as saved:
        assert saved["reconstruction"].shape == (80, 80)
        assert saved["reconstruction"].dtype == np.complex64
    quality = json.loads((infer_dir / "metrics.json").read_text())
    assert {"amp_ssim", "phase_ssim", "frc50"} <= set(quality)
    assert (infer_dir / "inference.log").stat().st_size > 0
    leftovers = [p.name for p in list(train_dir.iterdir()) + list(infer_dir.iterdir())
                 if p.name.startswith(".")]
    assert leftovers == []                                  # no temp files left behind


_NATIVE_WRITER = """
import os
from ptycho.cli.common import run_console_script

def main():
    os.write(2, b"WARNING: All log messages before absl::InitializeLog() is called are written to STDERR\\n"
                b"I0000 00:00:1795907947.064306   29010 port.cc:153] oneDNN custom operations are on.\\n"
                b"E0000 00:00:1795907954.945783   29010 util.cc:131] oneDNN supports DT_INT32 only on AVX-512.\\n"
                b"E0000 00:00:1795907954.945783   29010 kernel.cc:7] a real native error\\n")
    print("error: a Python line", file=__import__("sys").stderr)
    return 3

run_console_script(main)
"""


@pytest.mark.parametrize("level, kept", [
    (None, ["a real native error", "error: a Python line"]),
    ("0", ["oneDNN custom operations", "DT_INT32", "a real native error", "error: a Python line"]),
])
def test_console_scripts_apply_tf_log_level_to_native_stderr_lines(level, kept):
    import os
    env = {key: value for key, value in os.environ.items() if key != "TF_CPP_MIN_LOG_LEVEL"}
    if level is not None:
        env["TF_CPP_MIN_LOG_LEVEL"] = level
    result = subprocess.run([sys.executable, "-c", _NATIVE_WRITER], capture_output=True, text=True,
                            env=env, timeout=60)
    assert result.returncode == 3                   # main()'s exit code, unchanged
    lines = result.stderr.splitlines()
    assert len(lines) == len(kept) and all(text in line for text, line in zip(kept, lines)), lines


def test_a_size_policy_flag_raises_its_limit_for_one_command(tmp_path, monkeypatch, capsys):
    """--max-array-gb (like $PTYCHO_MAX_ARRAY_GB) moves the limit; without it the policy's
    default holds. 64 patterns of 16 x 16 need 64 * 16 * 16 * 16 bytes = 256 KiB."""
    from ptycho import limits
    from ptycho.cli import simulate

    monkeypatch.setattr(limits, "_OVERRIDES", {})
    monkeypatch.delenv(limits.ARRAY.name, raising=False)
    tiny = str(100_000 / 2 ** 30)
    args = ["--output", str(tmp_path / "scan.npz"), "--n-images", "64", "--N", "16",
            "--object-size", "48", "--quiet"]
    assert simulate.main([*args, "--max-array-gb", tiny]) == 2
    err = capsys.readouterr().err
    assert "over the 9.31323e-05 GiB size policy" in err and "--max-array-gb" in err
    assert not (tmp_path / "scan.npz").exists()
    monkeypatch.setattr(limits, "_OVERRIDES", {})
    assert simulate.main(args) == 0 and (tmp_path / "scan.npz").is_file()
