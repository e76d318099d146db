"""ptycho_torch model, Lightning module, Trainer setup and checkpoints (tiny sizes, CPU)."""
import dataclasses
import json
import re

import numpy as np
import pytest

torch = pytest.importorskip("torch")
lightning = pytest.importorskip("lightning")

from ptycho import params, reference  # noqa: E402
from ptycho.backend_api import TrainingInputs  # noqa: E402
from ptycho.config.config import ModelConfig, PyTorchExecutionConfig, TrainingConfig  # noqa: E402
from ptycho.errors import ArchiveError, ConfigError  # noqa: E402
from ptycho_torch import model_manager, training  # noqa: E402
from ptycho_torch.lightning_module import PtychoLightningModule  # noqa: E402
from ptycho_torch.model import LAYER_NAMES, Autoencoder, DiffractionToObj  # noqa: E402

N = 16
SCALE = 0.25          # filters 8 / 16 / 32: fast on CPU
INTENSITY_SCALE = 20.0


def _model_config(gridsize=1, object_big=True):
    return dataclasses.asdict(ModelConfig(N=N, gridsize=gridsize, n_filters_scale=SCALE,
                                          object_big=object_big))


def _probe():
    rows, cols = np.indices((N, N)) - N // 2
    return np.where(np.hypot(rows, cols) < N / 4, 1.0 + 0.5j, 0.1).astype(np.complex64)


def _data_config(channels=1):
    probe = _probe()
    return {"N": N, "C": channels, "intensity_scale": INTENSITY_SCALE, "norm_factor": 1.0,
            "probe_real": probe.real.tolist(), "probe_imag": probe.imag.tolist()}


def _inputs(n=24, gridsize=1, seed=0):
    rng = np.random.default_rng(seed)
    channels = gridsize ** 2
    return TrainingInputs(X_norm=rng.uniform(0, 1, (n, N, N, channels)).astype(np.float32),
                          offsets=rng.uniform(-2, 2, (n, channels, 2)).astype(np.float32),
                          probe=_probe(), intensity_scale=INTENSITY_SCALE, norm_factor=1.5)


def _config(tmp_path, gridsize=1, **overrides):
    settings = {"nepochs": 1, "batch_size": 8, **overrides}
    return TrainingConfig(model=ModelConfig(N=N, gridsize=gridsize, n_filters_scale=SCALE),
                          output_dir=tmp_path, backend="pytorch", **settings)


def _x(n=3, channels=1, seed=1):
    return torch.from_numpy(np.random.default_rng(seed).uniform(0, 1, (n, channels, N, N)).astype(np.float32))


# ---- modules -------------------------------------------------------------------------------

@pytest.mark.parametrize("gridsize", [1, 2])
def test_diffraction_to_obj_and_autoencoder_shapes(gridsize):
    channels = gridsize ** 2
    autoencoder = Autoencoder(_model_config(gridsize), _data_config(channels))
    x = _x(channels=channels)
    offsets = torch.zeros(3, channels, 2)
    obj = autoencoder.diffraction_to_obj(x, offsets)
    pred, obj_again = autoencoder(x, offsets)
    assert obj.shape == (3, channels, N, N) and obj.dtype == torch.complex64
    assert pred.shape == (3, channels, N, N) and pred.dtype == torch.float32
    torch.testing.assert_close(obj, obj_again)


def test_layers_follow_the_documented_order_and_initialisation():
    network = DiffractionToObj(_model_config())
    convs = [name for name, child in network.named_children() if isinstance(child, torch.nn.Conv2d)]
    assert convs == list(LAYER_NAMES)
    f1, f2, f3 = 8, 16, 32
    expected_io = {"enc_conv1a": (1, f1), "enc_conv3b": (f3, f3), "amp_conv1a": (f3, f2),
                   "amp_conv2a": (f2, f1), "amp_conv3": (f1, f1), "phase_out": (f1, 1)}
    for name, (c_in, c_out) in expected_io.items():
        conv = getattr(network, name)
        assert (conv.in_channels, conv.out_channels, conv.kernel_size, conv.padding) == \
            (c_in, c_out, (3, 3), (1, 1))
    for name in LAYER_NAMES:
        conv = getattr(network, name)
        bound = np.sqrt(6.0 / (9 * (conv.in_channels + conv.out_channels)))   # Glorot uniform
        assert conv.weight.abs().max() <= bound and conv.weight.std() > bound / 4
        assert torch.count_nonzero(conv.bias) == 0


