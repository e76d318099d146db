"""Port the reference CNN's weights between the Keras model (ptycho.tf.model) and the torch
modules (ptycho_torch.model), so both backends compute the same diffraction_to_obj.

Layers match by name (model.LAYER_NAMES): Keras conv kernels are [kh, kw, in, out], torch's
[out, in, kh, kw]; biases are the same. Either side may be the whole autoencoder or just
diffraction_to_obj (the Keras models share their layers; torch's Autoencoder holds its
DiffractionToObj). TensorFlow itself is never imported here: only the Keras model's
get_layer / get_weights / set_weights are used, so this module costs nothing to import.
"""
import numpy as np
import torch

from ptycho_torch.model import LAYER_NAMES, DiffractionToObj

# [kh, kw, in, out] <-> [out, in, kh, kw]
_TF_TO_TORCH = (3, 2, 0, 1)
_TORCH_TO_TF = (2, 3, 1, 0)


def _torch_network(module: torch.nn.Module) -> DiffractionToObj:
    network = getattr(module, "diffraction_to_obj", module)
    if not isinstance(network, DiffractionToObj):
        raise TypeError(f"expected a ptycho_torch DiffractionToObj or Autoencoder, got "
                        f"{type(module).__name__}")
    return network


def _keras_layer(keras_model, name: str):
    try:
        return keras_model.get_layer(name)
    except ValueError:
        raise ValueError(f"Keras model {keras_model.name!r} has no layer {name!r}; "
                         "it is not the reference CNN") from None


def _check_shape(name: str, what: str, tf_shape, torch_shape) -> None:
    if tuple(tf_shape) != tuple(torch_shape):
        raise ValueError(f"layer {name!r}: {what} shapes differ (TensorFlow {tuple(tf_shape)} vs "
                         f"torch {tuple(torch_shape)} after transposing); the two models were "
                         "built with different N, gridsize or n_filters_scale")


def tf_to_torch(keras_model, torch_module: torch.nn.Module) -> None:
    """Copy every conv kernel and bias of `keras_model` into `torch_module` (in place)."""
    network = _torch_network(torch_module)
    with torch.no_grad():
        for name in LAYER_NAMES:
            kernel, bias = _keras_layer(keras_model, name).get_weights()
            conv = getattr(network, name)
            kernel = np.transpose(kernel, _TF_TO_TORCH)
            _check_shape(name, "kernel", kernel.shape, conv.weight.shape)
            _check_shape(name, "bias", bias.shape, conv.bias.shape)
            conv.weight.copy_(torch.from_numpy(np.ascontiguousarray(kernel)))
            conv.bias.copy_(torch.from_numpy(bias))


def torch_to_tf(torch_module: torch.nn.Module, keras_model) -> None:
    """Copy every conv weight and bias of `torch_module` into `keras_model` (in place)."""
    network = _torch_network(torch_module)
    for name in LAYER_NAMES:
        layer = _keras_layer(keras_model, name)
        conv = getattr(network, name)
        kernel = np.transpose(conv.weight.detach().cpu().numpy(), _TORCH_TO_TF)
        bias = conv.bias.detach().cpu().numpy()
        tf_kernel, tf_bias = layer.get_weights()
        _check_shape(name, "kernel", tf_kernel.shape, kernel.shape)
        _check_shape(name, "bias", tf_bias.shape, bias.shape)
        layer.set_weights([kernel, bias])
