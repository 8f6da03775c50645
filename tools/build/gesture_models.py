"""Model graphs and extra augmentations for tools/build/train_gesture_bundles.py.

Engineered features are computed inside the model graph (builtin TFLite ops only: MUL,
SUB, SUM, SQRT, DIV, GATHER, PAD, ...) from the very inputs the bundle contract already
delivers (the 42 hand-keypoint values, or the 16 x 2 fingertip offsets). The runtime
preprocessing therefore stays the recipe in shared/gesture/features.py, unchanged, and a
client sending the same features form gets the same answer.
"""

from __future__ import annotations

import numpy as np
import tensorflow as tf

# Parent of MediaPipe hand landmarks 1..20 (wrist = 0): bone i runs PARENT[i] -> i + 1.
PARENT = [0, 1, 2, 3, 0, 5, 6, 7, 0, 9, 10, 11, 0, 13, 14, 15, 0, 17, 18, 19]
TIPS = [4, 8, 12, 16, 20]


def _bone_pairs() -> list[tuple[int, int]]:
    """Bone index pairs whose angle is a feature: joints within each finger, each finger's
    base vs last bone, neighbouring fingers' bases and neighbouring fingers' last bones."""
    pairs = []
    for f in range(5):
        b = [4 * f + k for k in range(4)]
        pairs += [(b[0], b[1]), (b[1], b[2]), (b[2], b[3]), (b[0], b[3])]
    pairs += [(4 * f, 4 * (f + 1)) for f in range(4)]
    pairs += [(4 * f + 3, 4 * (f + 1) + 3) for f in range(4)]
    return pairs


class HandGeometry(tf.keras.layers.Layer):
    """(B, 42) wrist-relative (x, y) keypoints -> (B, 134) rotation- and scale-invariant
    features: cos and sin of 28 bone-pair angles, the 20 non-wrist points in a palm frame
    (axis wrist -> landmark 9, unit |landmark 9|; 40 values), distances of the 20 points to
    the wrist (20), between the 5 fingertips (10) and the 20 bone lengths (20), all in palm
    units. Rotations and uniform scalings of the hand leave every value unchanged."""

    def __init__(self, **kwargs):
        super().__init__(**kwargs)
        m = np.zeros((42, 40), np.float32)  # (x, y) of bone i = point i+1 - its parent
        for i, parent in enumerate(PARENT):
            for d in range(2):
                m[2 * (i + 1) + d, 2 * i + d] += 1
                m[2 * parent + d, 2 * i + d] -= 1
        self.bones = tf.constant(m)
        pairs = _bone_pairs()
        self.pair_a, self.pair_b = tf.constant([a for a, _ in pairs]), tf.constant([b for _, b in pairs])
        tips = [(i, j) for k, i in enumerate(TIPS) for j in TIPS[k + 1 :]]
        self.tip_a, self.tip_b = tf.constant([i for i, _ in tips]), tf.constant([j for _, j in tips])

    def call(self, x: tf.Tensor) -> tf.Tensor:
        p = tf.reshape(x, (-1, 21, 2))
        v = tf.reshape(tf.matmul(x, self.bones), (-1, 20, 2))
        length = tf.sqrt(tf.reduce_sum(v * v, axis=-1) + 1e-6)  # eps: a degenerate hand stays finite
        u = v / length[..., None]
        ua, ub = tf.gather(u, self.pair_a, axis=1), tf.gather(u, self.pair_b, axis=1)
        cos = tf.reduce_sum(ua * ub, axis=-1)
        sin = ua[..., 0] * ub[..., 1] - ua[..., 1] * ub[..., 0]
        palm = p[:, 9, :]
        size = tf.sqrt(tf.reduce_sum(palm * palm, axis=-1, keepdims=True) + 1e-6)  # (B, 1)
        axis = palm / size
        along = (p[..., 0] * axis[:, None, 0] + p[..., 1] * axis[:, None, 1]) / size
        across = (p[..., 0] * axis[:, None, 1] - p[..., 1] * axis[:, None, 0]) / size
        palm_frame = tf.reshape(tf.stack([along[:, 1:], across[:, 1:]], axis=-1), (-1, 40))
        to_wrist = tf.sqrt(tf.reduce_sum(p[:, 1:] * p[:, 1:], axis=-1) + 1e-6) / size
        d = tf.gather(p, self.tip_a, axis=1) - tf.gather(p, self.tip_b, axis=1)
        between_tips = tf.sqrt(tf.reduce_sum(d * d, axis=-1) + 1e-6) / size
        return tf.concat([cos, sin, palm_frame, to_wrist, between_tips, length / size], axis=-1)


