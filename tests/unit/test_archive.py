"""ptycho.archive: atomic writing, manifest/params validation, safe extraction."""
import json
import re
import zipfile

import pytest

from ptycho import archive, params
from ptycho.errors import ArchiveError


GOOD_CFG = {"N": 32, "gridsize": 1}


def _payload(staging):
    (staging / "model.bin").write_bytes(b"weights")
    (staging / "sub").mkdir()
    (staging / "sub" / "extra.txt").write_text("x")
    return ["model.bin", "sub/extra.txt"]


def _good_manifest(**changes):
    manifest = {"format": archive.FORMAT, "version": 1, "backend": "tensorflow",
                "models": list(archive.MODEL_NAMES), "members": ["model.bin"],
                "created_utc": "2025-01-01T00:00:00Z", "package_version": "0"}
    manifest.update(changes)
    return manifest


def _write_zip(path, manifest=None, params_doc=None, entries=None):
    """A hand-made archive: manifest/params may be dicts or raw strings; entries name -> bytes."""
    manifest = _good_manifest() if manifest is None else manifest
    params_doc = {"cfg": GOOD_CFG, "intensity_scale": 2.0, "norm_factor": 3.0} \
        if params_doc is None else params_doc
    entries = {"model.bin": b"weights"} if entries is None else entries
    with zipfile.ZipFile(path, "w") as zf:
        zf.writestr("manifest.json", manifest if isinstance(manifest, str) else json.dumps(manifest))
        zf.writestr("params.json", params_doc if isinstance(params_doc, str) else json.dumps(params_doc))
        for name, data in entries.items():
            zf.writestr(name, data)
    return path


def test_round_trip_restores_params_and_members(tmp_path):
    params.cfg["N"] = 32
    params.cfg["gridsize"] = 2
    path = archive.save_archive(tmp_path / "out", "tensorflow", _payload, 12.5, 0.25)
    assert path == tmp_path / "out" / "wts.h5.zip"
    assert sorted(p.name for p in (tmp_path / "out").iterdir()) == ["wts.h5.zip"]   # no temp left
    params.reset()
    loaded = archive.extract_archive(tmp_path / "out", "tensorflow", tmp_path / "x")
    assert loaded.manifest["backend"] == "tensorflow"
    assert loaded.manifest["version"] == 1
    assert loaded.manifest["models"] == ["autoencoder", "diffraction_to_obj"]
    assert loaded.manifest["members"] == ["model.bin", "sub/extra.txt"]
    assert (loaded.folder / "sub" / "extra.txt").read_text() == "x"
    assert params.cfg["N"] == 32 and params.cfg["gridsize"] == 2
    assert params.cfg["intensity_scale"] == 12.5
    assert loaded.params["norm_factor"] == 0.25
    manifest, params_doc = archive.read_metadata(path)
    assert manifest["backend"] == "tensorflow" and params_doc["cfg"]["N"] == 32


def test_failed_write_leaves_previous_archive_and_no_temp_files(tmp_path):
    archive.save_archive(tmp_path, "pytorch", _payload, 1.0, 1.0)
    before = (tmp_path / "wts.h5.zip").read_bytes()

    def broken(staging):
        (staging / "half.bin").write_bytes(b"partial")
        raise RuntimeError("disk full")

    with pytest.raises(RuntimeError, match="disk full"):
        archive.save_archive(tmp_path, "tensorflow", broken, 1.0, 1.0)
    assert (tmp_path / "wts.h5.zip").read_bytes() == before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["wts.h5.zip"]


def test_payload_writer_must_write_what_it_lists(tmp_path):
    with pytest.raises(ValueError, match="ghost.bin"):
        archive.save_archive(tmp_path, "tensorflow", lambda staging: ["ghost.bin"], 1.0, 1.0)
    assert not (tmp_path / "wts.h5.zip").exists()


@pytest.mark.parametrize("evil", ["../escape.bin", "/abs/escape.bin", "sub/../../escape.bin",
                                  "..\\escape.bin"])
def test_escaping_member_is_refused(tmp_path, evil):
    path = _write_zip(tmp_path / "wts.h5.zip", entries={"model.bin": b"w", evil: b"evil"})
    with pytest.raises(ArchiveError, match="outside the extraction folder") as info:
        archive.extract_archive(path, "tensorflow", tmp_path / "x")
    assert str(path) in str(info.value)
    assert not (tmp_path / "escape.bin").exists()
    assert not (tmp_path / "x" / "model.bin").exists()      # nothing extracted at all


