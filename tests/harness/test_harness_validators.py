"""Artifact validators on good and broken files: each failure names the file and the rule."""
import json
import random
import re
import zipfile
from pathlib import Path

import pytest
from PIL import Image

from harness.config import selectors
from harness.verdicts import validators
from harness.verdicts.validators import ValidationError


def noise_png(path: Path, size=(64, 64), mode="RGB") -> Path:
    rng = random.Random(1)
    bands = len(mode)
    data = bytes(rng.randrange(256) for _ in range(size[0] * size[1] * bands))
    Image.frombytes(mode, size, data).save(path)
    return path


def broken(call, *args, **kwargs) -> ValidationError:
    with pytest.raises(ValidationError) as raised:
        call(*args, **kwargs)
    return raised.value


# -- PNG --------------------------------------------------------------------------------------
def test_png_good(tmp_path):
    facts = validators.validate_png(noise_png(tmp_path / "a.png"), expected_size=(64, 64))
    assert facts["width"] == 64 and facts["bytes"] > 1024


@pytest.mark.parametrize("make, rule", [
    (lambda p: Image.new("RGB", (8, 8), "red").save(p), "min-bytes"),
    (lambda p: Image.new("L", (128, 128), 7).save(p, compress_level=0), "not-constant"),
    (lambda p: p.write_bytes(b"\x89PNG\r\n\x1a\n" + bytes(2000)), "decodes"),
])
def test_png_rules(tmp_path, make, rule):
    path = tmp_path / "img.png"
    make(path)
    error = broken(validators.validate_png, path)
    assert (error.path, error.rule) == (path, rule)
    assert str(error).startswith(f"{path}: {rule}: ")


def test_png_not_png_and_wrong_size_and_missing(tmp_path):
    jpeg = tmp_path / "photo.png"
    rng = random.Random(2)
    Image.frombytes("RGB", (64, 64), bytes(rng.randrange(256) for _ in range(64 * 64 * 3))).save(
        jpeg, format="JPEG")
    assert broken(validators.validate_png, jpeg).rule == "decodes"
    good = noise_png(tmp_path / "b.png", size=(40, 30))
    error = broken(validators.validate_png, good, expected_size=(64, 64))
    assert error.rule == "size" and "40x30 pixels, expected 64x64" in error.message
    assert broken(validators.validate_png, tmp_path / "none.png").rule == "exists"


# -- logs -------------------------------------------------------------------------------------
@pytest.mark.parametrize("text, rule", [
    ("2026-11-28 INFO ptycho: trained 2 epochs\n", None),
    ("", "non-empty"),
    ("   \n", "non-empty"),
    ("INFO start\nTraceback (most recent call last):\n  File x\n", "no-traceback"),
    ("2026-11-28 20:00:00 ERROR ptycho.cli: bad input\n", "no-error-lines"),
    ("ERROR:root:something\n", "no-error-lines"),
    ("INFO counted 0 ERRORS in TERRORIST_ERROR_RATE\n", None),
    ("2026-11-28 [ERROR] ptycho.train: loss is NaN\n", "no-error-lines"),
    ("INFO start\nreconstruction finished with status ERROR\n", "no-error-lines"),
    ("INFO exit code set from ERROR_CODES\n", None),
])
def test_log_rules(tmp_path, text, rule):
    path = tmp_path / "train.log"
    path.write_text(text)
    if rule is None:
        validators.validate_log(path)
    else:
        assert broken(validators.validate_log, path).rule == rule


def test_log_allow_patterns(tmp_path):
    path = tmp_path / "inference.log"
    path.write_text("INFO ok\nWARNING x ERROR expected: bad backend literal rejected\n"
                    "[ERROR] expected too\n")
    assert broken(validators.validate_log, path).message.startswith("line 2:")
    assert broken(validators.validate_log, path, allow=[r"ERROR expected:"]).message.startswith(
        "line 3:")
    validators.validate_log(path, allow=[r"ERROR expected:", r"^\[ERROR\] expected"])


# -- per-test logs of a run folder (`harness validate`) ----------------------------------------
LOGGING_TESTS = """
import logging

def test_quiet():
    print("all fine")

def test_prints_an_error_but_passes():
    print("[ERROR] checkpoint write failed")

def test_prints_an_allowed_error():
    print("ERROR expected: bad backend literal rejected")

def test_fails():
    logging.getLogger("ptycho.train").error("loss is NaN")
    assert "tensorflow" == "pytorch"
"""


