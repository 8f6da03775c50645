"""Operating points by false-accept rate, condition-aware.

A client (field `far`) or the operator (VERIFY_FAR) asks for the most false accepts it
tolerates (0.001: one impostor pair in a thousand accepted); the embedder bundle holds
thresholds calibrated for a few such rates on the union of the development variants
(tools/calibrate/calibrate_far_points.py over tools/calibrate/capture_variants.py's
variants of lfw-dev and deepface). One threshold cannot hold a FAR on face-filling crops
that it holds on clean photos (their impostor distances run lower), so each point holds a
threshold per condition, and a pair takes the strictest of the conditions its two photos
are in (quality.py measures them):

    good       every pair
    grayscale  a photo without colour (a photocopy, an older ID document)
    tight      both photos face-filling crops (the aligned face runs past the photo's edge):
               such chips of different people look alike
    one_tight  one of them a face-filling crop (a selfie against an ID thumbnail)
    poor       a photo with a quality reason that makes faces alike (small, blurred, dark,
               overexposed: POOR_REASONS); a face turned away is a reason to reject, not a
               condition: turned faces of different people do not look alike (on the dev
               variants their impostor pairs are no nearer than clean ones), and the old
               rule took 1.3-3.6% of clean lfw-dev photos to the poor threshold

bundle.json::

    "threshold": {..., "far_default": 0.005,    (keys: the rate without a dot, as manifest paths split on dots)
                  "far_points": {"5e-03": {"thresholds": {"good": 0.64, "grayscale": 0.6, "tight": 0.55, "one_tight": 0.6, "poor": 0.58},
                                           "measured": {"good": {"far": 0.0004, "frr": 0.02, "pairs": 31000}, ...}}}}
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from shared.errors import BadRequest
from shared.runtime.manifest import Manifest

CONDITIONS = ("good", "grayscale", "tight", "one_tight", "poor")
POOR_REASONS = frozenset({"small_face", "blurry", "too_dark", "overexposed"})


def _flags(quality: Any) -> tuple[bool, bool, bool]:
    """(grayscale, tight, poor) of a Quality or its to_dict() form; a stored template (None)
    adds nothing: the pair is judged by the photo's side."""
    if quality is None:
        return False, False, False
    get = quality.get if isinstance(quality, dict) else lambda k: getattr(quality, k)
    return bool(get("grayscale")), bool(get("tight")), any(r in POOR_REASONS for r in get("reasons") or ())


def conditions_of(q1: Any, q2: Any = None) -> set[str]:
    """The conditions a pair is in (one photo: q2 None)."""
    (g1, t1, p1), (g2, t2, p2) = _flags(q1), _flags(q2)
    tight = t1 and t2 if q1 is not None and q2 is not None else t1 or t2
    on = {"grayscale": g1 or g2, "tight": tight, "one_tight": (t1 or t2) and not tight, "poor": p1 or p2}
    return {"good", *(name for name, flag in on.items() if flag)}


@dataclass(frozen=True)
class OperatingPoint:
    """One calibrated false-accept rate. Attributes: far (the target); thresholds (cosine
    distance per condition, none looser than good's); measured (per deciding condition: the
    far, frr and pairs counted on the development variants)."""

    far: float
    thresholds: dict[str, float]
    measured: dict[str, dict[str, float]]

    @property
    def name(self) -> str:
        return f"far_{self.far * 100:g}%"

    def condition(self, q1: Any, q2: Any = None) -> str:
        """The condition that decides the pair: the strictest of both photos' conditions."""
        return min(conditions_of(q1, q2), key=lambda c: (self.thresholds[c], -CONDITIONS.index(c)))

    def threshold_for(self, q1: Any, q2: Any = None) -> float:
        return self.thresholds[self.condition(q1, q2)]

    def describe(self, q1: Any, q2: Any = None) -> dict[str, Any]:
        """The answer's `operating_point`: its name, target, the condition that decided, and
        the FAR and FRR measured on the development pairs it decided."""
        condition = self.condition(q1, q2)
        m = self.measured.get(condition, {})
        return {
            "name": self.name,
            "far_target": self.far,
            "condition": condition,
            "measured_far": m.get("far"),
            "measured_frr": m.get("frr"),
        }


@dataclass(frozen=True)
class OperatingPoints:
    """The bundle's points, lowest FAR first, and the default target."""

    points: tuple[OperatingPoint, ...]
    default: float

    def choose(self, far: float | None) -> OperatingPoint:
        """The point with the highest target at or under `far` (None: the default); 400 when
        `far` is under every calibrated one."""
        target = self.default if far is None else far
        fitting = [p for p in self.points if p.far <= target + 1e-12]
        if not fitting:
            known = ", ".join(f"{p.far:g}" for p in self.points)
            raise BadRequest(f"far {target:g} is stricter than every calibrated operating point ({known})")
        return fitting[-1]

    @classmethod
    def read(cls, spec: Manifest) -> OperatingPoints | None:
        """From bundle.json's `threshold` object; None when it has no far_points."""
        if not spec.has("far_points"):
            return None
        table = spec.at("far_points")
        points = []
        for key in table.fields():
            try:
                far = float(key)
            except ValueError:
                raise table.fault(key, key, "a key naming a false-accept rate, such as 1e-03") from None
            point = table.at(key)
            if not 0 < far < 1:
                raise table.fault(key, key, "a key naming a false-accept rate in (0, 1), such as 1e-03")
            values = {c: point.at("thresholds").number(c, gt=0.0, le=2.0) for c in CONDITIONS}
            measured = {c: {k: point.at(f"measured.{c}").number(k, ge=0) for k in ("far", "frr", "pairs")} for c in CONDITIONS}
            points.append(OperatingPoint(far, values, measured))
        default = spec.number("far_default", gt=0, lt=1)
        if not any(abs(p.far - default) < 1e-12 for p in points):
            raise spec.fault("far_default", default, "one of far_points' keys")
        return cls(tuple(sorted(points, key=lambda p: p.far)), default)

    @classmethod
    def from_dict(cls, spec: dict[str, Any]) -> OperatingPoints:
        points = cls.read(Manifest(spec))
        assert points is not None
        return points