def test_symlinked_extraction_escape_is_refused(tmp_path):
    # A member under a folder that is a symlink pointing outside resolves outside the target.
    target = tmp_path / "x"
    target.mkdir()
    (target / "link").symlink_to(tmp_path)
    path = _write_zip(tmp_path / "wts.h5.zip", entries={"model.bin": b"w", "link/escape.bin": b"e"})
    with pytest.raises(ArchiveError, match="outside the extraction folder"):
        archive.extract_archive(path, "tensorflow", target)


def test_truncated_zip_names_the_file(tmp_path):
    path = archive.save_archive(tmp_path, "tensorflow", _payload, 1.0, 1.0)
    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 2])
    with pytest.raises(ArchiveError, match="truncated or corrupt") as info:
        archive.extract_archive(tmp_path, "tensorflow", tmp_path / "x")
    assert str(path) in str(info.value)


def test_not_a_zip_and_missing_file(tmp_path):
    (tmp_path / "wts.h5.zip").write_text("hello")
    with pytest.raises(ArchiveError, match="not a readable zip"):
        archive.read_metadata(tmp_path)
    with pytest.raises(ArchiveError, match="not found") as info:
        archive.read_metadata(tmp_path / "elsewhere")
    assert "elsewhere" in str(info.value)


def test_missing_listed_member(tmp_path):
    path = _write_zip(tmp_path / "a.zip", manifest=_good_manifest(members=["model.bin", "gone.bin"]))
    with pytest.raises(ArchiveError, match="gone.bin"):
        archive.extract_archive(path, "tensorflow", tmp_path / "x")


@pytest.mark.parametrize("which", ["manifest", "params"])
def test_bad_json(tmp_path, which):
    kwargs = {"manifest": "{not json"} if which == "manifest" else {"params_doc": "[1, 2"}
    path = _write_zip(tmp_path / "a.zip", **kwargs)
    with pytest.raises(ArchiveError, match=f"{which}.json is not valid JSON"):
        archive.extract_archive(path, "tensorflow", tmp_path / "x")


def test_missing_manifest(tmp_path):
    path = tmp_path / "a.zip"
    with zipfile.ZipFile(path, "w") as zf:
        zf.writestr("params.json", "{}")
    with pytest.raises(ArchiveError, match="manifest.json is missing"):
        archive.read_metadata(path)


def test_unknown_version_names_both_versions(tmp_path):
    path = _write_zip(tmp_path / "a.zip", manifest=_good_manifest(version=7))
    with pytest.raises(ArchiveError, match=r"version 7 is not supported \(supported: 1\)"):
        archive.extract_archive(path, "tensorflow", tmp_path / "x")


def test_wrong_format(tmp_path):
    path = _write_zip(tmp_path / "a.zip", manifest=_good_manifest(format="something-else"))
    with pytest.raises(ArchiveError, match="not a ptycho model archive"):
        archive.read_metadata(path)


def test_backend_mismatch_names_both_backends(tmp_path):
    path = _write_zip(tmp_path / "a.zip", manifest=_good_manifest(backend="pytorch"))
    with pytest.raises(ArchiveError) as info:
        archive.extract_archive(path, "tensorflow", tmp_path / "x")
    message = str(info.value)
    assert "'pytorch'" in message and "'tensorflow'" in message and str(path) in message
    assert params.cfg["N"] == 64          # params untouched on refusal


@pytest.mark.parametrize("params_doc", [{"intensity_scale": 1.0, "norm_factor": 1.0},
                                        {"cfg": {"N": "64"}, "intensity_scale": 1.0, "norm_factor": 1.0},
                                        {"cfg": GOOD_CFG, "intensity_scale": -1.0, "norm_factor": 1.0},
                                        {"cfg": GOOD_CFG, "intensity_scale": 1.0}])
def test_bad_params_document(tmp_path, params_doc):
    path = _write_zip(tmp_path / "a.zip", params_doc=params_doc)
    with pytest.raises(ArchiveError, match="params.json"):
        archive.extract_archive(path, "tensorflow", tmp_path / "x")


def test_crash_while_zipping_keeps_previous_archive(tmp_path, monkeypatch):
    archive.save_archive(tmp_path, "pytorch", _payload, 1.0, 1.0)
    before = (tmp_path / "wts.h5.zip").read_bytes()

    def crash(self, *args, **kwargs):
        raise OSError("disk full")

    monkeypatch.setattr(zipfile.ZipFile, "write", crash)
    with pytest.raises(OSError, match="disk full"):
        archive.save_archive(tmp_path, "tensorflow", _payload, 1.0, 1.0)
    assert (tmp_path / "wts.h5.zip").read_bytes() == before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["wts.h5.zip"]


