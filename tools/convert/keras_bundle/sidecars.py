"""The user's side files: labels and normalisation statistics.

Pickles (a scikit-learn LabelEncoder, StandardScaler or MinMaxScaler) are read here and only
here, only from paths the user names on the command line: unpickling runs code from the
file, so only convert pickles you made yourself. What they hold is written into bundle.json
as plain lists, so the runtime needs no pickle and no scikit-learn.
"""

from __future__ import annotations

import json
import pickle
import sys
from pathlib import Path

import numpy as np


def _unpickle(path: Path):
    print(f"reading pickle {path} (unpickling runs code: only use files you trust)", file=sys.stderr)
    try:
        import joblib  # scikit-learn objects are often saved with joblib

        return joblib.load(path)
    except ImportError:
        with open(path, "rb") as f:
            return pickle.load(f)


def read_labels(path: Path) -> list[str]:
    """Labels in model-output order from a text file (one per line), a JSON list, a JSON
    {"index": "label"} map, or a pickled LabelEncoder (its classes_ are in output order)."""
    if path.suffix in (".pkl", ".pickle", ".joblib"):
        encoder = _unpickle(path)
        classes = getattr(encoder, "classes_", None)
        if classes is None:
            raise SystemExit(f"{path}: {type(encoder).__name__} has no classes_ (not a fitted LabelEncoder)")
        return [str(c) for c in classes]
    text = path.read_text(encoding="utf-8-sig")
    if path.suffix == ".json":
        data = json.loads(text)
        if isinstance(data, dict):
            return [str(data[k]) for k in sorted(data, key=int)]
        return [str(v) for v in data]
    return [line.strip() for line in text.splitlines() if line.strip()]


def read_normalizer(path: Path) -> dict:
    """bundle.json `normalization` from a pickled StandardScaler / MinMaxScaler or a JSON
    file {"mean": [...], "scale": [...]} (standard) or {"min": [...], "scale": [...]} (minmax,
    scikit-learn's x * scale + min)."""
    if path.suffix == ".json":
        data = json.loads(path.read_text())
        kind = data.get("kind") or ("standard" if "mean" in data else "minmax")
        keys = ("mean", "scale") if kind == "standard" else ("min", "scale")
        return {"kind": kind, **{k: [float(v) for v in data[k]] for k in keys}}
    scaler = _unpickle(path)
    name = type(scaler).__name__
    if hasattr(scaler, "mean_") or name == "StandardScaler":
        n = len(scaler.scale_ if scaler.scale_ is not None else scaler.mean_)
        mean = scaler.mean_ if getattr(scaler, "with_mean", True) and scaler.mean_ is not None else np.zeros(n)
        scale = scaler.scale_ if getattr(scaler, "with_std", True) and scaler.scale_ is not None else np.ones(n)
        return {"kind": "standard", "mean": [float(v) for v in mean], "scale": [float(v) for v in scale]}
    if hasattr(scaler, "min_") and hasattr(scaler, "scale_"):
        if getattr(scaler, "clip", False):
            raise SystemExit(f"{path}: MinMaxScaler(clip=True) is not supported")
        return {"kind": "minmax", "min": [float(v) for v in scaler.min_], "scale": [float(v) for v in scaler.scale_]}
    raise SystemExit(f"{path}: {name} is not a StandardScaler or MinMaxScaler")


def affine(norm: dict | None, frames: int, features: int) -> tuple[np.ndarray, np.ndarray]:
    """(factor, offset), each (T, F): the model sees raw * factor + offset."""
    if not norm:
        return np.ones((frames, features), np.float32), np.zeros((frames, features), np.float32)
    shape = (frames, features) if len(norm["scale"]) == frames * features else (features,)
    scale = np.asarray(norm["scale"], dtype=np.float64).reshape(shape)
    if norm["kind"] == "standard":
        factor, offset = 1.0 / scale, -np.asarray(norm["mean"], dtype=np.float64).reshape(shape) / scale
    else:
        factor, offset = scale, np.asarray(norm["min"], dtype=np.float64).reshape(shape)
    full = (frames, features)
    return np.broadcast_to(factor, full).astype(np.float32), np.broadcast_to(offset, full).astype(np.float32)


def apply_normalizer(x: np.ndarray, norm: dict | None) -> np.ndarray:
    """(N, T, F) raw features -> what the Keras model was trained on."""
    factor, offset = affine(norm, x.shape[1], x.shape[2])
    return (x * factor + offset).astype(np.float32)
