"""Sample inputs for checking a conversion.

Random inputs tend to land in one or two classes (the lsvtest model answers class 0 or 7
for any uniform noise), which would leave most of the model's decision paths unchecked.
So besides random inputs, `targeted` builds inputs the Keras model assigns to each class
in turn, by gradient ascent on that class's log-probability inside a plausible box.
"""

from __future__ import annotations

import numpy as np
import tensorflow as tf


def box(norm: dict | None, frames: int, features: int) -> tuple[np.ndarray, np.ndarray]:
    """(low, high) of plausible raw features: mean +- 3 scale for a standard scaler, the
    fitted range for a min-max one, else [0, 1] (MediaPipe normalised coordinates)."""
    if not norm:
        return np.zeros((frames, features)), np.ones((frames, features))
    shape = (frames, features) if len(norm["scale"]) == frames * features else (features,)
    scale = np.asarray(norm["scale"], dtype=np.float64).reshape(shape)
    if norm["kind"] == "standard":
        mean = np.asarray(norm["mean"], dtype=np.float64).reshape(shape)
        low, high = mean - 3 * scale, mean + 3 * scale
    else:  # x * scale + min in [0, 1]  <=>  x in [-min / scale, (1 - min) / scale]
        offset = np.asarray(norm["min"], dtype=np.float64).reshape(shape)
        low, high = -offset / scale, (1 - offset) / scale
    return np.broadcast_to(low, (frames, features)), np.broadcast_to(high, (frames, features))


def random_samples(n: int, low: np.ndarray, high: np.ndarray, seed: int) -> np.ndarray:
    """n uniform samples in the box; the first is all zeros (nothing detected)."""
    rng = np.random.default_rng(seed)
    x = low + (high - low) * rng.uniform(0, 1, (n, *low.shape))
    x[0] = 0
    return x.astype(np.float32)


def targeted(
    model: tf.keras.Model,
    is_softmax: bool,
    n_classes: int,
    per_class: int,
    low: np.ndarray,
    high: np.ndarray,
    to_model,
    seed: int,
    steps: int = 150,
) -> np.ndarray:
    """(n_classes * per_class, T, F) raw inputs, sample i pushed toward class i // per_class.

    to_model maps raw (N, T, F) features to the model's input (normalisation, reshape).
    Starts near the low corner (quiet inputs), steps with Adam until every sample's class
    has probability > 0.9 (or `steps` run out), and stays in the box.
    """
    rng = np.random.default_rng(seed)
    n = n_classes * per_class
    span = (high - low).astype(np.float32)
    start = low + span * rng.uniform(0, 0.1, (n, *low.shape))
    x = tf.Variable(start.astype(np.float32))
    target = np.repeat(np.arange(n_classes), per_class)
    lo, hi = tf.constant(low, tf.float32), tf.constant(high, tf.float32)
    opt = tf.keras.optimizers.Adam(learning_rate=0.01 * float(span.mean()))
    for _ in range(steps):
        with tf.GradientTape() as tape:
            out = tf.reshape(model(to_model(x), training=False), (n, -1))
            probs = out if is_softmax else tf.nn.softmax(out)
            logp = tf.math.log(tf.gather(probs, target, batch_dims=1) + 1e-12)
            loss = -tf.reduce_mean(logp)
        if float(tf.reduce_min(logp)) > np.log(0.9):  # every sample is firmly its class
            break
        opt.apply_gradients([(tape.gradient(loss, x), x)])
        x.assign(tf.clip_by_value(x, lo, hi))
    return x.numpy()
