"""Operating points by false-accept rate, condition-aware.

A client (field `far`) or the operator (VERIFY_FAR) asks for the most false accepts it
tolerates (0.001: one impostor pair in a thousand accepted); the embedder bundle holds
thresholds calibrated for a few such rates on the union of the development variants
(tools/calibrate/calibrate_far_points.py over tools/calibrate/capture_variants.py's
variants of lfw-dev and deepface). One threshold cannot hold a FAR on grayscale crops and
poor photos that it holds on clean ones (their impostor distances run lower), so each point
holds one threshold per condition of the pair, the worse of its two photos':

    good       no quality reason, colour, the face with its surroundings
    limited    no quality reason, but grayscale or a tight crop (quality.py: an ID photo)
    poor       a quality reason (quality.py)

bundle.json::

    "threshold": {..., "far_default": 0.005,    (keys: the rate without a dot, as manifest paths split on dots)
                  "far_points": {"5e-03": {"thresholds": {"good": 0.64, "limited": 0.6, "poor": 0.55},
                                           "measured": {"good": {"far": 0.0004, "frr": 0.02, "pairs": 31000}, ...}}}}
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from shared.errors import BadRequest
from shared.runtime.manifest import Manifest

CONDITIONS = ("good", "limited", "poor")  # from best to worst


def condition_of(quality: Any) -> str:
    """A photo's condition from its Quality (or its to_dict() / dataclasses.asdict form)."""
    if quality is None:
        return "good"  # a stored template: judged by the photo's side alone
    get = quality.get if isinstance(quality, dict) else lambda k: getattr(quality, k)
    if get("reasons"):
        return "poor"
    return "limited" if get("grayscale") or get("tight") else "good"


def worse(a: str, b: str) -> str:
    return max(a, b, key=CONDITIONS.index)


@dataclass(frozen=True)
class OperatingPoint:
    """One calibrated false-accept rate. Attributes: far (the target); thresholds (cosine
    distance per condition, never looser for a worse one); measured (per condition: the
    far, frr and pairs counted on the development variants)."""

    far: float
    thresholds: dict[str, float]
    measured: dict[str, dict[str, float]]

    @property
    def name(self) -> str:
        return f"far_{self.far * 100:g}%"

    def threshold_for(self, q1: Any, q2: Any = None) -> float:
        return self.thresholds[worse(condition_of(q1), condition_of(q2))]

    def describe(self, q1: Any, q2: Any = None) -> dict[str, Any]:
        """The answer's `operating_point`: its name, target, the pair's condition, and the
        FAR and FRR measured on that condition's development pairs."""
        condition = worse(condition_of(q1), condition_of(q2))
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
