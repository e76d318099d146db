"""Loading never trusts an archive: members whose path escapes the extraction folder are
refused before anything is extracted, and a checkpoint carrying a pickled object is refused by
weights_only loading (the object's code never runs)."""
import json
from pathlib import Path

import pytest

from ptycho import archive
from ptycho.errors import ArchiveError
from ptycho.workflows.backend_selector import load_inference_bundle_with_backend

from ._archives import BACKENDS, read_members, rewrite

ESCAPING_NAMES = ["../escaped.txt", "nested/../../escaped.txt", "/tmp/escaped-absolute.txt",
                  "..\\escaped.txt"]


def with_member(path: Path, name: str, listed: bool) -> None:
    """Add member `name` to the archive, also listed in the manifest when `listed`."""
    members = read_members(path)
    if listed:
        manifest = json.loads(members["manifest.json"])
        manifest["members"].append(name)
        members["manifest.json"] = json.dumps(manifest).encode()
    rewrite(path, {**members, name: b"written by a hostile archive"})


@pytest.mark.parametrize("listed", (True, False), ids=("listed", "unlisted"))
@pytest.mark.parametrize("name", ESCAPING_NAMES)
def test_member_escaping_the_target_folder_is_refused(archive_copy, tmp_path, name, listed):
    path = archive_copy("pytorch")
    with_member(path, name, listed)
    target = tmp_path / "deep" / "extract"
    target.mkdir(parents=True)
    with pytest.raises(ArchiveError, match="outside the extraction folder") as raised:
        archive.extract_archive(path, "pytorch", target)
    assert repr(name) in str(raised.value)
    assert list(target.iterdir()) == [], "refused archive was partly extracted"
    assert not list(tmp_path.rglob("escaped*.txt"))
    assert not Path("/tmp/escaped-absolute.txt").exists()


@pytest.mark.parametrize("backend", BACKENDS)
def test_escaping_member_refused_by_the_real_loader(archive_copy, trained, backend):
    path = archive_copy(backend)
    with_member(path, "../../escaped.txt", listed=True)
    with pytest.raises(ArchiveError, match="outside the extraction folder"):
        load_inference_bundle_with_backend(path, trained(backend).inference_config())
    assert not list(path.parent.parent.rglob("escaped.txt"))


class CodeOnLoad:
    """Pickles as 'call builtins.exec on this source': what a hostile checkpoint carries."""

    def __init__(self, marker: Path):
        self.marker = marker

    def __reduce__(self):
        return (exec, (f"open({str(self.marker)!r}, 'w').write('code ran')",))


def hostile_payloads(marker: Path) -> dict:
    import argparse
    return {"code-on-load": CodeOnLoad(marker),
            "namespace-hparams": argparse.Namespace(N=32, note="upstream-style hparams object")}


@pytest.mark.parametrize("kind", ("code-on-load", "namespace-hparams"))
def test_checkpoint_with_pickled_object_is_refused(archive_copy, trained, tmp_path, kind):
    """The archive's own model.ckpt re-saved with one extra pickled object: refused with an
    ArchiveError that names weights_only; the same checkpoint without the object loads."""
    import torch

    path = archive_copy("pytorch")
    members = read_members(path)
    extracted = tmp_path / "model.ckpt"
    extracted.write_bytes(members["model.ckpt"])
    checkpoint = torch.load(extracted, map_location="cpu", weights_only=True)
    marker = tmp_path / "code-ran.txt"

    def archive_with(extra: dict) -> Path:
        torch.save({**checkpoint, **extra}, extracted)
        rewrite(path, {**members, "model.ckpt": extracted.read_bytes()})
        return path

    config = trained("pytorch").inference_config()
    models, _ = load_inference_bundle_with_backend(archive_with({"extra": [1, 2]}), config)
    assert set(models) == {"autoencoder", "diffraction_to_obj"}          # the control loads
    with pytest.raises(ArchiveError, match="weights_only") as raised:
        load_inference_bundle_with_backend(archive_with({"extra": hostile_payloads(marker)[kind]}),
                                           config)
    assert "model.ckpt" in str(raised.value)
    assert not marker.exists(), "the pickled object's code ran"
