"""bundle.json, read by one reader for every bundle kind: typed getters that name the field.

`read_manifest(raw)` parses the file with NaN, Infinity and overflowing numbers kept as
`NonFinite` markers (Python's json would turn them into floats silently); `Manifest` then
hands out each field a bundle kind uses, checked as it is read::

    m = Manifest(meta)
    m.number("threshold.value", gt=0, le=2)        # present, a number, finite, in (0, 2]
    m.integer("preprocessing.size", ge=1)
    m.choice("threshold.metric", ("cosine", "euclidean"))
    m.numbers("preprocessing.value_range", length=2)
    m.at("postprocessing.hand_rect")                # a sub-object, paths then relative to it

Any fault is a BundleError whose reason names the field and what was expected, e.g.
``bundle.json threshold.value is NaN; expected a finite number in (0, 2]``. `load_bundle`
refuses a manifest with a non-finite number anywhere, after the kind's getters had their
chance to say more precisely what they expected there.
"""

from __future__ import annotations

import json
import math
from collections.abc import Iterator
from typing import TYPE_CHECKING, Any

from shared.errors import BundleError

if TYPE_CHECKING:
    from shared.runtime.tflite import TensorSpec

MANIFEST = "bundle.json"


class NonFinite:
    """A number JSON cannot hold (NaN, Infinity, -Infinity, or one that overflows a float),
    kept as written so that a message can quote it."""

    def __init__(self, text: str):
        self.text = text

    def __repr__(self) -> str:
        return self.text


def _float(text: str) -> float | NonFinite:
    value = float(text)
    return value if math.isfinite(value) else NonFinite(text)


def read_manifest(raw: bytes) -> dict[str, Any]:
    """bundle.json bytes -> its JSON object (non-finite numbers as NonFinite); BundleError
    when it is not JSON or not an object."""
    try:
        meta = json.loads(raw, parse_constant=NonFinite, parse_float=_float)
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise BundleError(f"{MANIFEST} is not valid JSON: {exc}") from None
    if not isinstance(meta, dict):
        raise BundleError(f"{MANIFEST} must hold a JSON object")
    return meta


def non_finite_paths(value: Any, path: str = "") -> Iterator[tuple[str, NonFinite]]:
    """(dotted path, marker) of every non-finite number in a parsed manifest, in file order."""
    if isinstance(value, NonFinite):
        yield path, value
    elif isinstance(value, dict):
        for key, item in value.items():
            yield from non_finite_paths(item, f"{path}.{key}" if path else str(key))
    elif isinstance(value, list):
        for index, item in enumerate(value):
            yield from non_finite_paths(item, f"{path}[{index}]")


def refuse_non_finite(meta: dict[str, Any]) -> None:
    """BundleError naming the first non-finite number of a parsed manifest, if any."""
    for path, marker in non_finite_paths(meta):
        raise BundleError(f"{MANIFEST} {path} is {marker}; JSON numbers must be finite")


_MISSING: Any = object()


def _shown(value: Any) -> str:
    """A field's value as a message quotes it (short)."""
    if value is _MISSING:
        return "missing"
    text = repr(value) if not isinstance(value, (dict, list)) else json.dumps(value, default=repr)
    return text if len(text) <= 60 else text[:57] + "..."


def _interval(gt: float | None, ge: float | None, lt: float | None, le: float | None) -> str:
    """Bounds as a reader expects them: "in (0, 2]", ">= 1", "" without bounds."""
    low, high = (gt, "(") if gt is not None else (ge, "["), (lt, ")") if lt is not None else (le, "]")
    fmt = lambda v: f"{v:g}"  # noqa: E731
    if low[0] is not None and high[0] is not None:
        return f" in {low[1]}{fmt(low[0])}, {fmt(high[0])}{high[1]}"
    if low[0] is not None:
        return f" {'>' if gt is not None else '>='} {fmt(low[0])}"
    if high[0] is not None:
        return f" {'<' if lt is not None else '<='} {fmt(high[0])}"
    return ""


def _within(value: float, gt: float | None, ge: float | None, lt: float | None, le: float | None) -> bool:
    """Finite and within the bounds given (a NaN fails every comparison, so it is named here)."""
    bounded = (gt is None or value > gt) and (ge is None or value >= ge) and (lt is None or value < lt) and (le is None or value <= le)
    return math.isfinite(value) and bounded


