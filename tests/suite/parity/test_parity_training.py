"""Training parity from identical (ported) weights: loss gradients, one Adam step, and a
short training run of each backend on the same data. TensorFlow trains through the
package's own TensorFlowBackend.train; torch through PtychoLightningModule + the package's
Trainer setup (ptycho_torch.training), with the weights ported from the Keras initial
weights of the same seed (make_model_pair builds them exactly as TensorFlowBackend.train
does: keras.utils.set_random_seed(config.seed), then build_models)."""
import dataclasses
import warnings
from contextlib import contextmanager

import numpy as np
import pytest

from ptycho.backend_api import TrainingInputs
from ptycho_torch.model import LAYER_NAMES

from . import tolerances as tol
from ._compare import assert_close, kernel_tf_to_torch, to_numpy, torch_channels_first, torch_tensor
from ._setup import legacy_cfg

BATCH = 16
EPOCHS = 5


def _subset(inputs: TrainingInputs, n: int) -> TrainingInputs:
    return dataclasses.replace(inputs, X_norm=inputs.X_norm[:n], offsets=inputs.offsets[:n])


def _torch_loss(module, inputs: TrainingInputs):
    """The Lightning module's own training loss on one batch (no Trainer attached, so its
    self.log calls are no-ops with a warning)."""
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message=".*self.trainer.* reference is not registered.*")
        return module.training_step((torch_channels_first(inputs.X_norm),
                                     torch_tensor(inputs.offsets)), 0)


def _torch_gradients(module, inputs: TrainingInputs) -> tuple[float, dict]:
    module.zero_grad(set_to_none=True)
    loss = _torch_loss(module, inputs)
    loss.backward()
    network = module.diffraction_to_obj
    grads = {name: (to_numpy(getattr(network, name).weight.grad),
                    to_numpy(getattr(network, name).bias.grad)) for name in LAYER_NAMES}
    module.zero_grad(set_to_none=True)
    return float(loss.detach()), grads


def _keras_weights(keras_model) -> dict:
    """{layer: (kernel in torch layout, bias)}."""
    weights = {}
    for name in LAYER_NAMES:
        kernel, bias = keras_model.get_layer(name).get_weights()
        weights[name] = (kernel_tf_to_torch(kernel), bias)
    return weights


def _torch_weights(module) -> dict:
    network = module.diffraction_to_obj
    return {name: (to_numpy(getattr(network, name).weight), to_numpy(getattr(network, name).bias))
            for name in LAYER_NAMES}


@contextmanager
def _eager_tf():
    """Run tf.functions eagerly: the package's own training step without its trace cost."""
    import tensorflow as tf

    tf.config.run_functions_eagerly(True)
    try:
        yield
    finally:
        tf.config.run_functions_eagerly(False)


def _train_tf(inputs: TrainingInputs, config):
    from ptycho.tf.backend import TensorFlowBackend

    with legacy_cfg(config, inputs.intensity_scale):
        return TensorFlowBackend().train(inputs, config)


def _train_torch(pair, inputs: TrainingInputs, config, shuffle: bool):
    """ptycho_torch.training.train's Trainer run, on the pair's (ported) module."""
    from ptycho_torch import training

    loader = training.make_dataloader(inputs, batch_size=config.batch_size, shuffle=shuffle,
                                      num_workers=0, seed=config.seed)
    trainer = training.build_trainer(config, pair.execution, len(loader), validate=False)
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message=".*(does not have many workers|val_dataloader|LeafSpec).*")
        trainer.fit(pair.module, train_dataloaders=loader)
    return pair.module.cpu().eval()


@pytest.mark.parametrize("gridsize, nll_weight, mae_weight", [(1, 1.0, 0.0), (2, 0.0, 1.0)],
                         ids=["poisson_nll-gridsize1", "amplitude_mae-gridsize2"])
def test_loss_gradients_ported_weights(model_pair_factory, tf_ops, gridsize, nll_weight, mae_weight):
    import tensorflow as tf

    pair = model_pair_factory(gridsize, nll_weight=nll_weight, mae_weight=mae_weight)
    batch = _subset(pair.data.inputs, BATCH)
    autoencoder = pair.keras["autoencoder"]
    target = batch.intensity_scale * batch.X_norm
    with tf.GradientTape() as tape:         # the loss of ptycho.tf.training.fit
        predicted, obj = autoencoder([batch.X_norm, batch.offsets], training=True)
        loss_tf = (nll_weight * tf_ops.poisson_nll(predicted, target)
                   + mae_weight * tf_ops.amplitude_mae(predicted, target)
                   + pair.module.phase_offset_weight * tf.square(tf_ops.phase_offset(obj)))
    variables = {variable.path: variable for variable in autoencoder.trainable_variables}
    grads_tf = dict(zip(variables, tape.gradient(loss_tf, list(variables.values()))))
    loss_torch, grads_torch = _torch_gradients(pair.module, batch)
    assert_close(loss_torch, to_numpy(loss_tf), tol.TRAINING_LOSS, "batch loss torch vs TensorFlow")
    assert len(variables) == 2 * len(LAYER_NAMES), f"Keras trains {sorted(variables)}"
    for name in LAYER_NAMES:
        kernel, bias = grads_torch[name]
        layer_peak = max(np.abs(kernel).max(), np.abs(bias).max())
        assert layer_peak > 0, f"{name}: zero gradient, the comparison is vacuous"
        assert_close(kernel, kernel_tf_to_torch(grads_tf[f"{name}/kernel"]), tol.GRADIENT,
                     f"d loss / d {name}.kernel torch vs TensorFlow", scale=layer_peak)
        assert_close(bias, grads_tf[f"{name}/bias"], tol.GRADIENT,
                     f"d loss / d {name}.bias torch vs TensorFlow", scale=layer_peak)


