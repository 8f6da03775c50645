"""Loading a user's Keras model and rebuilding it on a fixed batch of 1.

RNN layers (LSTM, GRU, Bidirectional, Masking) with a dynamic batch convert to Flex ops
that no TFLite runtime in this project has; on a fixed batch of 1 they become builtin
fused ops. Keras 3 refuses some Keras 2 LSTM .h5 files ("Unrecognized keyword arguments
... time_major"): those are rebuilt from their stored config without that key.
"""

from __future__ import annotations

import json
from pathlib import Path

import tensorflow as tf

keras = tf.keras
# Keras 2 layer arguments that Keras 3 no longer accepts; they have no effect on inference
# at their stored defaults (time_major=False is the only value Keras 2 LSTM .h5 files use).
LEGACY_KEYS = ("time_major",)


def _strip(config, keys: tuple[str, ...]):
    if isinstance(config, dict):
        return {k: _strip(v, keys) for k, v in config.items() if k not in keys}
    if isinstance(config, list):
        return [_strip(v, keys) for v in config]
    return config


def load_h5_without_legacy_keys(path: Path) -> keras.Model:
    """Rebuild an .h5 model from its stored architecture minus LEGACY_KEYS, then load weights."""
    import h5py

    with h5py.File(path, "r") as f:
        raw = f.attrs.get("model_config")
    if raw is None:
        raise SystemExit(f"{path}: no model_config in this .h5 (weights only?); save the whole model")
    config = json.loads(raw.decode() if isinstance(raw, bytes) else raw)
    if '"time_major": true' in json.dumps(config):
        raise SystemExit(f"{path}: a layer has time_major=True, which Keras 3 cannot rebuild")
    model = keras.models.model_from_json(json.dumps(_strip(config, LEGACY_KEYS)))
    model.load_weights(str(path))
    return model


def load_keras(path: Path, notes: list[str]) -> keras.Model:
    """A .keras / .h5 file or a SavedModel folder, without its training configuration."""
    try:
        return keras.models.load_model(str(path), compile=False)
    except (TypeError, ValueError) as exc:
        if path.suffix != ".h5" or not any(k in str(exc) for k in LEGACY_KEYS):
            raise
        notes.append(f"Keras {keras.__version__} refused the Keras 2 .h5 ({str(exc)[:120]}); rebuilt it without {', '.join(LEGACY_KEYS)}")
        return load_h5_without_legacy_keys(path)


def sequence_shape(model: keras.Model, frames: int | None) -> tuple[int, int]:
    """(T, F) the model takes: (batch, T, F) -> (T, F); (batch, F) -> (1, F).
    A model with a variable frame count needs `frames` to fix it."""
    if len(model.inputs) != 1:
        raise SystemExit(f"the model has {len(model.inputs)} inputs; gesture bundles take one (frames x features)")
    shape = tuple(model.inputs[0].shape)[1:]
    if len(shape) == 1 and shape[0]:
        return 1, int(shape[0])
    if len(shape) != 2 or not shape[1]:
        raise SystemExit(f"model input {shape} is not (frames, features) or (features,)")
    if shape[0] is None and frames is None:
        raise SystemExit("the model takes a variable number of frames: give --frames to fix it")
    if shape[0] is not None and frames is not None and frames != shape[0]:
        raise SystemExit(f"--frames {frames} but the model takes {shape[0]}")
    return int(frames or shape[0]), int(shape[1])


def fixed_batch(model: keras.Model, frames: int, features: int) -> keras.Model:
    """The same layers and weights behind an input of batch 1 (and a fixed frame count)."""
    rank = len(model.inputs[0].shape)
    shape = (frames, features) if rank == 3 else (features,)
    inp = keras.Input(shape=shape, batch_size=1, name="frames")
    return keras.Model(inp, model(inp, training=False), name=f"{model.name}_batch1")


def ends_in_softmax(model: keras.Model) -> bool:
    """True when the last layer already gives probabilities (a softmax activation)."""
    layer = model.layers[-1]
    if isinstance(layer, keras.layers.Softmax):
        return True
    activation = getattr(layer, "activation", None)
    return getattr(activation, "__name__", "") == "softmax"
