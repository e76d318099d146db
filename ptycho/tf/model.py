"""The reference CNN in Keras 3 (docs/architecture.md "Reference CNN"), identical in layer order,
padding and initialisation to ptycho_torch.model so weights port between the two.

Model construction is a legacy consumer (CONFIG-001): `build_models` reads N, gridsize,
n_filters_scale, amp_activation, object.big and intensity_scale from `ptycho.params.cfg`.
The physics layers below are registered Keras-serialisable classes (no Lambda closures), so
both models save and load as `.keras` files without pickle and without safe_mode=False.
"""
import math

import keras
import numpy as np
import tensorflow as tf
from keras import layers

from ptycho import params
from ptycho.errors import ConfigError
from ptycho.tf import ops

_PACKAGE = "ptycho"


@keras.saving.register_keras_serializable(package=_PACKAGE)
class PiTanh(layers.Layer):
    """pi * tanh(x): the phase head's activation, phase in (-pi, pi)."""

    def call(self, x):
        return math.pi * tf.tanh(x)


@keras.saving.register_keras_serializable(package=_PACKAGE)
class CombineComplex(layers.Layer):
    """[amplitude, phase] -> amplitude * exp(1j * phase), complex64."""

    def call(self, inputs):
        amplitude, phase = inputs
        return ops.combine_complex(amplitude, phase)


@keras.saving.register_keras_serializable(package=_PACKAGE)
class MergeChannels(layers.Layer):
    """[patches (B,N,N,C) complex, offsets (B,C,2)] -> consistent views (ops.merge_channels)."""

    def call(self, inputs):
        patches, offsets = inputs
        return ops.merge_channels(patches, offsets)


@keras.saving.register_keras_serializable(package=_PACKAGE)
class ProbeIllumination(layers.Layer):
    """obj (B,N,N,C) complex -> psi = probe * obj. The probe is a non-trainable weight (real
    and imaginary parts as float32, since Keras variables are real), saved with the model."""

    def __init__(self, probe_shape, probe=None, **kwargs):
        super().__init__(**kwargs)
        self.probe_shape = tuple(probe_shape)
        self._initial_probe = None if probe is None else np.asarray(probe, np.complex64)

    def build(self, input_shape):
        initial = self._initial_probe
        self.probe_real = self.add_weight(
            name="probe_real", shape=self.probe_shape, trainable=False,
            initializer="zeros" if initial is None else keras.initializers.Constant(initial.real))
        self.probe_imag = self.add_weight(
            name="probe_imag", shape=self.probe_shape, trainable=False,
            initializer="zeros" if initial is None else keras.initializers.Constant(initial.imag))

    def call(self, obj):
        probe = tf.complex(self.probe_real, self.probe_imag)
        return obj * probe[None, :, :, None]

    def get_config(self):
        return {**super().get_config(), "probe_shape": list(self.probe_shape)}


@keras.saving.register_keras_serializable(package=_PACKAGE)
class ScaledDiffraction(layers.Layer):
    """psi -> intensity_scale * forward_diffraction(psi): predicted amplitude in photon units."""

    def __init__(self, intensity_scale: float, **kwargs):
        super().__init__(**kwargs)
        self.intensity_scale = float(intensity_scale)

    def call(self, psi):
        return self.intensity_scale * ops.forward_diffraction(psi)

    def get_config(self):
        return {**super().get_config(), "intensity_scale": self.intensity_scale}


def filter_counts(n_filters_scale: float) -> tuple[int, int, int]:
    """(f1, f2, f3) = int(32 s), int(64 s), int(128 s)."""
    return int(32 * n_filters_scale), int(64 * n_filters_scale), int(128 * n_filters_scale)


def _conv(filters: int, name: str, activation="relu"):
    return layers.Conv2D(filters, 3, padding="same", activation=activation, name=name,
                         kernel_initializer="glorot_uniform", bias_initializer="zeros")


