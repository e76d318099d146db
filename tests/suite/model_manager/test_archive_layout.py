"""The wts.h5.zip layout: manifest (format, version, backend tag, models, members), the JSON
params snapshot, the backend's payload and nothing else; written atomically."""
import json
import re
import zipfile

import pytest

from harness.verdicts import validators

from ._archives import BACKENDS, N, PAYLOADS, read_members


@pytest.mark.parametrize("backend", BACKENDS)
def test_members_are_manifest_params_and_payload(trained, backend):
    model = trained(backend)
    members = read_members(model.archive)
    assert sorted(members) == sorted(["manifest.json", "params.json", *PAYLOADS[backend]])
    assert validators.validate_model_archive(model.archive, expected_backend=backend)["members"] \
        == PAYLOADS[backend]


@pytest.mark.parametrize("backend", BACKENDS)
def test_manifest_names_format_version_backend_and_models(trained, backend):
    manifest = json.loads(read_members(trained(backend).archive)["manifest.json"])
    assert manifest["format"] == "ptycho-model-archive"
    assert manifest["version"] == 1
    assert manifest["backend"] == backend
    assert manifest["models"] == ["autoencoder", "diffraction_to_obj"]
    assert manifest["members"] == PAYLOADS[backend]
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ", manifest["created_utc"])
    assert isinstance(manifest["package_version"], str) and manifest["package_version"]


@pytest.mark.parametrize("backend", BACKENDS)
def test_params_snapshot_is_json_of_this_run(trained, backend):
    model = trained(backend)
    snapshot = json.loads(read_members(model.archive)["params.json"])
    cfg = snapshot["cfg"]
    assert (cfg["N"], cfg["gridsize"], cfg["n_filters_scale"], cfg["n_groups"]) == (N, 1, 0.25, 16)
    assert snapshot["intensity_scale"] == pytest.approx(model.intensity_scale, rel=1e-12)
    assert cfg["intensity_scale"] == pytest.approx(snapshot["intensity_scale"], rel=1e-12)
    assert snapshot["norm_factor"] == pytest.approx(model.norm_factor, rel=1e-12)


@pytest.mark.parametrize("backend", BACKENDS)
def test_payload_formats_need_no_pickle(trained, backend):
    """Keras files are zips of JSON config + weights; the torch checkpoint is torch's zip
    format whose only objects weights_only loading accepts (checked in test_safe_loading)."""
    members = read_members(trained(backend).archive)
    if backend == "tensorflow":
        for name in PAYLOADS[backend]:
            with zipfile.ZipFile(__import__("io").BytesIO(members[name])) as keras_file:
                names = keras_file.namelist()
                assert "config.json" in names, names
                assert json.loads(keras_file.read("config.json"))
                assert not [n for n in names if n.endswith((".pkl", ".pickle", ".dill"))], names
    else:
        assert zipfile.is_zipfile(__import__("io").BytesIO(members["model.ckpt"]))


@pytest.mark.parametrize("backend", BACKENDS)
def test_nothing_but_outputs_left_in_the_output_folder(trained, backend):
    """Atomic write: no temp file or staging folder survives a successful save."""
    leftovers = [p.name for p in trained(backend).output_dir.iterdir()
                 if p.name.startswith(".") or p.suffix == ".tmp"]
    assert leftovers == []
