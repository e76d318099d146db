"""Training of the Keras autoencoder: Adam on nll_weight * poisson_nll + mae_weight *
amplitude_mae between the predicted and the observed scaled amplitudes (s * X_norm), plus
phase_offset_weight * phase_offset(obj)**2 (the gauge term, ptycho.reference.phase_offset)."""
import os

import keras
import numpy as np
import tensorflow as tf

from ptycho.log import get_logger
from ptycho.tf import ops

logger = get_logger(__name__)

HISTORY_KEYS = ("loss", "poisson_nll", "amplitude_mae", "phase_offset")


def configure_threads() -> None:
    """Apply TF_NUM_INTRAOP_THREADS / TF_NUM_INTEROP_THREADS when set (CI shares few cores).
    Only possible before TensorFlow's runtime starts; later calls keep what is in force."""
    for env_name, setter in (("TF_NUM_INTRAOP_THREADS", tf.config.threading.set_intra_op_parallelism_threads),
                             ("TF_NUM_INTEROP_THREADS", tf.config.threading.set_inter_op_parallelism_threads)):
        value = os.environ.get(env_name)
        if value and value.isdigit():
            try:
                setter(int(value))
            except RuntimeError:    # runtime already initialised in this process
                logger.debug("%s=%s not applied: TensorFlow runtime already started", env_name, value)


def fit(autoencoder: keras.Model, X_norm: np.ndarray, offsets: np.ndarray, intensity_scale: float,
        *, nepochs: int, batch_size: int, learning_rate: float, nll_weight: float,
        mae_weight: float, phase_offset_weight: float, seed: int) -> dict:
    """Train `autoencoder` in place; return {"loss", "poisson_nll", "amplitude_mae",
    "phase_offset" (the squared global phase)} ->
    per-epoch means over the samples. Each epoch visits the samples in a fresh permutation
    drawn from numpy.random.default_rng(seed); the last batch may be smaller."""
    X_norm = np.asarray(X_norm, np.float32)
    offsets = np.asarray(offsets, np.float32)
    target = (np.float32(intensity_scale) * X_norm).astype(np.float32)
    optimizer = keras.optimizers.Adam(learning_rate=learning_rate)
    weights = autoencoder.trainable_variables
    optimizer.build(weights)
    nll_weight = tf.constant(nll_weight, tf.float32)
    mae_weight = tf.constant(mae_weight, tf.float32)
    phase_offset_weight = tf.constant(phase_offset_weight, tf.float32)
    spec = tf.TensorSpec((None,) + X_norm.shape[1:], tf.float32)

    # autograph=False: the step has no tensor-dependent Python control flow, and converting the
    # code costs about half a second of start-up.
    @tf.function(autograph=False,
                 input_signature=[spec, tf.TensorSpec((None,) + offsets.shape[1:], tf.float32), spec])
    def train_step(x, off, y):
        with tf.GradientTape() as tape:
            predicted, obj = autoencoder([x, off], training=True)
            nll = ops.poisson_nll(predicted, y)
            mae = ops.amplitude_mae(predicted, y)
            offset = tf.square(ops.phase_offset(obj))
            loss = nll_weight * nll + mae_weight * mae + phase_offset_weight * offset
        optimizer.apply_gradients(zip(tape.gradient(loss, weights), weights))
        return loss, nll, mae, offset

    rng = np.random.default_rng(seed)
    history = {key: [] for key in HISTORY_KEYS}
    n_samples = len(X_norm)
    for epoch in range(nepochs):
        order = rng.permutation(n_samples)
        sums = np.zeros(len(HISTORY_KEYS))
        for first in range(0, n_samples, batch_size):
            batch = order[first:first + batch_size]
            values = train_step(X_norm[batch], offsets[batch], target[batch])
            sums += len(batch) * np.array([float(v) for v in values])
        for key, total in zip(HISTORY_KEYS, sums):
            history[key].append(float(total / n_samples))
        logger.info("epoch %d/%d: loss %.6g (poisson_nll %.6g, amplitude_mae %.6g, "
                    "phase_offset %.3g)", epoch + 1,
                    nepochs, *(history[key][-1] for key in HISTORY_KEYS))
    return history