class Manifest:
    """A JSON object of bundle.json (the whole file, or a sub-object `at` a path) with
    typed getters. Paths are dotted keys relative to this object; messages name them from
    the file's root. A getter's `default` is used when the field is absent (or null);
    without one, an absent field is a fault."""

    def __init__(self, data: dict[str, Any], where: str = ""):
        self.data = data
        self.where = where

    def _name(self, path: str) -> str:
        return f"{self.where}.{path}" if self.where and path else (self.where or path)

    def fault(self, path: str, value: Any, expected: str) -> BundleError:
        """The BundleError for field `path` holding `value` where `expected` was wanted."""
        return BundleError(f"{MANIFEST} {self._name(path)} is {_shown(value)}; expected {expected}")

    def get(self, path: str, default: Any = _MISSING) -> Any:
        """The raw value at `path`; `default` when absent or null (_MISSING: absent)."""
        value: Any = self.data
        for key in path.split("."):
            value = value.get(key, _MISSING) if isinstance(value, dict) else _MISSING
            if value is _MISSING:
                break
        return default if value is _MISSING or value is None else value

    def has(self, path: str) -> bool:
        """Whether `path` holds a value other than null."""
        return self.get(path) is not _MISSING

    def at(self, path: str, *, optional: bool = False) -> Manifest:
        """The object at `path` as a Manifest; when `optional`, an absent or null one reads
        as empty (its getters give their defaults)."""
        value = self.get(path, {} if optional else _MISSING)
        if not isinstance(value, dict):
            raise self.fault(path, value, "an object")
        return Manifest(value, self._name(path))

    def fields(self) -> list[str]:
        """The names this object holds, in file order."""
        return list(self.data)

    def number(
        self,
        path: str,
        *,
        gt: float | None = None,
        ge: float | None = None,
        lt: float | None = None,
        le: float | None = None,
        default: float = _MISSING,
    ) -> float:
        """A finite number (int or float in the file) within the bounds given."""
        value = self.get(path, default)
        if isinstance(value, bool) or not isinstance(value, (int, float)) or not _within(value, gt, ge, lt, le):
            raise self.fault(path, value, "a finite number" + _interval(gt, ge, lt, le))
        return float(value)

    def integer(self, path: str, *, ge: int | None = None, le: int | None = None, default: int = _MISSING) -> int:
        """A whole number (written without a fraction) within [ge, le]."""
        value = self.get(path, default)
        if isinstance(value, bool) or not isinstance(value, int) or not _within(value, None, ge, None, le):
            raise self.fault(path, value, "an integer" + _interval(None, ge, None, le))
        return value

    def flag(self, path: str, *, default: bool = _MISSING) -> bool:
        """true or false (never a number or a string read by its truthiness)."""
        value = self.get(path, default)
        if not isinstance(value, bool):
            raise self.fault(path, value, "true or false")
        return value

    def text(self, path: str, *, default: str = _MISSING) -> str:
        """A non-empty string."""
        value = self.get(path, default)
        if not isinstance(value, str) or not value:
            raise self.fault(path, value, "a non-empty string")
        return value

    def choice(self, path: str, options: tuple[str, ...], *, default: str = _MISSING) -> str:
        """One of `options`."""
        value = self.get(path, default)
        if not isinstance(value, str) or value not in options:
            raise self.fault(path, value, f"one of {', '.join(options)}")
        return value

    def _list(self, path: str, length: int | None, min_length: int, what: str) -> list:
        value = self.get(path)
        count = f"{length}" if length is not None else f"at least {min_length}"
        if not isinstance(value, list) or (len(value) != length if length is not None else len(value) < min_length):
            raise self.fault(path, value, f"a list of {count} {what}")
        return value

    def numbers(
        self,
        path: str,
        *,
        length: int | None = None,
        min_length: int = 1,
        gt: float | None = None,
        ge: float | None = None,
        lt: float | None = None,
        le: float | None = None,
    ) -> tuple[float, ...]:
        """A list of finite numbers within the bounds (exactly `length` of them, or at least `min_length`)."""
        what = "finite numbers" + _interval(gt, ge, lt, le)
        values = self._list(path, length, min_length, what)
        for index, v in enumerate(values):
            if isinstance(v, bool) or not isinstance(v, (int, float)) or not _within(v, gt, ge, lt, le):
                raise self.fault(f"{path}[{index}]", v, "a finite number" + _interval(gt, ge, lt, le))
        return tuple(float(v) for v in values)

    def integers(
        self, path: str, *, length: int | None = None, min_length: int = 1, ge: int | None = None, le: int | None = None
    ) -> tuple[int, ...]:
        """A list of integers within [ge, le] (exactly `length` of them, or at least `min_length`)."""
        values = self._list(path, length, min_length, "integers" + _interval(None, ge, None, le))
        for index, v in enumerate(values):
            if isinstance(v, bool) or not isinstance(v, int) or not _within(v, None, ge, None, le):
                raise self.fault(f"{path}[{index}]", v, "an integer" + _interval(None, ge, None, le))
        return tuple(values)

    def texts(self, path: str, *, length: int | None = None, min_length: int = 1) -> tuple[str, ...]:
        """A list of non-empty strings."""
        values = self._list(path, length, min_length, "non-empty strings")
        for index, v in enumerate(values):
            if not isinstance(v, str) or not v:
                raise self.fault(f"{path}[{index}]", v, "a non-empty string")
        return tuple(values)

    def square(self, path: str, *, le: int = 4096) -> int:
        """A square image size [n, n] in pixels -> n."""
        width, height = self.integers(path, length=2, ge=1, le=le)
        if width != height:
            raise self.fault(path, [width, height], "a square size [n, n]")
        return width

    def tensor(self, path: str, specs: list[TensorSpec]) -> int:
        """The position, among a model's inputs or outputs, of the tensor named at `path`."""
        names = tuple(t.name for t in specs)
        value = self.get(path)
        if value not in names:
            raise self.fault(path, value, f"the name of one of the model's tensors ({', '.join(names)})")
        return names.index(value)
