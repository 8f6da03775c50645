"""One gesture bundle ready to classify: frames in, labelled probabilities out.

frames (landmarks or features) -> missing values -> fit to T frames -> [landmark
recipe] -> normalisation -> model (1, T, F) -> probabilities over the bundle's labels
"""

from __future__ import annotations

import time
from dataclasses import dataclass

import numpy as np

from shared.errors import BadRequest, Unprocessable
from shared.gesture import features as ft
from shared.gesture.contract import InputContract, read_contract
from shared.runtime.bundle import Bundle, BundleError

TASK = "gesture-classification"


@dataclass(frozen=True)
class Frames:
    """A request's frames. Attributes: form ("landmarks": (N, 21, 2) normalised image
    coordinates; "features": (N, F)), values (float64, NaN = missing), image_size
    ((width, height) in pixels of the client's video, landmarks only; None = bundle's)."""

    form: str
    values: np.ndarray
    image_size: tuple[int, int] | None = None


@dataclass(frozen=True)
class Prediction:
    """Attributes:
    label: most probable label; score: its probability (0..1).
    top_k: (label, probability) pairs, most probable first.
    model: bundle name. frames_received / frames_used: frames sent / frames that went into
    the model input (after trimming). frames_missing: received frames with missing values.
    time_ms: {"preprocess", "inference", "total"} in milliseconds.
    """

    label: str
    score: float
    top_k: tuple[tuple[str, float], ...]
    model: str
    frames_received: int
    frames_used: int
    frames_missing: int
    time_ms: dict

    def to_dict(self) -> dict:
        return {
            "label": self.label,
            "score": round(self.score, 6),
            "top_k": [{"label": label, "probability": round(p, 6)} for label, p in self.top_k],
            "model": self.model,
            "frames_received": self.frames_received,
            "frames_used": self.frames_used,
            "frames_missing": self.frames_missing,
            "time_ms": self.time_ms,
        }


def _softmax(x: np.ndarray) -> np.ndarray:
    e = np.exp(x - x.max())
    return e / e.sum()


class GestureClassifier:
    """A loaded gesture bundle with its validated input contract and labels."""

    def __init__(self, bundle: Bundle):
        if bundle.task != TASK:
            raise BundleError(f"{bundle.name} is a {bundle.task!r} bundle, expected {TASK!r}")
        self.bundle = bundle
        self.name = bundle.name
        self.input_shape = bundle.model.inputs[0].shape
        m = bundle.manifest
        self.contract: InputContract = read_contract(m, self.input_shape)
        n_out = int(np.prod(bundle.model.outputs[0].shape))
        self.labels: list[str] = list(m.texts("labels", length=n_out))  # one per model output
        self.softmax = m.at("postprocessing", optional=True).flag("softmax", default=False)

    def features(self, frames: Frames) -> tuple[np.ndarray, ft.FitPlan, int]:
        """(T, F) float32 model features, the fit plan, and how many frames had missing values."""
        c = self.contract
        x = frames.values
        present = ~np.isnan(x.reshape(len(x), -1)).all(axis=1)
        if not present.any():
            raise Unprocessable(f"all {len(x)} frames are missing (null or NaN)", code="no_data")
        n_missing = int(np.isnan(x.reshape(len(x), -1)).any(axis=1).sum())
        plan = ft.plan_fit(len(x), c.frames, c.frame_fit)
        if frames.form == "landmarks" and c.landmarks is not None:  # the service sends landmarks only to such bundles
            flat = ft.fill_missing(x.reshape(len(x), -1), c.missing)
            points = ft.apply_fit(flat, plan).reshape(c.frames, -1, 2)
            feats = ft.RECIPES[c.landmarks.recipe](points, c.landmarks, frames.image_size or c.landmarks.image_size)
            # A frame whose landmarks all coincide has no hand shape: treat it as missing too.
            if np.isnan(feats).all():
                raise Unprocessable("no usable hand in any frame (landmarks missing or all at one point)", code="no_data")
            feats = ft.fill_missing(ft.set_pads(feats, plan, c.frame_fit.pad_value), c.missing)
        else:
            feats = ft.set_pads(ft.apply_fit(ft.fill_missing(x, c.missing), plan), plan, c.frame_fit.pad_value)
        feats = ft.fill_values(feats, c.missing.fill_value)
        return ft.normalize(feats, c.normalization).astype(np.float32), plan, n_missing

    def predict(self, frames: Frames, top_k: int = 3) -> Prediction:
        """Classify one sequence; top_k in 1..len(labels)."""
        if frames.form not in self.contract.forms:
            raise BadRequest(f"model {self.name} takes {' or '.join(self.contract.forms)}, not {frames.form}")
        started = time.perf_counter()
        x, plan, n_missing = self.features(frames)
        prepared = time.perf_counter()
        out = self.bundle.model.run(x.reshape(self.input_shape))[0].reshape(-1).astype(np.float64)
        done = time.perf_counter()
        probs = _softmax(out) if self.softmax else out
        order = np.argsort(-probs, kind="stable")[:top_k]
        pairs = tuple((self.labels[i], float(probs[i])) for i in order)
        return Prediction(
            label=pairs[0][0],
            score=pairs[0][1],
            top_k=pairs,
            model=self.name,
            frames_received=len(frames.values),
            frames_used=plan.used,
            frames_missing=n_missing,
            time_ms={
                "preprocess": round((prepared - started) * 1000, 3),
                "inference": round((done - prepared) * 1000, 3),
                "total": round((done - started) * 1000, 3),
            },
        )

    def describe(self) -> dict:
        """The input contract clients need: labels, shapes, forms, fitting and missing rules."""
        return {
            "model": self.name,
            "version": self.bundle.version,
            "description": self.bundle.meta.get("description", ""),
            "labels": self.labels,
            "model_input_shape": list(self.input_shape),
            **self.contract.to_dict(),
        }