def test_validate_checks_each_test_log_like_the_plugin_checks_logs(suite):
    from harness.cli import reports as cli_reports

    suite.write("tests/suite/integration/test_logging.py", LOGGING_TESTS)
    suite.edit_toml("harness.toml", "log_allow = []", 'log_allow = ["^ERROR expected:"]')
    suite.pytester.runpytest("-q", "--harness-run", "integration")
    [run] = suite.runs()
    logs = {t["nodeid"].split("::")[-1]: t["log"] for t in suite.report(run)["tests"]}
    (run / logs["test_quiet"]).write_text("  \n")  # truncated to nothing

    def failed_checks():
        results = cli_reports.run_folder_checks(run, selectors.load(suite.path))
        # "line N: ..." -> "...": N depends on the log's header
        return {result.path: (result.rule, re.sub(r"^line \d+: ", "", result.message))
                for result in results if not result.ok}

    # the failed test's ERROR record and the allowed line are expected; the others are not
    assert failed_checks() == {
        logs["test_quiet"]: ("non-empty", "the log is empty (passed test)"),
        logs["test_prints_an_error_but_passes"]: (
            "no-error-lines", "[ERROR] checkpoint write failed (passed test)")}
    (run / logs["test_quiet"]).unlink()
    assert failed_checks()[logs["test_quiet"]] == ("test-log", "per-test log missing")


# -- model archive ----------------------------------------------------------------------------
def make_archive(path: Path, manifest=None, members=("params.json", "model.ckpt"), extra=()):
    manifest = {"format": "ptycho-model-archive", "version": 1, "backend": "pytorch",
                "models": ["autoencoder", "diffraction_to_obj"], "members": list(members)} \
        if manifest is None else manifest
    with zipfile.ZipFile(path, "w") as archive:
        if manifest is not False:
            archive.writestr("manifest.json", json.dumps(manifest))
        for name in list(members) + list(extra):
            archive.writestr(name, "x")
    return path


def test_archive_good(tmp_path):
    facts = validators.validate_model_archive(make_archive(tmp_path / "wts.h5.zip"),
                                              expected_backend="pytorch")
    assert facts["backend"] == "pytorch"


@pytest.mark.parametrize("build, rule", [
    (lambda p: make_archive(p, manifest=False), "manifest"),
    (lambda p: make_archive(p, manifest={"backend": "jax", "members": []}), "backend-tag"),
    (lambda p: make_archive(p, manifest={"members": []}), "backend-tag"),
    (lambda p: make_archive(p, manifest={"backend": "tensorflow", "members": ["gone.keras"]},
                            members=()), "members"),
    (lambda p: make_archive(p, extra=("../escape.txt",)), "safe-members"),
    (lambda p: p.write_bytes(b"not a zip at all"), "zip"),
])
def test_archive_rules(tmp_path, build, rule):
    path = tmp_path / "wts.h5.zip"
    build(path)
    error = broken(validators.validate_model_archive, path)
    assert (error.path, error.rule) == (path, rule)


def test_archive_expected_backend(tmp_path):
    path = make_archive(tmp_path / "wts.h5.zip")
    error = broken(validators.validate_model_archive, path, expected_backend="tensorflow")
    assert error.rule == "backend-tag" and "'pytorch', expected 'tensorflow'" in error.message


# -- Lightning checkpoint ---------------------------------------------------------------------
torch = pytest.importorskip("torch")


class TinyModule(torch.nn.Module):
    """Stands in for a LightningModule: rebuilt from its hyper-parameters."""

    def __init__(self, width: int = 3, name: str = "tiny"):
        super().__init__()
        self.layer = torch.nn.Linear(2, width)


def save_checkpoint(path: Path, *, width=3, hyper_parameters=None, state_dict=None, drop=()):
    module = TinyModule(width)
    checkpoint = {"state_dict": module.state_dict() if state_dict is None else state_dict,
                  "hyper_parameters": {"width": width, "name": "tiny"}
                  if hyper_parameters is None else hyper_parameters,
                  "epoch": 1, "pytorch-lightning_version": "2.6.6"}
    for key in drop:
        del checkpoint[key]
    torch.save(checkpoint, path)
    return path


class NotAllowed:
    pass


def test_checkpoint_good(tmp_path):
    facts = validators.validate_checkpoint(save_checkpoint(tmp_path / "last.ckpt"),
                                           module_class=TinyModule)
    assert facts["tensors"] == 2 and facts["hyper_parameters"] == ["name", "width"]



def test_without_a_module_class_a_checkpoint_is_checked_but_not_rebuilt(tmp_path):
    # weights 3 wide against hyper_parameters of width 5: only a rebuild would notice
    path = save_checkpoint(tmp_path / "last.ckpt", hyper_parameters={"width": 5})
    facts = validators.validate_checkpoint(path)
    assert facts["module_class"] is None and facts["tensors"] == 2
    assert broken(validators.validate_checkpoint, path, module_class=TinyModule).rule == "state-dict"
    assert broken(validators.validate_checkpoint,
                  save_checkpoint(tmp_path / "bare.ckpt", drop=("hyper_parameters",))).rule == "structure"


def test_an_unchanged_valid_checkpoint_is_not_loaded_again(tmp_path, monkeypatch):
    path = save_checkpoint(tmp_path / "last.ckpt")
    loads = []
    real_load = torch.load
    monkeypatch.setattr(torch, "load", lambda *a, **k: loads.append(a[0]) or real_load(*a, **k))
    first = validators.validate_checkpoint(path, module_class=TinyModule)
    first["hyper_parameters"].append("changed by the caller")
    assert validators.validate_checkpoint(path, module_class=TinyModule)["hyper_parameters"] == [
        "name", "width"]
    assert loads == [path]
    save_checkpoint(path, hyper_parameters={"width": 5})  # rewritten: loaded again, and invalid
    assert broken(validators.validate_checkpoint, path, module_class=TinyModule).rule == "state-dict"
    assert loads == [path, path]


