#!/usr/bin/env python3
"""Train the default gesture bundles on the kinivi keypoint data and write them as bundles.

    hand-sign       1 frame x 42 features (21 hand landmarks)    -> Open, Close, Pointer, OK
    finger-gesture  16 frames x 2 features (index fingertip x, y) -> Stop, Clockwise,
                                                                     Counter Clockwise, Move

hand-sign: an MLP (members > 1: several in one graph, mean of softmaxes); trained on rotated, stretched,
jittered and mirrored copies. finger-gesture: velocity / speed / turn computed in the graph
(tools/build/gesture_models.py) into a tanh LSTM (the fused, stateful TFLite op); trained on
rotated, jittered, mirrored, time-reversed and time-warped copies. Both keep the bundle
contract of the data (42 and 16 x 2 values), so runtime preprocessing is unchanged.

Data: ../shared/data/gesture (see its SOURCE.md); read, never copied into the repo. Each
class's first 75% of rows train (the last 15% of those steer early stopping), its last
25% are held out; the held-out table of the converted .tflite goes into bundle.json
"metrics". Conversion goes through the same checked path as tools/convert/convert_keras.py
(builtin ops, fixed batch 1, Keras agreement, runtimes given by --verify-python).

Run with the tools venv (tools/requirements/convert.txt):
    python tools/build/train_gesture_bundles.py [--data DIR] [--only hand-sign] \\
        --verify-python .venv/bin/python --verify-python .venvs/tflite214/bin/python
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import shlex
import sys
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
sys.path.insert(0, str(Path(__file__).resolve().parents[2]))  # the repo root, also when run as a file

import numpy as np
import tensorflow as tf

from tools import ROOT
from tools.build import gesture_data as gd
from tools.build import gesture_models as gm
from tools.convert.keras_bundle import check
from tools.convert.keras_bundle.bundle import BundleSpec, Checks, write_bundle
from tools.convert.keras_bundle.convert import to_tflite
from tools.testdata import SHARED_DATA

# ---- settings -------------------------------------------------------------------------
DATA = SHARED_DATA / "gesture"
SEED = 42
VERSION = "1.0.0"
ORIGIN = {
    "repository": "kinivi/hand-gesture-recognition-mediapipe",
    "commit": "0e737bb8c45ea03f6fafb1f5dbfe9246c34a8003",
    "folder": "model/",
    "licence": "Apache-2.0",
    "recorded_with": "MediaPipe Hands, 960x540 camera",
}
BUNDLES = {
    "hand-sign": {
        "csv": "keypoint_classifier/keypoint.csv",
        "labels": "keypoint_classifier/keypoint_classifier_label.csv",
        "frames": 1,
        "features": 42,
        "copies": 8,
        "epochs": 300,
        "patience": 30,
        "members": 1,
        "recipe": {"recipe": "hand_keypoints", "image_size": list(gd.IMAGE_SIZE), "pixel_rounding": "trunc"},
        "frame_fit": {"method": "pad_trim", "keep": "last", "pad": "edge", "pad_value": 0.0},
        "description": "Static hand sign from one frame of 21 MediaPipe hand landmarks (the last frame sent is used).",
    },
    "finger-gesture": {
        "csv": "point_history_classifier/point_history.csv",
        "labels": "point_history_classifier/point_history_classifier_label.csv",
        "frames": 16,
        "features": 2,
        "copies": 4,
        "epochs": 300,
        "patience": 30,
        "members": 1,
        "recipe": {"recipe": "fingertip_history", "image_size": list(gd.IMAGE_SIZE), "pixel_rounding": "trunc", "landmark": 8},
        "frame_fit": {"method": "pad_trim", "keep": "last", "pad": "edge", "pad_value": 0.0},
        "description": "Index-fingertip movement over the last 16 frames (~0.5 s at 30 fps) of MediaPipe hand landmarks.",
    },
}


def build_model(name: str, n_classes: int) -> tf.keras.Model:
    cfg = BUNDLES[name]
    if name == "hand-sign":
        model = gm.hand_model(n_classes, cfg["members"], geometry=False, width=256)
    else:
        # velocity, speed and turn computed in the graph from the 16 x 2 input; tanh LSTM(s):
        # the fused (stateful) TFLite op
        model = gm.finger_model(n_classes, cfg["members"])
    model.compile(tf.keras.optimizers.Adam(1e-3), "sparse_categorical_crossentropy", ["accuracy"])
    return model


def training_set(name: str, x: np.ndarray, y: np.ndarray, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    copies = BUNDLES[name]["copies"]
    if name == "hand-sign":
        return gd.augment_hand(x, rng, copies), np.tile(y, copies + 1)
    # mirroring and playing backwards both swap the two rotation directions: Stop, Clockwise, Counter Clockwise, Move
    swap = np.array([0, 2, 1, 3])
    xs, ys = gd.augment_finger(x, y, rng, copies, swap=swap, mirror=True)
    xr, yr = gm.reverse_time(x, y, swap)
    xr, yr = gd.augment_finger(xr, yr, rng, copies // 2, swap=swap, mirror=True)
    warped = [gm.time_warp(x, rng) for _ in range(2)]
    return np.concatenate([xs, xr, *warped]), np.concatenate([ys, yr, y, y])


def table(y: np.ndarray, pred: np.ndarray, labels: list[str]) -> dict:
    """Held-out accuracy per class, overall, and the confusion matrix (rows true, columns predicted)."""
    k = len(labels)
    conf = np.zeros((k, k), dtype=int)
    np.add.at(conf, (y, pred), 1)
    return {
        "samples": len(y),
        "accuracy": round(float((y == pred).mean()), 4),
        "per_class": {
            labels[c]: {"samples": int(conf[c].sum()), "accuracy": round(float(conf[c, c] / max(1, conf[c].sum())), 4)} for c in range(k)
        },
        "confusion": {"labels": labels, "rows": "true class", "columns": "predicted class", "matrix": conf.tolist()},
    }


def print_table(name: str, t: dict) -> None:
    labels = t["confusion"]["labels"]
    print(f"\n{name}: held-out accuracy {t['accuracy'] * 100:.2f}% on {t['samples']} rows")
    for label, row in zip(labels, t["confusion"]["matrix"], strict=True):
        c = t["per_class"][label]
        print(f"  {label:>18s} {c['accuracy'] * 100:6.2f}% of {c['samples']:4d}  confusion {row}")


def train_one(name: str, data: Path, out: Path, checks: Checks) -> dict:
    cfg = BUNDLES[name]
    tf.keras.utils.set_random_seed(SEED)
    tf.config.experimental.enable_op_determinism()
    rng = np.random.default_rng(SEED)
    csv_path, labels_path = data / Path(cfg["csv"]).name, data / Path(cfg["labels"]).name
    x, y = gd.read_rows(csv_path)
    labels = gd.read_labels(labels_path)
    parts = gd.split(y)
    shape = (-1, cfg["frames"], cfg["features"])
    xt, yt = training_set(name, x[parts.train], y[parts.train], rng)
    model = build_model(name, len(labels))
    stop = tf.keras.callbacks.EarlyStopping(monitor="val_loss", patience=cfg["patience"], restore_best_weights=True)
    hist = model.fit(
        xt.reshape(shape),
        yt,
        validation_data=(x[parts.validation].reshape(shape), y[parts.validation]),
        epochs=cfg["epochs"],
        batch_size=128,
        shuffle=True,
        callbacks=[stop],
        verbose=0,
    )
    inp = tf.keras.Input((cfg["frames"], cfg["features"]), batch_size=1, name="frames")
    fixed = tf.keras.Model(inp, model(inp, training=False))
    tflite = to_tflite(fixed)
    held = x[parts.heldout].reshape(shape)
    pred = check.interpreter_outputs(tflite, held).argmax(axis=1)
    metrics = {
        "heldout": table(y[parts.heldout], pred, labels),
        "split": "per class, in file (recording) order: first 75% train (its last 15% = early-stopping validation), last 25% held out",
        "training": {
            "train_rows": len(parts.train),
            "validation_rows": len(parts.validation),
            "augmented_rows": len(xt),
            "epochs_run": len(hist.history["loss"]),
            "seed": SEED,
            "validation_accuracy": round(float(model.evaluate(x[parts.validation].reshape(shape), y[parts.validation], verbose=0)[1]), 4),
        },
    }
    print_table(name, metrics["heldout"])
    source = {
        **ORIGIN,
        "files": {p.name: hashlib.sha256(p.read_bytes()).hexdigest() for p in (csv_path, labels_path)},
        "path_in_repository": [f"model/{cfg['csv']}", f"model/{cfg['labels']}"],
        "note": "training data origin; the data is not part of this repository",
    }
    spec = BundleSpec(
        name=name,
        version=VERSION,
        description=cfg["description"],
        labels=labels,
        preprocessing={
            "frames": cfg["frames"],
            "features_per_frame": cfg["features"],
            "frame_fit": cfg["frame_fit"],
            "missing": {"policy": "previous", "fill_value": 0.0},
            "normalization": None,
            "landmarks": cfg["recipe"],
        },
        softmax_in_model=True,
        source=source,
        metrics=metrics,
        conversion={
            "tool": "tools/build/train_gesture_bundles.py",
            "command": "python tools/build/train_gesture_bundles.py " + shlex.join(sys.argv[1:]),
            "quantize": "none",
            "fixed_batch": 1,
            "trained_here": True,
            "reproducibility": "fixed seeds and TF op determinism; retraining on another CPU or TF build may differ in the last bits",
        },
    )
    report = write_bundle(out / name, spec, fixed, tflite, held.astype(np.float32), held.astype(np.float32), checks)
    return {"metrics": metrics, "check": {k: v for k, v in report.items() if k not in ("keras_probabilities", "ops")}}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data", type=Path, default=DATA, help=f"folder with the keypoint CSVs (default {DATA})")
    parser.add_argument("--out", type=Path, default=ROOT / "models", help="where bundle folders go (default models/)")
    parser.add_argument("--only", choices=sorted(BUNDLES), action="append", help="train only this bundle (repeatable)")
    parser.add_argument(
        "--verify-python",
        action="append",
        default=[],
        metavar="PYTHON",
        help="also serve each bundle with this interpreter's runtime (repeatable)",
    )
    args = parser.parse_args(argv)
    if not args.data.exists():
        raise SystemExit(f"{args.data} not found: the gesture keypoint data lives outside the repo (see --data)")
    results = {name: train_one(name, args.data, args.out, Checks(1e-4, 1.0, args.verify_python)) for name in args.only or BUNDLES}
    print(json.dumps({n: r["check"] for n, r in results.items()}, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
