"""Embedding templates: a face embedding tagged with the embedder that made it, so a stored
template is only ever compared with embeddings of the same model, version and weights.

On the wire a template is::

    {"model": "face-embedder-sface", "version": "1.0.0", "fingerprint": "f4c1b6d9360f",
     "dims": 128, "values": [0.0123, -0.0456, ...]}

`fingerprint` is the first 12 hex digits of the embedder bundle's model sha256. `values`
are the float32 numbers written as the shortest decimals that read back as the same float32
(`str(np.float32(v))`), so a template sent back reproduces every distance exactly. Instead of
`values`, `values_b64` (base64 of the dims float32 numbers, little-endian) is accepted too:
about half the size. Nothing is coerced: a bool, a string, NaN or infinity, a wrong length
or a zero vector is refused (BadRequest, code "invalid_template"); a template of another
embedder is refused with code "template_mismatch" (422).
"""

from __future__ import annotations

import base64
import binascii
import itertools
from dataclasses import dataclass
from typing import Any

import numpy as np

from shared.errors import BadRequest, PayloadTooLarge, Unprocessable
from shared.runtime.bundle import Bundle

FINGERPRINT_HEX = 12  # 48 bits of the model's sha256: tells bundles apart, short enough to store
TAG_KEYS = ("model", "version", "fingerprint", "dims")
MAX_ID_CHARS = 256
FLOAT32_MAX = float(np.finfo(np.float32).max)


@dataclass(frozen=True)
class TemplateTag:
    """What identifies the embeddings of one embedder. Attributes: model (bundle name),
    version, fingerprint (FINGERPRINT_HEX hex digits of the model's sha256), dims."""

    model: str
    version: str
    fingerprint: str
    dims: int

    @classmethod
    def of(cls, bundle: Bundle, dims: int) -> TemplateTag:
        return cls(bundle.name, bundle.version, bundle.sha256[:FINGERPRINT_HEX], dims)

    def describe(self) -> str:
        return f"{self.model} {self.version} (fingerprint {self.fingerprint}, {self.dims} dims)"


@dataclass(frozen=True)
class Gallery:
    """Reference templates to search. Attributes: ids (client-given, unique), vectors (N, dims) float32."""

    ids: list[str]
    vectors: np.ndarray


def to_template(embedding: np.ndarray, tag: TemplateTag) -> dict[str, Any]:
    """The wire form of one (dims,) float32 embedding."""
    values = [float(str(v)) for v in np.asarray(embedding, np.float32).ravel()]  # shortest decimal that is the same float32
    return {"model": tag.model, "version": tag.version, "fingerprint": tag.fingerprint, "dims": tag.dims, "values": values}


@dataclass(frozen=True, eq=False)
class Template:
    """One embedding and the tag of the embedder that made it. Attributes: vector (dims,)
    float32; tag. `to_dict()` is its wire form (to_template)."""

    vector: np.ndarray
    tag: TemplateTag

    def to_dict(self) -> dict[str, Any]:
        return to_template(self.vector, self.tag)


def _invalid(message: str) -> BadRequest:
    return BadRequest(message, code="invalid_template")


def read_template(value: Any, where: str, tag: TemplateTag) -> np.ndarray:
    """A template from the wire -> (dims,) float32; refused, naming `where`, unless it is a
    well-formed template of the embedder `tag` describes."""
    payload = _payload(value, where, tag)
    vector = payload if isinstance(payload, np.ndarray) else _from_list(payload, where)
    if not np.any(vector):
        raise _invalid(f"{where} is a zero vector; no face embedding is")
    return vector