def test_amplitude_is_sigmoid_and_phase_within_pi():
    obj = DiffractionToObj(_model_config())(_x())
    assert torch.all((obj.abs() > 0) & (obj.abs() < 1))
    assert torch.all(obj.angle().abs() <= np.pi)


def test_autoencoder_physics_matches_the_numpy_reference():
    autoencoder = Autoencoder(_model_config(), _data_config())
    x = _x()
    with torch.no_grad():
        pred, obj = autoencoder(x, torch.zeros(3, 1, 2))
    obj_last = np.moveaxis(obj.numpy(), 1, 3)
    expected = INTENSITY_SCALE * reference.forward_diffraction(_probe()[None, :, :, None] * obj_last)
    np.testing.assert_allclose(np.moveaxis(pred.numpy(), 1, 3), expected, rtol=1e-4, atol=1e-4)


def test_channels_are_merged_only_with_object_big():
    x = _x(channels=4)
    offsets = torch.from_numpy(np.random.default_rng(2).uniform(-2, 2, (3, 4, 2)))
    torch.manual_seed(0)
    merged = DiffractionToObj(_model_config(2, object_big=True))
    torch.manual_seed(0)
    separate = DiffractionToObj(_model_config(2, object_big=False))
    with torch.no_grad():
        raw = separate(x, offsets)
        expected = reference.merge_channels(np.moveaxis(raw.numpy(), 1, 3), offsets.numpy())
        np.testing.assert_allclose(np.moveaxis(merged(x, offsets).numpy(), 1, 3), expected, atol=1e-5)
    assert not torch.allclose(raw, merged(x, offsets))
    with pytest.raises(ValueError, match="offsets"):
        merged(x)


class _UntouchableCfg(dict):
    """Stands in for params.cfg: any read or write fails the test (CONFIG-002)."""

    def _fail(self, *args, **kwargs):
        raise AssertionError("the torch backend touched ptycho.params.cfg")

    __getitem__ = __setitem__ = __contains__ = get = update = keys = items = _fail


def test_construction_training_and_loading_never_touch_params_cfg(tmp_path, monkeypatch):
    monkeypatch.setattr(params, "cfg", _UntouchableCfg())
    module = training.train(_inputs(8), _config(tmp_path),
                            PyTorchExecutionConfig(logger_backend="none", enable_checkpointing=False))
    path = model_manager.save_checkpoint(module.autoencoder, tmp_path / "model.ckpt")
    model_manager.load_checkpoint(path)


# ---- Trainer setup -------------------------------------------------------------------------

def test_training_writes_csv_logs_and_last_checkpoint_and_history(tmp_path):
    module = training.train(_inputs(), _config(tmp_path, nepochs=2), PyTorchExecutionConfig())
    assert (tmp_path / "checkpoints" / "last.ckpt").is_file()
    assert sorted(p.name for p in (tmp_path / "checkpoints").iterdir()) == ["last.ckpt"]
    assert (tmp_path / "lightning_logs" / "version_0" / "metrics.csv").is_file()
    assert set(module.history) == {"loss", "poisson_nll", "amplitude_mae", "phase_offset"}
    assert all(len(values) == 2 and all(np.isfinite(values)) for values in module.history.values())
    weight = TrainingConfig().phase_offset_weight      # mae_weight 0: loss = nll + gauge term
    expected = [nll + weight * offset for nll, offset in zip(module.history["poisson_nll"],
                                                              module.history["phase_offset"])]
    assert module.history["loss"] == pytest.approx(expected, rel=1e-6)
    metrics_csv = (tmp_path / "lightning_logs" / "version_0" / "metrics.csv").read_text()
    assert "poisson_nll" in metrics_csv.splitlines()[0]


def test_no_logger_and_no_checkpointing_write_nothing(tmp_path):
    training.train(_inputs(8), _config(tmp_path),
                   PyTorchExecutionConfig(logger_backend="none", enable_checkpointing=False))
    assert not (tmp_path / "checkpoints").exists() and not (tmp_path / "lightning_logs").exists()


