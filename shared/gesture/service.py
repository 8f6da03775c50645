"""The set of gesture bundles one instance serves, and the request -> prediction path.

Bundles come from `GestureOptions.models` (folders or gs:// URIs); the first is the
default when a request names no `model`. A request carries landmarks, features, or photos
(`image` or `frames`); the hand models behind photos load on the first photo, so an
instance that only ever sees landmarks keeps its footprint and cold start.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from shared.errors import BadRequest, BundleError
from shared.fields import Field, RequestSpec
from shared.gesture.classifier import TASK, Frames, GestureClassifier, Prediction
from shared.gesture.options import GestureOptions
from shared.gesture.parse import parse_features, parse_image_size, parse_landmarks, parse_top_k
from shared.hands.options import HandOptions
from shared.runtime.bundle import Bundle, load_as
from shared.runtime.lazy import Lazy, Parts
from shared.state.memory import MemoryBudget

if TYPE_CHECKING:  # the photo path (Pillow, the hand pipeline, its answers) is imported on the first photo only
    from shared.gesture.person import PersonFrames, PersonPrediction, PhotoPrediction
    from shared.hands.finder import HandFinder
    from shared.holistic.options import HolisticOptions
    from shared.holistic.tracker import Holistic

PHOTO_FIELDS = ("image", "frames", "video")  # one photo, photos in order, or a clip
INPUT_FORMS = ("landmarks", "features", "image", "frames", "video")
MAX_HANDS = 2
PHOTO_ONLY = ("return_landmarks", "max_hands")
DEFAULT_TOP_K = 3
LANDMARK_VALUES = 21 * 5  # a point as {x, y, z, visibility, presence}: the widest documented form


class GestureService:
    """The gesture bundles one instance serves: `predict(body) -> Prediction` (or
    `PhotoPrediction`), `body` as the edge read it by `request_spec()`."""

    def __init__(self, classifiers: list[GestureClassifier], options: GestureOptions | None = None, budget: MemoryBudget | None = None):
        if not classifiers:
            raise BundleError("no gesture bundles configured")
        self.classifiers = {c.name: c for c in classifiers}
        if len(self.classifiers) != len(classifiers):
            raise BundleError(f"gesture bundle names must be unique, got {[c.name for c in classifiers]}")
        self.default = classifiers[0].name
        self.options = options = options or GestureOptions(models=tuple(c.bundle.source for c in classifiers))
        self.max_frames = options.max_frames
        self._budget = budget or MemoryBudget(critical_mb=float("inf"), wait_s=0.0)
        hands = options.hands
        # Built on the first photo only: landmark-only instances never load the hand models.
        # The hand landmark model is one interpreter for the hand tracker and Holistic (parts).
        parts = Parts()
        self.hands: Lazy[HandFinder] | None = None
        if hands is not None:
            self.hands = Lazy("hand models", lambda: _load_hands(hands, parts), retry_s=options.retry_s)
        holistic = options.holistic
        self.holistic: Lazy[Holistic] | None = None
        if holistic is not None:
            self.holistic = Lazy("holistic models", lambda: _load_holistic(holistic, parts), retry_s=options.retry_s)

    @classmethod
    def load(cls, options: GestureOptions, budget: MemoryBudget | None = None) -> GestureService:
        """Load the gesture bundles now; the hand bundles on the first photo. Each photo
        reserves its estimated decoding peak from `budget` (the instance's) before it decodes."""
        return cls([load_as(GestureClassifier, source, options.load, task=TASK) for source in options.models], options, budget)

    def bundles(self) -> list[Bundle]:
        """The gesture bundles, and the hand and Holistic bundles once loaded (each once)."""
        hands = self.hands.get().bundles() if self.hands is not None and self.hands.ready else []
        person = self.holistic.get().bundles() if self.holistic is not None and self.holistic.ready else []
        every = [c.bundle for c in self.classifiers.values()] + hands + person
        return [b for i, b in enumerate(every) if all(b is not other for other in every[:i])]

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

    def request_spec(self) -> RequestSpec:
        """predict_gesture's request, for the edge's reader (shared/edge/reader.py). The
        frames and top_k (bounded by the model's labels) are judged here, in `predict`."""
        fields = (
            Field("landmarks", "json"),
            Field("features", "json"),
            Field("model", "text"),
            Field("top_k", "json"),
            Field("image_size", "json"),
            Field("return_landmarks", "json"),  # true, false or "holistic" (gesture/person.py: landmarks_mode)
            Field("max_hands", "integer", low=1, high=MAX_HANDS),
            Field("image", "photo"),
            Field("frames", "photos"),
            Field("video", "photo"),  # a clip's bytes: a file part, or base64 in JSON
        )
        return RequestSpec(fields, self.max_values())

    def describe(self) -> dict[str, Any]:
        """Every bundle's input contract, as GET shows it."""
        hands = {"hand_models": self.hands.status()} if self.hands is not None else {}
        if self.holistic is not None:
            hands["holistic_models"] = self.holistic.status()
        return {"default_model": self.default, "contracts": [c.describe() for c in self.classifiers.values()], **hands}

    def predict(self, data: dict[str, Any]) -> Prediction | PhotoPrediction | PersonPrediction:
        """Answer one request body, as the edge read it by `request_spec` (photos as bytes,
        flags as bools)."""
        max_frames = self.max_frames
        forms = [f for f in INPUT_FORMS if f in data]
        if len(forms) != 1:
            raise BadRequest(
                "send exactly one of landmarks (frames x 21 x 2|3), features (frames x F), image (a photo), "
                "frames (photos) or video (a clip)"
            )
        clf = self.classifier(data.get("model"))
        n_labels = len(clf.labels)
        top_k = min(DEFAULT_TOP_K, n_labels)
        if "top_k" in data:
            top_k = parse_top_k(data["top_k"], n_labels)
        form = forms[0]
        if form in PHOTO_FIELDS:
            return self._predict_photos(clf, data, top_k)
        extra = [f for f in PHOTO_ONLY if f in data]
        if extra:
            raise BadRequest(f"{', '.join(extra)} applies to photos (image or frames) only")
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

    def _predict_photos(self, clf: GestureClassifier, data: dict[str, Any], top_k: int) -> PhotoPrediction | PersonPrediction:
        from shared.gesture import person, pixels

        if "image_size" in data:
            raise BadRequest("image_size applies to landmarks only (a photo's own size is used)")
        if not {"landmarks", "pixels"} & set(clf.contract.forms):
            raise BadRequest(f"model {clf.name} takes features, not landmarks found in photos")
        mode = person.landmarks_mode(data.get("return_landmarks", False))
        holistic = (clf.contract.landmarks is not None and clf.contract.landmarks.holistic) or mode == "holistic"
        if self.hands is None or (holistic and self.holistic is None):
            raise BadRequest("this instance has no hand models configured; send landmarks", code="no_hand_models")
        if "video" in data:
            source = person.clip_frames(data["video"], self.options.video, clf.contract.frames)
        else:
            photos, field = pixels.photo_list(data, self.options.max_photos)
            source = pixels.photo_frames(photos, field, self.options.decode, self._budget)
        if "pixels" in clf.contract.forms:  # a Holistic recipe: the person's features
            assert self.holistic is not None and clf.contract.landmarks is not None
            found_people = person.track_person(self.holistic.get(), source)
            prediction = clf.predict(Frames("features", found_people.features(clf.contract.landmarks.recipe)), top_k)
            return person.PersonPrediction(prediction, found_people, mode is not None)
        max_hands = data.get("max_hands", 1)
        people: PersonFrames | None = None
        if holistic:
            assert self.holistic is not None
            found, people = person.track_both(self.hands.get(), self.holistic.get(), source, max_hands)
        else:
            found = pixels.track_hands(self.hands.get(), source, max_hands)
        prediction = clf.predict(Frames("landmarks", found.landmarks(), found.image_size()), top_k)
        note = pixels.missing_note(clf.contract.missing, len(found.without_hand))
        return person.PhotoPrediction(prediction, found, mode is not None, note, people)


def _load_holistic(options: HolisticOptions, parts: Parts) -> Holistic:
    from shared.holistic.tracker import Holistic

    return Holistic.load(options, parts)


def _load_hands(options: HandOptions, parts: Parts) -> HandFinder:
    from shared.hands.finder import HandFinder

    return HandFinder.load(options, parts)
