"""The reference CNN and the physics-informed autoencoder as torch nn.Modules.

Same layers, order, padding and initialisation as the Keras model in ``ptycho.tf.model``, so
weights port one-to-one (``ptycho_torch.interop``). Construction reads only the plain-dict
configs it is given, never ``ptycho.params.cfg`` (CONFIG-002).
"""

import math

import torch
from torch import nn

from ptycho.config.config import check_filters_scale
from ptycho_torch import ops

# Conv layers in the order both backends create them; interop and weight porting rely on it.
ENCODER_LAYERS = ("enc_conv1a", "enc_conv1b", "enc_conv2a", "enc_conv2b", "enc_conv3a", "enc_conv3b")
DECODER_SUFFIXES = ("conv1a", "conv1b", "conv2a", "conv2b", "conv3", "out")
LAYER_NAMES = ENCODER_LAYERS + tuple(
    f"{head}_{suffix}" for head in ("amp", "phase") for suffix in DECODER_SUFFIXES
)

# The amplitude head's output activations (ptycho.config.config.AMP_ACTIVATIONS names them).
AMP_ACTIVATIONS = {"sigmoid": torch.sigmoid}


def filter_counts(n_filters_scale: float) -> tuple[int, int, int]:
    """(f1, f2, f3) = (32, 64, 128) * n_filters_scale, truncated like int()."""
    return int(32 * n_filters_scale), int(64 * n_filters_scale), int(128 * n_filters_scale)


def channel_count(model_config: dict) -> int:
    return int(model_config["gridsize"]) ** 2


def _conv(in_channels: int, out_channels: int) -> nn.Conv2d:
    conv = nn.Conv2d(in_channels, out_channels, kernel_size=3, padding=1)
    nn.init.xavier_uniform_(conv.weight)
    nn.init.zeros_(conv.bias)
    return conv


class DiffractionToObj(nn.Module):
    """Normalised diffraction amplitudes (B, C, N, N) [+ offsets (B, C, 2)] -> complex64 object
    patches (B, C, N, N).

    Encoder + amplitude (amp_activation) and phase (pi * tanh) decoders; with C > 1 and
    object_big the C views are then merged into consistent views of one region (as
    ptycho.tf.model's diffraction_to_obj).
    """

    def __init__(self, model_config: dict):
        super().__init__()
        channels = channel_count(model_config)
        self.merges_channels = channels > 1 and bool(model_config["object_big"])
        n_filters_scale = float(model_config["n_filters_scale"])
        amp_activation = str(model_config.get("amp_activation", "sigmoid"))
        if amp_activation not in AMP_ACTIVATIONS:
            raise ValueError(
                f"amp_activation must be one of {sorted(AMP_ACTIVATIONS)}, got {amp_activation!r}"
            )
        check_filters_scale(n_filters_scale, "model_config")   # the size policy, before allocating
        f1, f2, f3 = filter_counts(n_filters_scale)
        if f1 < 1:
            raise ValueError(f"n_filters_scale={n_filters_scale} leaves no filters (need >= 1/32)")
        self.amp_activation = AMP_ACTIVATIONS[amp_activation]
        # Attribute creation order is the layer order (see LAYER_NAMES).
        self.enc_conv1a = _conv(channels, f1)
        self.enc_conv1b = _conv(f1, f1)
        self.enc_conv2a = _conv(f1, f2)
        self.enc_conv2b = _conv(f2, f2)
        self.enc_conv3a = _conv(f2, f3)
        self.enc_conv3b = _conv(f3, f3)
        for head in ("amp", "phase"):
            setattr(self, f"{head}_conv1a", _conv(f3, f2))
            setattr(self, f"{head}_conv1b", _conv(f2, f2))
            setattr(self, f"{head}_conv2a", _conv(f2, f1))
            setattr(self, f"{head}_conv2b", _conv(f1, f1))
            setattr(self, f"{head}_conv3", _conv(f1, f1))
            setattr(self, f"{head}_out", _conv(f1, channels))
        self.pool = nn.MaxPool2d(2)
        self.upsample = nn.Upsample(scale_factor=2, mode="nearest")
        # NHWC weights make oneDNN run every conv channels-last: ~25% faster training on CPU.
        # Values are unchanged; load_state_dict and weight porting copy into these strides.
        self.to(memory_format=torch.channels_last)

    def _encode(self, x: torch.Tensor) -> torch.Tensor:
        for block in ("1", "2", "3"):
            x = getattr(self, f"enc_conv{block}a")(x).relu_()
            x = getattr(self, f"enc_conv{block}b")(x).relu_()
            x = self.pool(x)
        return x

    def _decode(self, head: str, x: torch.Tensor) -> torch.Tensor:
        layer = {suffix: getattr(self, f"{head}_{suffix}") for suffix in DECODER_SUFFIXES}
        x = self.upsample(x)
        x = layer["conv1a"](x).relu_()
        x = layer["conv1b"](x).relu_()
        x = self.upsample(x)
        x = layer["conv2a"](x).relu_()
        x = layer["conv2b"](x).relu_()
        x = self.upsample(x)
        x = layer["conv3"](x).relu_()
        return layer["out"](x)

    def forward(self, x: torch.Tensor, offsets: torch.Tensor | None = None) -> torch.Tensor:
        features = self._encode(x)
        amplitude = self.amp_activation(self._decode("amp", features))
        phase = math.pi * torch.tanh(self._decode("phase", features))
        obj = ops.combine_complex(amplitude, phase)
        if self.merges_channels:
            if offsets is None:
                raise ValueError("offsets (B, C, 2) are required to merge the channels "
                                 "(gridsize > 1 with object_big)")
            obj = ops.merge_channels(obj, offsets)
        return obj


def probe_from_data_config(data_config: dict) -> torch.Tensor:
    """The probe stored JSON-ably as nested real/imag lists -> complex64 (N, N)."""
    real = torch.tensor(data_config["probe_real"], dtype=torch.float32)
    imag = torch.tensor(data_config["probe_imag"], dtype=torch.float32)
    return torch.complex(real, imag)


class Autoencoder(nn.Module):
    """Physics-informed autoencoder: X_norm (B, C, N, N), offsets (B, C, 2) ->
    (predicted amplitude in photon units, object patches (B, C, N, N) complex64).

    obj = diffraction_to_obj(X_norm, offsets) -> exit wave psi = probe * obj -> far-field
    amplitude -> * intensity_scale. The probe in data_config is used as-is: the shared
    workflow has already normalised (and masked) it.
    """

    def __init__(self, model_config: dict, data_config: dict):
        super().__init__()
        self.diffraction_to_obj = DiffractionToObj(model_config)
        self.intensity_scale = float(data_config["intensity_scale"])
        self.register_buffer("probe", probe_from_data_config(data_config))
        # The PtychoLightningModule arguments this network belongs to, set by whoever builds
        # it (the module, or the checkpoint loader) so ptycho_torch.model_manager can save it
        # as a checkpoint that alone rebuilds it.
        self.hyper_parameters: dict | None = None

    def forward(self, x: torch.Tensor, offsets: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        obj = self.diffraction_to_obj(x, offsets)
        psi = self.probe * obj
        return ops.forward_diffraction(psi) * self.intensity_scale, obj