def test_trainer_follows_the_execution_config(tmp_path):
    config = _config(tmp_path, nepochs=3)
    trainer = training.build_trainer(config, PyTorchExecutionConfig(enable_progress_bar=True),
                                     steps_per_epoch=5, validate=False)
    assert trainer.max_epochs == 3 and trainer.num_sanity_val_steps == 0
    assert trainer.log_every_n_steps == 5 and trainer.logger.log_dir.startswith(str(tmp_path))
    assert trainer.progress_bar_callback is not None
    assert torch.are_deterministic_algorithms_enabled()
    quiet = training.build_trainer(config, PyTorchExecutionConfig(deterministic=False, logger_backend="none"),
                                   steps_per_epoch=100, validate=True)
    assert quiet.progress_bar_callback is None and quiet.logger is None
    assert quiet.log_every_n_steps == 50 and quiet.num_sanity_val_steps == 2
    assert not torch.are_deterministic_algorithms_enabled()


def test_dataloader_is_channels_first_seeded_and_honours_num_workers():
    inputs = _inputs(10)
    loader = training.make_dataloader(inputs, batch_size=4, shuffle=True, num_workers=2, seed=5)
    assert loader.num_workers == 2 and loader.persistent_workers and loader.batch_size == 4
    first = training.make_dataloader(inputs, batch_size=4, shuffle=True, num_workers=0, seed=5)
    again = training.make_dataloader(inputs, batch_size=4, shuffle=True, num_workers=0, seed=5)
    (x, offsets), (x_again, _) = next(iter(first)), next(iter(again))
    assert x.shape == (4, 1, N, N) and offsets.shape == (4, 1, 2)
    torch.testing.assert_close(x, x_again)
    assert any(torch.equal(x[0, 0], torch.from_numpy(inputs.X_norm[i, :, :, 0])) for i in range(10))


def test_cuda_accelerator_without_a_device_is_a_config_error(tmp_path):
    if torch.cuda.is_available():
        pytest.skip("a CUDA device is present")
    with pytest.raises(ConfigError, match="accelerator='cuda'"):
        training.build_trainer(_config(tmp_path), PyTorchExecutionConfig(accelerator="cuda"), 1, False)


def test_execution_learning_rate_overrides_the_training_config(tmp_path):
    _, _, training_config = training.module_configs(
        _inputs(2), _config(tmp_path, learning_rate=1e-3), PyTorchExecutionConfig(learning_rate=5e-4))
    assert training_config["learning_rate"] == 5e-4
    _, _, training_config = training.module_configs(_inputs(2), _config(tmp_path), PyTorchExecutionConfig())
    assert training_config["learning_rate"] == 1e-3


def test_data_that_disagree_with_the_model_config_are_refused(tmp_path):
    with pytest.raises(ConfigError, match="CONFIG-001"):
        training.module_configs(_inputs(2, gridsize=2), _config(tmp_path, gridsize=1),
                                PyTorchExecutionConfig())


def test_same_seed_gives_identical_training(tmp_path):
    quiet = PyTorchExecutionConfig(logger_backend="none", enable_checkpointing=False)
    first = training.train(_inputs(16), _config(tmp_path / "a"), quiet)
    second = training.train(_inputs(16), _config(tmp_path / "b"), quiet)
    other_seed = training.train(_inputs(16), _config(tmp_path / "c", seed=7), quiet)
    for key, value in first.state_dict().items():
        torch.testing.assert_close(second.state_dict()[key], value, rtol=0, atol=0)
    assert first.history == second.history
    assert not torch.equal(other_seed.state_dict()["autoencoder.diffraction_to_obj.enc_conv1a.weight"],
                           first.state_dict()["autoencoder.diffraction_to_obj.enc_conv1a.weight"])


def test_a_given_module_is_the_one_trained(tmp_path):
    quiet = PyTorchExecutionConfig(logger_backend="none", enable_checkpointing=False)
    config = _config(tmp_path)
    module = PtychoLightningModule(*training.module_configs(_inputs(8), config, quiet))
    with torch.no_grad():
        module.autoencoder.diffraction_to_obj.enc_conv1a.bias.fill_(0.25)
    trained_module = training.train(_inputs(8), config, quiet, module=module)
    assert trained_module is module and len(module.history["loss"]) == 1
    bias = module.autoencoder.diffraction_to_obj.enc_conv1a.bias
    assert torch.all((bias - 0.25).abs() < 0.05) and not torch.all(bias == 0.25)   # trained from there