def _payload(value: Any, where: str, tag: TemplateTag) -> list | np.ndarray:
    """The template's numbers after its object, keys, tag and dims are checked: the `values`
    list as sent (its numbers still unchecked), or the checked vector of `values_b64`."""
    if not isinstance(value, dict):
        raise _invalid(f"{where} must be a template object with {', '.join(TAG_KEYS)} and values, got {type(value).__name__}")
    keys = set(value)
    payload = keys & {"values", "values_b64"}
    missing = [k for k in TAG_KEYS if k not in keys]
    unknown = sorted(keys - set(TAG_KEYS) - {"values", "values_b64"})
    if missing or unknown or len(payload) != 1:
        problems = [f"lacks {', '.join(missing)}"] * bool(missing) + [f"has unknown key(s) {', '.join(unknown)[:100]}"] * bool(unknown)
        if len(payload) != 1:
            problems.append("needs exactly one of values or values_b64")
        raise _invalid(f"{where} {'; '.join(problems)}")
    _check_tag(value, where, tag)
    dims = tag.dims
    if "values_b64" in value:
        return _from_base64(value["values_b64"], where, tag.dims)
    values = value["values"]
    if not isinstance(values, list):
        raise _invalid(f"{where}.values must be a list of {dims} numbers, got {type(values).__name__}")
    if len(values) != dims:
        raise _invalid(f"{where}.values holds {len(values)} numbers; expected {dims}")
    return values


def _check_tag(value: dict, where: str, tag: TemplateTag) -> None:
    """422 for a template (or packed gallery) of another embedder; 400 for a malformed tag."""
    for key in ("model", "version", "fingerprint"):
        if not isinstance(value[key], str):
            raise _invalid(f"{where}.{key} must be a string, got {type(value[key]).__name__}")
    if (value["model"], value["version"], value["fingerprint"]) != (tag.model, tag.version, tag.fingerprint):
        made_by = f"{value['model'][:80]} {value['version'][:40]} (fingerprint {value['fingerprint'][:40]})"
        raise Unprocessable(
            f"{where} was made by {made_by}; this function embeds with {tag.describe()}: templates of different "
            "embedders cannot be compared, embed the reference photo again",
            code="template_mismatch",
        )
    dims = value["dims"]
    if isinstance(dims, bool) or not isinstance(dims, int) or dims != tag.dims:
        raise _invalid(f"{where}.dims must be {tag.dims}, got {dims!r}"[:200])


def _from_base64(text: Any, where: str, dims: int) -> np.ndarray:
    if not isinstance(text, str):
        raise _invalid(f"{where}.values_b64 must be a base64 string, got {type(text).__name__}")
    try:
        raw = base64.b64decode(text, validate=True)
    except (binascii.Error, ValueError):
        raise _invalid(f"{where}.values_b64 is not valid base64") from None
    if len(raw) != dims * 4:
        raise _invalid(f"{where}.values_b64 holds {len(raw)} bytes; expected {dims} little-endian float32 = {dims * 4} bytes")
    vector = np.frombuffer(raw, dtype="<f4").astype(np.float32)
    if not np.all(np.isfinite(vector)):
        raise _invalid(f"{where}.values_b64 holds NaN or infinity")
    return vector


def _checked(rows: list[list], where: str) -> np.ndarray:
    """Lists of numbers (each of the right length) -> (N, D) float32, in C-level passes:
    numbers only (no bool, string, null or list), finite and within float32's range."""
    kinds = set(map(type, itertools.chain.from_iterable(rows)))
    if not kinds <= {float, int}:
        wrong = next(v for v in itertools.chain.from_iterable(rows) if type(v) not in (float, int))
        raise _invalid(f"{where} must hold numbers only, found {type(wrong).__name__} {str(wrong)[:40]!r}")
    matrix = np.array(rows, dtype=np.float64)
    if not np.all(np.abs(matrix) <= FLOAT32_MAX):  # also NaN and infinity (an overflowing 1e400 parses as inf)
        raise _invalid(f"{where} holds NaN, infinity or a number beyond float32's range (about 3.4e38)")
    return matrix.astype(np.float32)


def _from_list(values: list, where: str) -> np.ndarray:
    return _checked([values], f"{where}.values")[0]