def test_one_adam_step(model_pair_factory, tmp_path):
    pair = model_pair_factory(1, batch_size=BATCH, nepochs=1, output_dir=tmp_path)
    batch = _subset(pair.data.inputs, BATCH)
    lr = pair.config.learning_rate
    before = _keras_weights(pair.keras["autoencoder"])
    _, grads = _torch_gradients(pair.module, batch)
    with _eager_tf():
        models_tf, history_tf = _train_tf(batch, pair.config)
    module = _train_torch(pair, batch, pair.config, shuffle=False)
    assert_close(module.history["loss"][0], history_tf["loss"][0], tol.TRAINING_LOSS,
                 "loss of the one batch, torch vs TensorFlow history")
    after_tf = _keras_weights(models_tf["autoencoder"])
    after_torch = _torch_weights(module)
    clear = total = 0
    for name in LAYER_NAMES:
        for part, kind in enumerate(("kernel", "bias")):
            start = before[name][part]
            steps = {"TensorFlow": after_tf[name][part] - start,
                     "torch": after_torch[name][part] - start}
            for backend, step in steps.items():
                assert np.abs(step).max() <= lr * tol.ADAM_MAX_STEP_FRACTION, (
                    f"{backend} {name}.{kind}: first Adam step {np.abs(step).max():.3g} > lr "
                    f"{lr:g} (wrong learning rate, or TensorFlowBackend.train no longer starts "
                    "from keras.utils.set_random_seed(config.seed) + build_models, the initial "
                    "weights this test ports to torch)")
            # Compare where |g| is clear of round-off and eps; elsewhere both sides agree by
            # construction (actual := expected) so indices in the message stay the layer's.
            mask = np.abs(grads[name][part]) >= tol.ADAM_CLEAR_GRADIENT
            clear, total = clear + int(mask.sum()), total + mask.size
            assert_close(np.where(mask, after_torch[name][part], after_tf[name][part]),
                         after_tf[name][part], tol.ADAM_STEP,
                         f"{name}.{kind} after one Adam step, torch vs TensorFlow")
            moved = np.abs(steps["torch"][mask]) > 0.5 * lr
            assert moved.all(), f"{name}.{kind}: weights with a clear gradient did not move by ~lr"
    assert clear > 0.5 * total, f"only {clear} of {total} gradients are clear of round-off"


def _excess_nll(reference_ops, predicted_amplitude, inputs: TrainingInputs) -> float:
    """Poisson NLL above its floor (the NLL of predicting the observations exactly)."""
    observed = inputs.intensity_scale * inputs.X_norm
    return (reference_ops.poisson_nll(predicted_amplitude, observed)
            - reference_ops.poisson_nll(observed, observed))


def test_training_statistical_parity(model_pair_factory, reference_ops, tmp_path):
    import torch

    from ptycho import metrics
    from ptycho.tf.backend import TensorFlowBackend
    from ptycho.workflows.common import reconstruct
    from ptycho_torch.backend import PyTorchBackend

    pair = model_pair_factory(1, batch_size=BATCH, nepochs=EPOCHS, output_dir=tmp_path)
    inputs = pair.data.inputs
    X, offsets = inputs.X_norm, inputs.offsets
    initial = _excess_nll(reference_ops, to_numpy(pair.keras["autoencoder"]([X, offsets])[0]), inputs)
    models_tf, _ = _train_tf(inputs, pair.config)
    module = _train_torch(pair, inputs, pair.config, shuffle=True)
    with torch.no_grad():
        predicted_torch = module.autoencoder(torch_channels_first(X), torch_tensor(offsets))[0]
    excess = {"TensorFlow": _excess_nll(reference_ops, to_numpy(models_tf["autoencoder"]([X, offsets])[0]), inputs),
              "torch": _excess_nll(reference_ops, np.moveaxis(to_numpy(predicted_torch), 1, 3), inputs)}
    for backend, value in excess.items():
        assert value < (1 - tol.TRAINING_MIN_IMPROVEMENT) * initial, (
            f"{backend} did not train: excess NLL {value:.4g} from {initial:.4g} after {EPOCHS} epochs")
    assert_close(excess["torch"], excess["TensorFlow"], tol.TRAINING_EXCESS_NLL,
                 f"final excess Poisson NLL after {EPOCHS} epochs, torch vs TensorFlow "
                 f"(initial {initial:.4g})")
    raw = pair.data.raw
    quality = {}
    with legacy_cfg(pair.config, inputs.intensity_scale):
        for backend, models in ((TensorFlowBackend(), models_tf),
                                (PyTorchBackend(), {"diffraction_to_obj": module.diffraction_to_obj})):
            result = reconstruct(backend, models, raw)
            quality[backend.name] = metrics.evaluate_reconstruction(
                result["stitched"], raw.objectGuess, positions=result["positions"])
    assert_close(quality["pytorch"]["phase_ssim"], quality["tensorflow"]["phase_ssim"],
                 tol.TRAINING_PHASE_SSIM, "stitched phase SSIM torch vs TensorFlow")