def test_extraction_is_capped_by_the_size_policy(tmp_path, monkeypatch):
    """PTYCHO_MAX_ARCHIVE_GB caps the bytes an archive may unpack (default 2 GiB): a zip bomb
    is refused by its declared sizes, and counted while writing in case they lie."""
    path = _write_zip(tmp_path / "wts.h5.zip", entries={"model.bin": bytes(100_000)})
    monkeypatch.setenv("PTYCHO_MAX_ARCHIVE_GB", str(50_000 / 2 ** 30))
    with pytest.raises(ArchiveError, match=r"wts.h5.zip: extracting the archive needs .* over the "
                                          r".* GiB size policy.*PTYCHO_MAX_ARCHIVE_GB"):
        archive.extract_archive(path, "tensorflow", tmp_path / "x")
    monkeypatch.setenv("PTYCHO_MAX_ARCHIVE_GB", str(200_000 / 2 ** 30))
    assert (archive.extract_archive(path, "tensorflow", tmp_path / "y").folder
            / "model.bin").stat().st_size == 100_000


def test_extraction_counts_the_bytes_it_writes(tmp_path, monkeypatch):
    """A member whose declared size is within the limit but whose data is not: stopped while
    writing (zipfile checks the size only at the end of a member)."""
    path = _write_zip(tmp_path / "wts.h5.zip", entries={"model.bin": bytes(3 << 20)})
    monkeypatch.setenv("PTYCHO_MAX_ARCHIVE_GB", str((2 << 20) / 2 ** 30))
    monkeypatch.setattr(archive, "declared_size", lambda zf, members: 10)   # headers that lie
    with pytest.raises(ArchiveError, match="more than its headers declare"):
        archive.extract_archive(path, "tensorflow", tmp_path / "x")
    assert (tmp_path / "x" / "model.bin").stat().st_size <= 2 << 20


@pytest.mark.parametrize("cfg, message", [
    ({**GOOD_CFG, "exec": "rm -rf /"}, "cfg has unknown key 'exec'"),
    ({**GOOD_CFG, "N": "32"}, "cfg['N'] must be a finite number, got '32'"),
    ({**GOOD_CFG, "n_filters_scale": [1]}, "cfg['n_filters_scale'] must be a finite number"),
    ({**GOOD_CFG, "object.big": 1}, "cfg['object.big'] must be true or false, got 1"),
    ({**GOOD_CFG, "gridsize": 3}, "gridsize must be 1 or 2, got 3"),
    ({**GOOD_CFG, "N": 30}, "N must be a positive integer divisible by 8, got 30"),
    ({**GOOD_CFG, "n_filters_scale": 1e6}, "n_filters_scale 1e+06 is over the size policy"),
    ({"gridsize": 1}, "cfg has no 'N'"),
])
def test_params_json_values_are_checked_before_params_cfg_takes_them(tmp_path, cfg, message):
    path = _write_zip(tmp_path / "wts.h5.zip", params_doc={"cfg": cfg, "intensity_scale": 2.0,
                                                            "norm_factor": 3.0})
    before = dict(params.cfg)
    with pytest.raises(ArchiveError, match=re.escape(message)) as caught:
        archive.extract_archive(path, "tensorflow", tmp_path / "x")
    assert str(path) in str(caught.value) and "params.json" in str(caught.value)
    assert params.cfg == before


# ---- added for the mutation score (harness mutate archive): each kills surviving mutants

def test_saving_into_a_new_nested_folder_and_again_into_the_same_one(tmp_path):
    out = tmp_path / "a" / "b" / "c"
    archive.save_archive(out, "tensorflow", _payload, 1.0, 1.0)
    archive.save_archive(out, "tensorflow", _payload, 2.0, 1.0)       # the folder exists now
    assert archive.read_metadata(out)[1]["intensity_scale"] == 2.0


def test_members_in_shared_nested_folders_round_trip(tmp_path):
    names = ["deep/er/one.txt", "deep/er/two.txt"]

    def payload(staging):
        for name in names:
            (staging / name).parent.mkdir(parents=True, exist_ok=True)
            (staging / name).write_text(name)
        return names

    archive.save_archive(tmp_path / "out", "pytorch", payload, 1.0, 1.0)
    loaded = archive.extract_archive(tmp_path / "out", "pytorch", tmp_path / "x")
    assert [(loaded.folder / name).read_text() for name in names] == names