def read_references(value: Any, tag: TemplateTag, max_references: int) -> Gallery:
    """`references` from the wire: a list of {"id": str, "template": template}, unique ids,
    at most `max_references` (413 over it). The numbers of all templates are checked
    together, in C-level passes; a failing check is then traced to its reference."""
    if isinstance(value, dict):
        return _read_packed(value, tag, max_references)
    if not isinstance(value, list):
        raise BadRequest(f"references must be a list of {{id, template}} objects or a packed gallery, got {type(value).__name__}")
    if not value:
        raise BadRequest("references is empty; send at least one {id, template} object")
    if len(value) > max_references:
        raise PayloadTooLarge(f"references holds {len(value)} templates; the limit is {max_references}", code="too_many_references")
    ids: list[str] = []
    vectors = np.empty((len(value), tag.dims), np.float32)
    listed: list[int] = []
    rows: list[list] = []
    for i, item in enumerate(value):
        where = f"references[{i}]"
        if not isinstance(item, dict) or set(item) != {"id", "template"}:
            got = sorted(item)[:5] if isinstance(item, dict) else type(item).__name__
            raise BadRequest(f"{where} must be an object with exactly id and template, got {got}")
        ref_id = item["id"]
        if not isinstance(ref_id, str) or not 1 <= len(ref_id) <= MAX_ID_CHARS:
            raise BadRequest(f"{where}.id must be a string of 1 to {MAX_ID_CHARS} characters, got {type(ref_id).__name__}")
        ids.append(ref_id)
        payload = _payload(item["template"], f"{where}.template", tag)
        if isinstance(payload, np.ndarray):
            vectors[i] = payload
        else:
            listed.append(i)
            rows.append(payload)
    if rows:
        try:
            vectors[listed] = _checked(rows, "references")
        except BadRequest:
            for i, row in zip(listed, rows, strict=True):  # name the first reference at fault
                _from_list(row, f"references[{i}].template")
            raise
    zero = np.flatnonzero(~np.any(vectors, axis=1))
    if len(zero):
        raise _invalid(f"references[{zero[0]}].template is a zero vector; no face embedding is")
    if len(set(ids)) != len(ids):
        seen: set[str] = set()
        dup = next(i for i in ids if i in seen or seen.add(i))  # type: ignore[func-returns-value]
        raise BadRequest(f"references holds the id {dup[:80]!r} more than once; ids must be unique")
    return Gallery(ids, vectors)


PACKED_KEYS = ("ids", *TAG_KEYS, "values_b64")


def _read_packed(value: dict, tag: TemplateTag, max_references: int) -> Gallery:
    """A packed gallery: {"ids": [...], model, version, fingerprint, dims, "values_b64": the
    N x dims float32 numbers, little-endian, row by row}: one tag and one string for all
    references, read without a loop per reference (about 0.7 KB a reference)."""
    if set(value) != set(PACKED_KEYS):
        got = ", ".join(sorted(value))[:200]
        raise _invalid(f"references as an object is a packed gallery with exactly {', '.join(PACKED_KEYS)}; got {got}")
    _check_tag(value, "references", tag)
    ids = value["ids"]
    if not isinstance(ids, list) or not ids:
        raise BadRequest(f"references.ids must be a non-empty list of strings, got {type(ids).__name__}")
    if len(ids) > max_references:
        raise PayloadTooLarge(f"references holds {len(ids)} templates; the limit is {max_references}", code="too_many_references")
    if not set(map(type, ids)) <= {str} or not 1 <= min(map(len, ids)) <= max(map(len, ids)) <= MAX_ID_CHARS:
        raise BadRequest(f"references.ids must hold strings of 1 to {MAX_ID_CHARS} characters")
    if len(set(ids)) != len(ids):
        raise BadRequest("references.ids holds an id more than once; ids must be unique")
    text = value["values_b64"]
    if not isinstance(text, str):
        raise _invalid(f"references.values_b64 must be a base64 string, got {type(text).__name__}")
    try:
        raw = base64.b64decode(text, validate=True)
    except (binascii.Error, ValueError):
        raise _invalid("references.values_b64 is not valid base64") from None
    if len(raw) != len(ids) * tag.dims * 4:
        expected = len(ids) * tag.dims * 4
        raise _invalid(f"references.values_b64 holds {len(raw)} bytes; {len(ids)} ids x {tag.dims} float32 = {expected} bytes")
    vectors = np.frombuffer(raw, dtype="<f4").astype(np.float32).reshape(len(ids), tag.dims)
    bad = np.flatnonzero(~np.all(np.isfinite(vectors), axis=1) | ~np.any(vectors, axis=1))
    if len(bad):
        raise _invalid(f"references.values_b64 row {bad[0]} ({ids[bad[0]][:80]!r}) holds NaN or infinity, or is a zero vector")
    return Gallery(list(ids), vectors)
