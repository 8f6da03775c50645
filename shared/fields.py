"""A function's request, declared: its fields, their kinds and the body's value counts.
Plain declarations, read by the edge's one body reader (shared/edge/reader.py, where the
kinds are explained); the pipelines' services declare theirs (`request_spec`).
"""

from __future__ import annotations

from dataclasses import dataclass

PHOTO_KINDS = ("photo", "photos", "photo_or_json")
KINDS = (*PHOTO_KINDS, "flag", "integer", "text", "json")


@dataclass(frozen=True)
class Field:
    """One request field. Attributes: name; kind (see the module docstring); required;
    low, high (an integer's inclusive range)."""

    name: str
    kind: str
    required: bool = False
    low: int = 0
    high: int = 0

    def __post_init__(self) -> None:
        if self.kind not in KINDS:
            raise ValueError(f"field {self.name}: unknown kind {self.kind!r}; expected one of {KINDS}")


@dataclass(frozen=True)
class RequestSpec:
    """A function's request. Attributes: fields; max_values and max_keys (most JSON values
    and object keys in the whole body, counted before parsing; max_keys None = as many as
    values); float32_floats (each float checked against float32's range as it is parsed;
    False leaves that to a caller that checks the floats it uses all at once)."""

    fields: tuple[Field, ...]
    max_values: int
    max_keys: int | None = None
    float32_floats: bool = True

    @property
    def required(self) -> tuple[str, ...]:
        return tuple(f.name for f in self.fields if f.required)

    @property
    def optional(self) -> tuple[str, ...]:
        return tuple(f.name for f in self.fields if not f.required)

    def field(self, name: str) -> Field:
        return next(f for f in self.fields if f.name == name)