def test_archive_json_is_canonical_and_strict(tmp_path):
    """Sorted keys (two archives of the same model compare byte for byte, apart from the
    timestamp) and no NaN / Infinity, which strict JSON parsers refuse."""
    params.cfg["N"] = 32
    path = archive.save_archive(tmp_path / "out", "tensorflow", _payload, 1.0, 1.0)
    with zipfile.ZipFile(path) as zf:
        manifest = json.loads(zf.read("manifest.json"))
        params_doc = json.loads(zf.read("params.json"))
    assert list(manifest) == sorted(manifest)
    assert list(params_doc["cfg"]) == sorted(params_doc["cfg"]) and len(params_doc["cfg"]) > 5
    with pytest.raises(ValueError, match="JSON compliant"):
        archive.save_archive(tmp_path / "nan", "tensorflow", _payload, float("nan"), 1.0)


@pytest.mark.parametrize("name", ["../evil.bin", "manifest.json", "params.json"])
def test_payload_member_names_must_be_plain_and_not_reserved(tmp_path, name):
    def payload(staging):
        (staging / name).write_bytes(b"x")
        return [name]

    with pytest.raises(ValueError, match="not a plain relative path"):
        archive.save_archive(tmp_path / "out", "tensorflow", payload, 1.0, 1.0)


@pytest.mark.parametrize("manifest, message", [
    (_good_manifest(models=["autoencoder"]), "manifest models"),
    (_good_manifest(models="autoencoder diffraction_to_obj"), "manifest models"),
    (_good_manifest(members=["model.bin", 7]), "manifest members"),
    (_good_manifest(members="model.bin"), "manifest members"),
])
def test_manifest_models_and_members_are_checked(tmp_path, manifest, message):
    path = _write_zip(tmp_path / "a.zip", manifest=manifest)
    with pytest.raises(ArchiveError, match=message):
        archive.read_metadata(path)


def test_a_zero_intensity_scale_or_norm_factor_is_refused(tmp_path):
    for key in ("intensity_scale", "norm_factor"):
        doc = {"cfg": GOOD_CFG, "intensity_scale": 2.0, "norm_factor": 3.0, key: 0.0}
        path = _write_zip(tmp_path / f"{key}.zip", params_doc=doc)
        with pytest.raises(ArchiveError, match=f"'{key}' must be a positive number, got 0.0"):
            archive.read_metadata(path)


def test_an_optional_cfg_value_is_a_json_scalar_or_null():
    for ok in (None, "run.npz", 3, 2.5):
        assert archive._cfg_value_problem(ok, None) is None
    for bad in ([1], {"a": 1}, True):
        assert "must be a string, a number or null" in archive._cfg_value_problem(bad, None)


def test_package_version_without_installed_metadata_is_unknown(monkeypatch):
    def missing(name):
        raise archive.metadata.PackageNotFoundError(name)

    monkeypatch.setattr(archive.metadata, "version", missing)
    assert archive._package_version() == "unknown"


def test_a_member_whose_data_fails_its_checksum_names_the_file(tmp_path):
    path = _write_zip(tmp_path / "wts.h5.zip")
    data = path.read_bytes()
    start = data.index(b'"format"')                       # manifest.json, stored uncompressed
    path.write_bytes(data[:start + 2] + b"F" + data[start + 3:])   # "format" -> "Format"
    with pytest.raises(ArchiveError, match=r"manifest.json cannot be read \(Bad CRC-32"):
        archive.read_metadata(path)


def test_extraction_up_to_exactly_the_size_policy_and_a_corrupt_member(tmp_path, monkeypatch):
    """The byte count starts at zero: a payload of exactly the allowed size extracts; a member
    whose data fails its checksum is an ArchiveError naming the file, not a zipfile error."""
    path = _write_zip(tmp_path / "wts.h5.zip", entries={"model.bin": bytes(100_000)})
    monkeypatch.setenv("PTYCHO_MAX_ARCHIVE_GB", str(100_000 / 2 ** 30))
    assert (archive.extract_archive(path, "tensorflow", tmp_path / "x").folder
            / "model.bin").stat().st_size == 100_000
    monkeypatch.delenv("PTYCHO_MAX_ARCHIVE_GB")
    payload = b"weights-" * 64
    path = _write_zip(tmp_path / "bad.zip", entries={"model.bin": payload})
    data = path.read_bytes()
    start = data.index(payload)
    path.write_bytes(data[:start] + b"W" + data[start + 1:])
    with pytest.raises(ArchiveError, match=r"bad.zip.*Bad CRC-32"):
        archive.extract_archive(path, "tensorflow", tmp_path / "y")