def test_validation_data_add_val_history(tmp_path):
    module = training.train(_inputs(16), _config(tmp_path, nepochs=2),
                            PyTorchExecutionConfig(logger_backend="none", enable_checkpointing=False),
                            val_data=_inputs(8, seed=3))
    assert len(module.history["val_loss"]) == 2 and len(module.history["loss"]) == 2


# ---- checkpoints -----------------------------------------------------------------------------

def _outputs(network, x, offsets):
    with torch.no_grad():
        return network(x, offsets)


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    """A module trained for one epoch (gridsize 2: exercises merge_channels) + its last.ckpt."""
    out = tmp_path_factory.mktemp("trained")
    module = training.train(_inputs(16, gridsize=2), _config(out, gridsize=2), PyTorchExecutionConfig())
    return module, out / "checkpoints" / "last.ckpt"


def test_lightning_checkpoint_rebuilds_the_module_alone(trained):
    module, path = trained
    checkpoint = torch.load(path, map_location="cpu", weights_only=True)
    assert {"hyper_parameters", "state_dict"} <= set(checkpoint)
    hparams = checkpoint["hyper_parameters"]
    assert set(hparams) == {"model_config", "data_config", "training_config"}
    json.dumps(hparams)                                   # plain JSON-able dicts
    x, offsets = _x(channels=4), torch.from_numpy(_inputs(3, gridsize=2).offsets)
    expected = _outputs(module.autoencoder, x, offsets)
    loaded = PtychoLightningModule.load_from_checkpoint(path, weights_only=True, map_location="cpu")
    rebuilt = PtychoLightningModule(**hparams)
    rebuilt.load_state_dict(checkpoint["state_dict"])
    for candidate in (loaded, rebuilt):
        for got, want in zip(_outputs(candidate.eval(), x, offsets), expected):
            torch.testing.assert_close(got, want, rtol=0, atol=0)


def test_payload_checkpoint_round_trip_without_lightning_state(trained, tmp_path):
    module, _ = trained
    models = {"autoencoder": module.autoencoder, "diffraction_to_obj": module.diffraction_to_obj}
    assert model_manager.save_payload(models, tmp_path) == ["model.ckpt"]
    cfg = {"N": module.autoencoder.hyper_parameters["model_config"]["N"]}
    loaded = model_manager.load_payload(tmp_path, {"cfg": cfg, "intensity_scale": INTENSITY_SCALE})
    assert isinstance(loaded["diffraction_to_obj"], torch.nn.Module)
    assert loaded["autoencoder"].diffraction_to_obj is loaded["diffraction_to_obj"]
    x, offsets = _x(channels=4), torch.from_numpy(_inputs(3, gridsize=2).offsets)
    for got, want in zip(_outputs(loaded["autoencoder"], x, offsets),
                         _outputs(module.autoencoder, x, offsets)):
        torch.testing.assert_close(got, want, rtol=0, atol=0)
    # The payload is a Lightning checkpoint too.
    via_lightning = PtychoLightningModule.load_from_checkpoint(tmp_path / "model.ckpt", weights_only=True)
    torch.testing.assert_close(_outputs(via_lightning.diffraction_to_obj, x, offsets),
                               _outputs(module.diffraction_to_obj, x, offsets), rtol=0, atol=0)
    with pytest.raises(ArchiveError, match="intensity_scale"):
        model_manager.load_payload(tmp_path, {"cfg": cfg, "intensity_scale": 2 * INTENSITY_SCALE})


EXECUTED = []


def _side_effect():
    EXECUTED.append(True)
    return "pwned"


class _Exploit:
    """Unpickling this runs _side_effect: what a malicious checkpoint would do."""

    def __reduce__(self):
        return (_side_effect, ())