def _encoder(x, f1: int, f2: int, f3: int):
    for block, filters in zip(("1", "2", "3"), (f1, f2, f3)):
        x = _conv(filters, f"enc_conv{block}a")(x)
        x = _conv(filters, f"enc_conv{block}b")(x)
        x = layers.MaxPooling2D(2, name=f"enc_pool{block}")(x)
    return x


def _decoder(x, head: str, f1: int, f2: int, n_channels: int, activation):
    up = 0

    def upsample(t):
        nonlocal up
        up += 1
        return layers.UpSampling2D(2, interpolation="nearest", name=f"{head}_up{up}")(t)

    x = _conv(f2, f"{head}_conv1a")(upsample(x))
    x = _conv(f2, f"{head}_conv1b")(x)
    x = _conv(f1, f"{head}_conv2a")(upsample(x))
    x = _conv(f1, f"{head}_conv2b")(x)
    x = _conv(f1, f"{head}_conv3")(upsample(x))
    x = _conv(n_channels, f"{head}_out", activation=None)(x)
    return activation(x)


def build_models(probe) -> dict:
    """Fresh `diffraction_to_obj` and `autoencoder` (sharing layers) from params.cfg.

    probe: (N, N) complex illumination used as-is (already normalised by the workflow).
    Inputs of both models: [X_norm (B,N,N,C) float32, offsets (B,C,2) float32].
    diffraction_to_obj -> obj (B,N,N,C) complex64 (merged across channels when C > 1 and
    object.big); autoencoder -> [pred_amp_scaled (B,N,N,C), obj].
    Seed with keras.utils.set_random_seed first for reproducible initial weights.
    """
    cfg = params.cfg
    N, gridsize = int(cfg["N"]), int(cfg["gridsize"])
    n_channels = gridsize ** 2
    probe = np.asarray(probe)
    if probe.shape != (N, N):
        raise ConfigError("params.cfg", f"probe shape {probe.shape} does not match N = {N}",
                          "use data whose probeGuess is N x N, or set N to the probe size")
    if cfg["model_type"] != "pinn":
        raise ConfigError("params.cfg", f"model_type {cfg['model_type']!r} is not implemented "
                          "(the networks are trained without ground truth)", "use model_type='pinn'")
    if cfg["amp_activation"] != "sigmoid":
        raise ConfigError("params.cfg", f"amp_activation {cfg['amp_activation']!r} is not supported",
                          "use amp_activation='sigmoid'")
    scale = cfg.get("intensity_scale")
    if scale is None:
        raise ConfigError("params.cfg", "intensity_scale is not set",
                          "set params.cfg['intensity_scale'] (the workflow does this from nphotons)")
    f1, f2, f3 = filter_counts(float(cfg["n_filters_scale"]))

    diffraction = keras.Input((N, N, n_channels), name="diffraction")
    offsets = keras.Input((n_channels, 2), name="offsets")
    features = _encoder(diffraction, f1, f2, f3)
    amplitude = _decoder(features, "amp", f1, f2, n_channels,
                         layers.Activation("sigmoid", name="amp_activation"))
    phase = _decoder(features, "phase", f1, f2, n_channels, PiTanh(name="phase_activation"))
    obj = CombineComplex(name="combine_complex")([amplitude, phase])
    if n_channels > 1 and cfg["object.big"]:
        obj = MergeChannels(name="merge_channels")([obj, offsets])
    diffraction_to_obj = keras.Model([diffraction, offsets], obj, name="diffraction_to_obj")
    psi = ProbeIllumination((N, N), probe=probe, name="probe_illumination")(obj)
    predicted = ScaledDiffraction(float(scale), name="scaled_diffraction")(psi)
    autoencoder = keras.Model([diffraction, offsets], [predicted, obj], name="autoencoder")
    return {"autoencoder": autoencoder, "diffraction_to_obj": diffraction_to_obj}