@pytest.mark.parametrize("kwargs, module_class, rule", [
    ({"drop": ("hyper_parameters",)}, TinyModule, "structure"),
    ({"drop": ("state_dict",)}, TinyModule, "structure"),
    ({"hyper_parameters": ["width", 3]}, TinyModule, "structure"),
    ({"hyper_parameters": {"width": 3, "depth": 9}}, TinyModule, "rebuild"),
    ({"hyper_parameters": {"width": 5}}, TinyModule, "state-dict"),  # weights are 3 wide
    ({}, "no_such_package.Module", "module-class"),
    ({}, "harness.verdicts.validators.NoSuchClass", "module-class"),
])
def test_checkpoint_rules(tmp_path, kwargs, module_class, rule):
    path = save_checkpoint(tmp_path / "last.ckpt", **kwargs)
    error = broken(validators.validate_checkpoint, path, module_class=module_class)
    assert (error.path, error.rule) == (path, rule)


def test_checkpoint_needing_pickle_is_refused(tmp_path):
    path = tmp_path / "pickled.ckpt"
    torch.save({"state_dict": {}, "hyper_parameters": {"obj": NotAllowed()}}, path)
    error = broken(validators.validate_checkpoint, path, module_class=TinyModule)
    assert error.rule == "loads" and "weights_only=True" in error.message
    (tmp_path / "garbage.ckpt").write_bytes(b"\x00" * 64)
    assert broken(validators.validate_checkpoint, tmp_path / "garbage.ckpt").rule == "loads"


# -- applied by file type ---------------------------------------------------------------------
def test_validate_tree_by_file_type(tmp_path):
    settings = selectors.ValidationSettings("unused.Module", 1024, ())
    folder = tmp_path / "tests" / "t1"
    folder.mkdir(parents=True)
    noise_png(folder / "amp.png")
    (folder / "train.log").write_text("")
    make_archive(folder / "wts.h5.zip")
    (folder / "history.json").write_text("{}")  # not validated
    results = validators.validate_tree(tmp_path / "tests", settings, relative_to=tmp_path)
    assert [(r.path, r.kind, r.ok, r.rule) for r in results] == [
        ("tests/t1/amp.png", "png", True, ""),
        ("tests/t1/train.log", "log", False, "non-empty"),
        ("tests/t1/wts.h5.zip", "archive", True, "")]


def test_validate_tree_checks_configured_png_sizes(tmp_path):
    """[validation.png_sizes]: the first glob matching the path in the run folder sets the size."""
    settings = selectors.ValidationSettings("unused.Module", 1024, (), png_sizes=(
        ("tests/*/recon_*.png", (64, 64)), ("tests/*/*.png", (32, 32))))
    folder = tmp_path / "tests" / "t1"
    folder.mkdir(parents=True)
    noise_png(folder / "recon_amp.png")
    noise_png(folder / "recon_phase.png", size=(48, 64))
    noise_png(folder / "overview.png", size=(64, 64))
    results = validators.validate_tree(tmp_path / "tests", settings, relative_to=tmp_path)
    assert [(r.path, r.ok, r.rule, r.message) for r in results] == [
        ("tests/t1/overview.png", False, "size", "64x64 pixels, expected 32x32"),
        ("tests/t1/recon_amp.png", True, "", ""),
        ("tests/t1/recon_phase.png", False, "size", "48x64 pixels, expected 64x64")]


def test_shipped_png_sizes_cover_the_integration_reconstructions():
    """The shipped glob must keep matching where the integration workflow's reconstructions
    land (tests/<test name>/.../reconstructed_*.png), or the size check silently stops."""
    from harness.records import runfolder

    settings = selectors.load(Path(__file__).resolve().parents[2])
    test = "integration/test_cli_workflow.py::test_cli_round_trip_leaves_valid_artifacts[gs1]"
    folder = runfolder.artifact_dir_for(Path("run"), test).relative_to("run").as_posix()
    for name in ("reconstructed_amplitude.png", "reconstructed_phase.png"):
        assert settings.validation.png_size_for(f"{folder}/infer/{name}") == (128, 128)


def test_a_refusal_without_a_global_names_torchs_reason_not_its_unsafe_advice():
    """torch's message starts with how to load the file unsafely (weights_only=False); the
    line that says why it refused is the one to show."""
    message = ("Weights only load failed. This file can still be loaded, to do so you have two "
               "options\n\t(1) Re-running `torch.load` with `weights_only` set to `False` will "
               "likely succeed\n\tWeightsUnpickler error: Unsupported operand 149\n\nCheck the "
               "documentation")
    line = validators._load_failure(RuntimeError(message))
    assert line == "safe loading refuses it (Unsupported operand 149)"
    assert "weights_only" not in line
