"""Damaged archives are refused with an ArchiveError (a ValueError) naming the file and what is
wrong - never a zipfile/JSON/torch traceback - and before anything reaches params.cfg. The
console script turns the same error into one line on stderr and exit 2."""
import json
import subprocess

import pytest

from ptycho.errors import ArchiveError
from ptycho.workflows.backend_selector import load_inference_bundle_with_backend
from suite_support import REPO_ROOT, python_command, subprocess_env

from ._archives import BACKENDS, PAYLOADS, read_members, rewrite


def truncated(path, backend):
    data = path.read_bytes()
    path.write_bytes(data[:len(data) // 2])


def empty(path, backend):
    path.write_bytes(b"")


def payload_member_missing(path, backend):
    members = read_members(path)
    del members[PAYLOADS[backend][0]]
    rewrite(path, members)


def manifest_missing(path, backend):
    members = read_members(path)
    del members["manifest.json"]
    rewrite(path, members)


def manifest_invalid_json(path, backend):
    rewrite(path, {**read_members(path), "manifest.json": b'{"format": "ptycho-model-archive",'})


def params_invalid_json(path, backend):
    rewrite(path, {**read_members(path), "params.json": b"cfg = {N: 32}"})


def edit_manifest(**changes):
    def damage(path, backend):
        members = read_members(path)
        manifest = {**json.loads(members["manifest.json"]), **changes}
        rewrite(path, {**members, "manifest.json": json.dumps(manifest).encode()})
    return damage


def payload_corrupted(path, backend):
    """Bytes of a stored payload member flipped: the zip opens, the member's CRC fails."""
    members = read_members(path)
    rewrite(path, members)              # stored uncompressed, so the bytes are findable
    data = bytearray(path.read_bytes())
    start = bytes(data).index(members[PAYLOADS[backend][0]][:64]) + 100
    data[start:start + 16] = bytes(16)
    path.write_bytes(bytes(data))


DAMAGE = {
    "truncated": (truncated, "not a readable zip"),
    "empty": (empty, "not a readable zip"),
    "payload-member-missing": (payload_member_missing, "missing"),
    "manifest-missing": (manifest_missing, "manifest.json is missing"),
    "manifest-invalid-json": (manifest_invalid_json, "manifest.json is not valid JSON"),
    "params-invalid-json": (params_invalid_json, "params.json is not valid JSON"),
    "unknown-version": (edit_manifest(version=2), "version 2 is not supported"),
    "unknown-format": (edit_manifest(format="keras-weights"), "format"),
    "payload-corrupted": (payload_corrupted, "cannot be extracted"),
}


@pytest.mark.parametrize("damage", DAMAGE)
@pytest.mark.parametrize("backend", BACKENDS)
def test_damaged_archive_is_a_clear_archive_error(backend, damage, archive_copy, trained,
                                                  legacy_params):
    damage_archive, expected = DAMAGE[damage]
    path = archive_copy(backend)
    damage_archive(path, backend)
    legacy_params["intensity_scale"] = -1.0      # a (partial) load would restore the archive's
    with pytest.raises(ArchiveError) as raised:
        load_inference_bundle_with_backend(path.parent, trained(backend).inference_config())
    message = str(raised.value)
    assert message.startswith(f"{path}: "), message
    assert expected in message, message
    assert "(" in message and message.endswith(")"), f"no fix in: {message}"
    assert legacy_params["intensity_scale"] == -1.0


def test_cli_reports_a_damaged_archive_in_one_line(archive_copy, simulated_dataset, tmp_path):
    path = archive_copy("pytorch")
    truncated(path, "pytorch")
    output_dir = tmp_path / "inference"
    completed = subprocess.run(
        python_command("-m", "ptycho.cli.infer", "--model-path", str(path.parent), "--test-data",
                       str(simulated_dataset()), "--output-dir", str(output_dir)),
        cwd=REPO_ROOT, env=subprocess_env(), capture_output=True, text=True, timeout=120)
    assert completed.returncode == 2, completed.stderr
    lines = completed.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith(f"error: {path}: "), completed.stderr
    assert not (output_dir.exists() and any(output_dir.iterdir()))