class Motion(tf.keras.layers.Layer):
    """(B, T, 2) positions -> (B, T, 6): positions, velocity (frame difference, 0 for the
    first frame), speed, and turn (cross product of consecutive velocities: its sign says
    clockwise or counter-clockwise), scaled to comparable magnitudes."""

    def call(self, x: tf.Tensor) -> tf.Tensor:
        vel = tf.pad(x[:, 1:] - x[:, :-1], [[0, 0], [1, 0], [0, 0]])
        prev = tf.pad(vel[:, :-1], [[0, 0], [1, 0], [0, 0]])
        turn = vel[..., 0:1] * prev[..., 1:2] - vel[..., 1:2] * prev[..., 0:1]
        speed = tf.sqrt(tf.reduce_sum(vel * vel, axis=-1, keepdims=True) + 1e-6)
        return tf.concat([x, vel * 4.0, speed * 4.0, turn * 10.0], axis=-1)


def hand_model(n_classes: int, members: int = 1, geometry: bool = False, width: int = 256) -> tf.keras.Model:
    """(B, 1, 42) -> (B, n_classes) probabilities; members > 1 averages that many MLPs
    (one graph, mean of their softmaxes); geometry adds HandGeometry features to the 42."""
    inp = tf.keras.Input((1, 42), name="frames")
    x = tf.keras.layers.Flatten()(inp)
    h0 = tf.keras.layers.Concatenate()([x, HandGeometry()(x)]) if geometry else x
    outs = []
    for _ in range(members):
        h = tf.keras.layers.Dropout(0.2)(h0)
        h = tf.keras.layers.Dense(width, activation="relu")(h)
        h = tf.keras.layers.Dropout(0.3)(h)
        h = tf.keras.layers.Dense(32, activation="relu")(h)
        outs.append(tf.keras.layers.Dense(n_classes, activation="softmax")(h))
    out = outs[0] if members == 1 else tf.keras.layers.Average()(outs)
    return tf.keras.Model(inp, tf.keras.layers.Activation("linear", name="probabilities")(out), name="hand_sign")


def finger_model(n_classes: int, members: int = 1) -> tf.keras.Model:
    """(B, 16, 2) -> (B, n_classes): Motion features into tanh LSTMs (fused TFLite op)."""
    inp = tf.keras.Input((16, 2), name="frames")
    h0 = Motion()(tf.keras.layers.Rescaling(20.0)(inp))  # offsets are ~0.05 of the image: bring them near 1
    outs = []
    for _ in range(members):
        h = tf.keras.layers.LSTM(32)(h0)
        h = tf.keras.layers.Dense(32, activation="relu")(h)
        outs.append(tf.keras.layers.Dense(n_classes, activation="softmax")(h))
    out = outs[0] if members == 1 else tf.keras.layers.Average()(outs)
    return tf.keras.Model(inp, tf.keras.layers.Activation("linear", name="probabilities")(out), name="finger_gesture")


def reverse_time(x: np.ndarray, y: np.ndarray, swap: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(N, 32) fingertip histories played backwards (re-made relative to the new first
    frame): a clockwise circle becomes counter-clockwise, so labels go through `swap`."""
    p = x.reshape(len(x), 16, 2)[:, ::-1]
    return (p - p[:, :1]).reshape(len(x), 32).astype(np.float32), swap[y]


def time_warp(x: np.ndarray, rng: np.random.Generator, speed: tuple[float, float] = (0.75, 1.3)) -> np.ndarray:
    """(N, 32) histories resampled at a random speed, anchored at the last (newest) frame:
    the same gesture made faster or slower; re-made relative to the first frame."""
    p = x.reshape(len(x), 16, 2).astype(np.float64)
    s = rng.uniform(*speed, len(p))
    t = np.clip(15 - (15 - np.arange(16))[None, :] * s[:, None], 0, 15)
    lo = np.floor(t).astype(int)
    hi, w = np.minimum(lo + 1, 15), (t - lo)[..., None]
    rows = np.arange(len(p))[:, None]
    q = p[rows, lo] * (1 - w) + p[rows, hi] * w
    return (q - q[:, :1]).reshape(len(p), 32).astype(np.float32)
