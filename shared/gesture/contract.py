"""A gesture bundle's input contract, read from its bundle.json `preprocessing` block.

The contract says what the model takes (``frames`` x ``features_per_frame``), how a request
with another number of frames is fitted to it, how missing values are treated, how raw
MediaPipe landmarks become features (when the bundle supports that form), and which
normalisation statistics apply. Everything is read through the one bundle reader
(runtime/manifest.py) and validated once, when the bundle loads, so a request never meets a
half-valid bundle.

bundle.json `preprocessing` (gesture-classification)::

    "frames": 16, "features_per_frame": 2,
    "frame_fit": {"method": "pad_trim" | "resample" | "exact", "keep": "last" | "first",
                  "pad": "edge" | "value", "pad_value": 0.0},
    "missing": {"policy": "previous" | "fill" | "refuse", "fill_value": 0.0},
    "normalization": null | {"kind": "standard", "mean": [...], "scale": [...]}
                          | {"kind": "minmax", "min": [...], "scale": [...]},
    "landmarks": null | {"recipe": "hand_keypoints" | "fingertip_history", "points": 21,
                         "image_size": [960, 540], "pixel_rounding": "trunc", "landmark": 8}
                    | {"recipe": "two_hands" | "pose_hands" | "holistic_1662"} (gesture/recipes.py)
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

import numpy as np

from shared.gesture.recipes import HOLISTIC_RECIPES, RECIPES
from shared.runtime.manifest import Manifest

FIT_METHODS = ("pad_trim", "resample", "exact")
MISSING_POLICIES = ("previous", "fill", "refuse")
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
        if self.recipe in HOLISTIC_RECIPES:
            return HOLISTIC_RECIPES[self.recipe]
        return 2 * HAND_POINTS if self.recipe == "hand_keypoints" else 2

    @property
    def holistic(self) -> bool:
        """True for a recipe computed from a person in pixels (gesture/recipes.py), not from hand landmarks."""
        return self.recipe in HOLISTIC_RECIPES


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
        if self.landmarks and self.landmarks.holistic:
            return ("features", "pixels")
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
        if self.landmarks and self.landmarks.holistic:
            out["landmarks"] = {
                "recipe": self.landmarks.recipe,
                "from": "pixels: image, frames or video (pose, face, hands found by the service)",
            }
        elif self.landmarks:
            out["landmarks"] = {
                **asdict(self.landmarks),
                "shape": ["frames", HAND_POINTS, "2 or 3"],
                "coordinates": "MediaPipe normalised image coordinates (x, y[, z])",
            }
        return out


MAX_FRAMES = 10_000  # far above any sequence model's window: a typo, not a model
MAX_FEATURES = 100_000


def _normalization(m: Manifest, frames: int, features: int) -> Normalization | None:
    """`m` is preprocessing.normalization; None when it is absent, null or empty."""
    if not m.fields():
        return None
    kind = m.choice("kind", ("standard", "minmax"), default="standard")
    sizes = (features, frames * features)
    if kind == "standard":
        mean, scale = np.asarray(m.numbers("mean"), np.float64), np.asarray(m.numbers("scale"), np.float64)
        if np.any(scale == 0):
            raise m.fault("scale", "a list with zeros", "non-zero scales (features are divided by them)")
        factor, offset = 1.0 / scale, -mean / scale
    else:
        factor, offset = np.asarray(m.numbers("scale"), np.float64), np.asarray(m.numbers("min"), np.float64)
    first = "mean" if kind == "standard" else "scale"
    if factor.size not in sizes or factor.shape != offset.shape:
        expected = f"statistics for {features} features (per frame) or {frames * features} (per position), alike in length"
        raise m.fault(first, f"a list of {len(m.get(first))}", expected)
    if not np.all(np.isfinite(factor * offset)):  # 1 / a subnormal scale overflows
        raise m.fault("scale", "a list with values too small to divide by", "scales whose inverse is finite")
    return Normalization(kind, factor.astype(np.float32), offset.astype(np.float32))


def _landmarks(m: Manifest) -> LandmarkRecipe | None:
    """`m` is preprocessing.landmarks; None when it is absent, null or empty."""
    if not m.fields():
        return None
    recipe = m.choice("recipe", RECIPES)
    width, height = m.integers("image_size", length=2, ge=1, le=100_000) if m.has("image_size") else (960, 540)
    landmark = m.integer("landmark", ge=0, le=HAND_POINTS - 1, default=8)
    rounding = m.choice("pixel_rounding", ("trunc", "none"), default="trunc")
    return LandmarkRecipe(recipe, (width, height), rounding, landmark)


def read_contract(m: Manifest, model_input_shape: tuple[int, ...]) -> InputContract:
    """A gesture bundle's preprocessing, checked field by field and against its model's input
    tensor (1, frames, features_per_frame, in any grouping); BundleError naming a bad field."""
    pre = m.at("preprocessing")
    frames = pre.integer("frames", ge=1, le=MAX_FRAMES)
    features = pre.integer("features_per_frame", ge=1, le=MAX_FEATURES)
    size = int(np.prod(model_input_shape))
    if size != frames * features or model_input_shape[0] != 1:
        raise pre.fault("frames", frames, f"frames x features_per_frame ({features}) to make the model's input {list(model_input_shape)}")
    fit_block, miss_block = pre.at("frame_fit", optional=True), pre.at("missing", optional=True)
    fit = FrameFit(
        method=fit_block.choice("method", FIT_METHODS, default="pad_trim"),
        keep=fit_block.choice("keep", ("last", "first"), default="last"),
        pad=fit_block.choice("pad", ("edge", "value"), default="edge"),
        pad_value=fit_block.number("pad_value", default=0.0),
    )
    missing = Missing(
        policy=miss_block.choice("policy", MISSING_POLICIES, default="previous"),
        fill_value=miss_block.number("fill_value", default=0.0),
    )
    landmarks = _landmarks(pre.at("landmarks", optional=True))
    if landmarks and landmarks.features_per_frame != features:
        raise pre.fault("landmarks.recipe", landmarks.recipe, f"a recipe that makes features_per_frame ({features}) features per frame")
    norm = _normalization(pre.at("normalization", optional=True), frames, features)
    return InputContract(frames, features, fit, missing, norm, landmarks)