def test_checkpoint_with_a_pickled_object_is_refused(trained, tmp_path):
    module, _ = trained
    checkpoint = model_manager.checkpoint_dict(module.autoencoder)
    checkpoint["hyper_parameters"] = {**checkpoint["hyper_parameters"], "extra": _Exploit()}
    path = tmp_path / "model.ckpt"
    torch.save(checkpoint, path)
    with pytest.raises(ArchiveError, match="safe loading refuses"):
        model_manager.load_checkpoint(path)
    with pytest.raises(Exception, match="[Ww]eights only load failed"):
        PtychoLightningModule.load_from_checkpoint(path, weights_only=True)
    assert EXECUTED == []


@pytest.mark.parametrize("content, message", [
    ({"state_dict": {}}, "hyper_parameters"),
    ({"hyper_parameters": {}}, "state_dict"),
])
def test_incomplete_checkpoints_are_archive_errors(tmp_path, content, message):
    path = tmp_path / "model.ckpt"
    torch.save(content, path)
    with pytest.raises(ArchiveError, match=message) as caught:
        model_manager.load_checkpoint(path)
    assert str(path) in str(caught.value)


def test_truncated_checkpoint_and_mismatched_weights_are_archive_errors(trained, tmp_path):
    module, _ = trained
    path = model_manager.save_checkpoint(module.autoencoder, tmp_path / "model.ckpt")
    path.write_bytes(path.read_bytes()[:500])
    with pytest.raises(ArchiveError, match="cannot be read"):
        model_manager.load_checkpoint(path)
    checkpoint = model_manager.checkpoint_dict(module.autoencoder)
    checkpoint["hyper_parameters"]["model_config"] = {**checkpoint["hyper_parameters"]["model_config"],
                                                      "n_filters_scale": 0.5}
    torch.save(checkpoint, path)
    with pytest.raises(ArchiveError, match="do not fit"):
        model_manager.load_checkpoint(path)


def test_checkpoint_asking_for_a_huge_network_is_refused_before_building_it(trained, tmp_path):
    module, _ = trained
    checkpoint = model_manager.checkpoint_dict(module.autoencoder)
    checkpoint["hyper_parameters"]["model_config"] = {**checkpoint["hyper_parameters"]["model_config"],
                                                      "n_filters_scale": 1e6}
    path = tmp_path / "model.ckpt"
    torch.save(checkpoint, path)
    with pytest.raises(ArchiveError, match="n_filters_scale 1e\\+06 is over the size policy"):
        model_manager.load_checkpoint(path)


def test_checkpoint_and_params_json_must_agree_on_N(trained, tmp_path):
    module, _ = trained
    model_manager.save_checkpoint(module.autoencoder, tmp_path / model_manager.PAYLOAD_NAME)
    n = module.autoencoder.hyper_parameters["model_config"]["N"]
    params_doc = {"cfg": {"N": 2 * n}, "intensity_scale": module.autoencoder.intensity_scale}
    with pytest.raises(ArchiveError, match=f"model_config N = {n} differs from params.json's "
                                           f"N = {2 * n}"):
        model_manager.load_payload(tmp_path, params_doc)


@pytest.mark.parametrize("section, change, message", [
    ("model_config", {"gridsize": 3}, "gridsize must be 1 or 2"),
    ("model_config", {"N": "32"}, "N must be a positive integer divisible by 8"),
    ("model_config", {"object_big": "yes"}, "object_big must be True or False"),
    ("data_config", {"C": 9}, "do not match model_config"),
    ("data_config", {"intensity_scale": -1.0}, "data_config.intensity_scale must be a positive"),
    ("data_config", {"probe_real": [[0.0]]}, "data_config.probe_real must be an N x N"),
    ("training_config", {"learning_rate": float("nan")}, "training_config.learning_rate must be"),
])
def test_checkpoint_hyper_parameters_are_checked_on_load(trained, tmp_path, section, change, message):
    module, _ = trained
    checkpoint = model_manager.checkpoint_dict(module.autoencoder)
    checkpoint["hyper_parameters"][section] = {**checkpoint["hyper_parameters"][section], **change}
    path = tmp_path / "model.ckpt"
    torch.save(checkpoint, path)
    with pytest.raises(ArchiveError, match=re.escape(message)) as caught:
        model_manager.load_checkpoint(path)
    assert str(path) in str(caught.value)
