"""A gesture bundle's input contract, read from its bundle.json `preprocessing` block.

The contract says what the model takes (``frames`` x ``features_per_frame``), how a request
with another number of frames is fitted to it, how missing values are treated, how raw
MediaPipe landmarks become features (when the bundle supports that form), and which
normalisation statistics apply. Everything is validated once, when the bundle loads, so a
request never meets a half-valid bundle.

bundle.json `preprocessing` (gesture-classification)::

    "frames": 16, "features_per_frame": 2,
    "frame_fit": {"method": "pad_trim" | "resample" | "exact", "keep": "last" | "first",
                  "pad": "edge" | "value", "pad_value": 0.0},
    "missing": {"policy": "previous" | "fill" | "refuse", "fill_value": 0.0},
    "normalization": null | {"kind": "standard", "mean": [...], "scale": [...]}
                          | {"kind": "minmax", "min": [...], "scale": [...]},
    "landmarks": null | {"recipe": "hand_keypoints" | "fingertip_history", "points": 21,
                         "image_size": [960, 540], "pixel_rounding": "trunc", "landmark": 8}
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

import numpy as np

from shared.runtime.bundle import BundleError

FIT_METHODS = ("pad_trim", "resample", "exact")
MISSING_POLICIES = ("previous", "fill", "refuse")
RECIPES = ("hand_keypoints", "fingertip_history")
HAND_POINTS = 21  # MediaPipe Hands: 21 landmarks per hand, wrist = 0, index fingertip = 8


@dataclass(frozen=True)
class FrameFit:
    """How N received frames become the model's T frames.

    Attributes:
        method: "pad_trim" (keep `keep` T frames when N > T; pad when N < T), "resample"
            (linear interpolation in time to T frames), "exact" (N must equal T).
        keep: "last" keeps the most recent frames (a live client's sliding window) and pads
            at the start; "first" keeps the earliest and pads at the end.
        pad: "edge" repeats the nearest real frame; "value" pads with pad_value.
        pad_value: feature value of padded frames when pad == "value".
    """

    method: str = "pad_trim"
    keep: str = "last"
    pad: str = "edge"
    pad_value: float = 0.0


@dataclass(frozen=True)
class Missing:
    """How NaN / null values are treated.

    Attributes:
        policy: "previous" carries the last seen value forward (the first frames take the
            first seen value); "fill" puts fill_value in; "refuse" answers 422.
        fill_value: used by "fill", and by "previous" for a feature never seen at all.
    """

    policy: str = "previous"
    fill_value: float = 0.0


@dataclass(frozen=True)
class LandmarkRecipe:
    """How raw MediaPipe hand landmarks (normalised image coordinates, x right, y down,
    in [0, 1] of the image width and height) become features, as the training data did.

    Attributes:
        recipe: "hand_keypoints" -> 42 features per frame: the 21 (x, y) in pixels
            relative to the wrist, divided by the largest absolute value;
            "fingertip_history" -> 2 features per frame: landmark `landmark`'s (x, y)
            relative to the first frame of the window, divided by the image width/height.
        image_size: (width, height) in pixels the coordinates are scaled to (the training
            camera's); a request may give its own.
        pixel_rounding: "trunc" rounds pixel coordinates toward zero (Python int(), as the
            training recorder did) and caps them at size - 1; "none" keeps them exact.
        landmark: the landmark index tracked by "fingertip_history".
    """

    recipe: str
    image_size: tuple[int, int] = (960, 540)
    pixel_rounding: str = "trunc"
    landmark: int = 8

    @property
    def features_per_frame(self) -> int:
        return 2 * HAND_POINTS if self.recipe == "hand_keypoints" else 2


@dataclass(frozen=True)
class Normalization:
    """Per-feature affine map applied last: features * factor + offset.

    Attributes: kind ("standard": (x - mean) / scale; "minmax": x * scale + min, as
    scikit-learn's scalers), factor and offset of length F (per frame) or T*F (per position).
    """

    kind: str
    factor: np.ndarray
    offset: np.ndarray


@dataclass(frozen=True)
class InputContract:
    """Everything needed to turn a request's frames into the model's input tensor."""

    frames: int
    features_per_frame: int
    frame_fit: FrameFit
    missing: Missing
    normalization: Normalization | None
    landmarks: LandmarkRecipe | None

    @property
    def forms(self) -> tuple[str, ...]:
        return ("landmarks", "features") if self.landmarks else ("features",)

    def to_dict(self) -> dict:
        """The contract as GET shows it to clients."""
        out = {
            "input_forms": list(self.forms),
            "frames": self.frames,
            "features_per_frame": self.features_per_frame,
            "features_shape": [self.frames, self.features_per_frame],
            "frame_fit": asdict(self.frame_fit),
            "missing": asdict(self.missing),
            "normalized": self.normalization is not None,
        }
        if self.landmarks:
            out["landmarks"] = {
                **asdict(self.landmarks),
                "shape": ["frames", HAND_POINTS, "2 or 3"],
                "coordinates": "MediaPipe normalised image coordinates (x, y[, z])",
            }
        return out


def _choice(block: dict, key: str, allowed: tuple[str, ...], default: str, where: str) -> str:
    value = block.get(key, default)
    if value not in allowed:
        raise BundleError(f"{where}.{key} must be one of {', '.join(allowed)}, got {value!r}")
    return value


def _number(block: dict, key: str, default: float, where: str) -> float:
    value = block.get(key, default)
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not np.isfinite(value):
        raise BundleError(f"{where}.{key} must be a finite number, got {value!r}")
    return float(value)


def _normalization(block: dict | None, frames: int, features: int, where: str) -> Normalization | None:
    if not block:
        return None
    kind = _choice(block, "kind", ("standard", "minmax"), "standard", where)
    try:
        if kind == "standard":
            mean, scale = (np.asarray(block[k], dtype=np.float64) for k in ("mean", "scale"))
            if np.any(scale == 0):
                raise BundleError(f"{where}.scale has zeros")
            factor, offset = 1.0 / scale, -mean / scale
        else:
            factor, offset = (np.asarray(block[k], dtype=np.float64) for k in ("scale", "min"))
    except (KeyError, TypeError, ValueError) as exc:
        raise BundleError(f"{where} is incomplete or not numeric: {exc}") from None
    sizes = (features, frames * features)
    if factor.shape != offset.shape or factor.ndim != 1 or factor.size not in sizes or not np.all(np.isfinite(factor * offset)):
        raise BundleError(f"{where} statistics must be finite lists of {features} (per frame) or {frames * features} (per position) values")
    return Normalization(kind, factor.astype(np.float32), offset.astype(np.float32))


def _landmarks(block: dict | None, where: str) -> LandmarkRecipe | None:
    if not block:
        return None
    recipe = _choice(block, "recipe", RECIPES, "", where)
    size = block.get("image_size", [960, 540])
    if not (isinstance(size, list) and len(size) == 2 and all(isinstance(v, int) and v > 0 for v in size)):
        raise BundleError(f"{where}.image_size must be [width, height] in pixels, got {size!r}")
    landmark = block.get("landmark", 8)
    if not isinstance(landmark, int) or not 0 <= landmark < HAND_POINTS:
        raise BundleError(f"{where}.landmark must be a landmark index 0..20, got {landmark!r}")
    rounding = _choice(block, "pixel_rounding", ("trunc", "none"), "trunc", where)
    return LandmarkRecipe(recipe, (size[0], size[1]), rounding, landmark)


def _positive_int(block: dict, key: str, where: str) -> int:
    value = block.get(key)
    if not isinstance(value, int) or isinstance(value, bool) or value <= 0:
        raise BundleError(f"{where}.{key} must be a positive integer, got {value!r}")
    return value


def contract_from_meta(meta: dict, model_input_shape: tuple[int, ...], name: str) -> InputContract:
    """Validate a bundle's preprocessing against its model's input tensor; BundleError if wrong."""
    pre = meta.get("preprocessing")
    where = f"{name}: bundle.json preprocessing"
    if not isinstance(pre, dict):
        raise BundleError(f"{where} is missing")
    frames, features = _positive_int(pre, "frames", where), _positive_int(pre, "features_per_frame", where)
    size = int(np.prod(model_input_shape))
    if size != frames * features or model_input_shape[0] != 1:
        raise BundleError(f"{where} says {frames} x {features}, the model takes {list(model_input_shape)}")
    fit_block, miss_block = pre.get("frame_fit") or {}, pre.get("missing") or {}
    fit = FrameFit(
        method=_choice(fit_block, "method", FIT_METHODS, "pad_trim", f"{where}.frame_fit"),
        keep=_choice(fit_block, "keep", ("last", "first"), "last", f"{where}.frame_fit"),
        pad=_choice(fit_block, "pad", ("edge", "value"), "edge", f"{where}.frame_fit"),
        pad_value=_number(fit_block, "pad_value", 0.0, f"{where}.frame_fit"),
    )
    missing = Missing(
        policy=_choice(miss_block, "policy", MISSING_POLICIES, "previous", f"{where}.missing"),
        fill_value=_number(miss_block, "fill_value", 0.0, f"{where}.missing"),
    )
    landmarks = _landmarks(pre.get("landmarks"), f"{where}.landmarks")
    if landmarks and landmarks.features_per_frame != features:
        raise BundleError(f"{where}: recipe {landmarks.recipe} makes {landmarks.features_per_frame} features, not {features}")
    norm = _normalization(pre.get("normalization"), frames, features, f"{where}.normalization")
    return InputContract(frames, features, fit, missing, norm, landmarks)
