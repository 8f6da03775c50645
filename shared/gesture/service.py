"""The set of gesture bundles one instance serves, and the request -> prediction path.

Bundles come from `GestureOptions.models` (folders or gs:// URIs); the first is the
default when a request names no `model`.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from shared.errors import BadRequest, BundleError
from shared.gesture.classifier import TASK, Frames, GestureClassifier, Prediction
from shared.gesture.parse import parse_features, parse_image_size, parse_landmarks, parse_top_k
from shared.runtime.bundle import Bundle, LoadOptions, load_as
from shared.settings import Settings

REQUEST_FIELDS = ("landmarks", "features", "model", "top_k", "image_size")
DEFAULT_TOP_K = 3
LANDMARK_VALUES = 21 * 5  # a point as {x, y, z, visibility, presence}: the widest documented form


@dataclass(frozen=True)
class GestureOptions:
    """Attributes: models (bundle sources; the first is the default), load (threads,
    timeout, runtime), max_frames (most frames in one request)."""

    models: tuple[str, ...]
    load: LoadOptions = LoadOptions()
    max_frames: int = 1024

    @classmethod
    def from_settings(cls, settings: Settings) -> GestureOptions:
        return cls(settings.gesture_models, LoadOptions.from_settings(settings), settings.max_frames)

    @property
    def all_local(self) -> bool:
        """True when no bundle lives in object storage (loading them costs milliseconds)."""
        return not any(source.startswith("gs://") for source in self.models)


class GestureService:
    """The gesture bundles one instance serves: `predict(request_json) -> Prediction`."""

    def __init__(self, classifiers: list[GestureClassifier], max_frames: int = 1024):
        if not classifiers:
            raise BundleError("no gesture bundles configured")
        self.classifiers = {c.name: c for c in classifiers}
        if len(self.classifiers) != len(classifiers):
            raise BundleError(f"gesture bundle names must be unique, got {[c.name for c in classifiers]}")
        self.default = classifiers[0].name
        self.max_frames = max_frames

    @classmethod
    def load(cls, options: GestureOptions) -> GestureService:
        return cls([load_as(GestureClassifier, source, options.load, task=TASK) for source in options.models], options.max_frames)

    def bundles(self) -> list[Bundle]:
        return [c.bundle for c in self.classifiers.values()]

    def classifier(self, name: Any = None) -> GestureClassifier:
        """The named bundle's classifier (the default for None); 400 naming the available ones."""
        if name is None:
            return self.classifiers[self.default]
        if not isinstance(name, str) or name not in self.classifiers:
            raise BadRequest(f"unknown model {str(name)[:60]!r}; available: {', '.join(self.classifiers)}", code="unknown_model")
        return self.classifiers[name]

    def max_values(self) -> int:
        """Most JSON values a valid request can hold: `max_frames` frames of the widest
        input (a landmark frame is 21 x 3 numbers), plus the other fields."""
        widest = max(max(c.contract.features_per_frame for c in self.classifiers.values()), LANDMARK_VALUES)
        return self.max_frames * widest + 64

    def describe(self) -> dict[str, Any]:
        """Every bundle's input contract, as GET shows it."""
        return {"default_model": self.default, "contracts": [c.describe() for c in self.classifiers.values()]}

    def predict(self, data: dict[str, Any]) -> Prediction:
        """Answer one request body (fields already checked against REQUEST_FIELDS)."""
        max_frames = self.max_frames
        forms = [f for f in ("landmarks", "features") if f in data]
        if len(forms) != 1:
            raise BadRequest("send exactly one of landmarks (frames x 21 x 2|3) or features (frames x F)")
        clf = self.classifier(data.get("model"))
        top_k = parse_top_k(data["top_k"], len(clf.labels)) if "top_k" in data else min(DEFAULT_TOP_K, len(clf.labels))
        form = forms[0]
        if form not in clf.contract.forms:
            raise BadRequest(f"model {clf.name} takes features ({clf.contract.frames} x {clf.contract.features_per_frame}), not landmarks")
        if form == "landmarks":
            size = parse_image_size(data["image_size"]) if "image_size" in data else None
            frames = Frames("landmarks", parse_landmarks(data["landmarks"], max_frames), size)
        else:
            if "image_size" in data:
                raise BadRequest("image_size applies to landmarks only")
            frames = Frames("features", parse_features(data["features"], clf.contract.features_per_frame, max_frames))
        return clf.predict(frames, top_k)
