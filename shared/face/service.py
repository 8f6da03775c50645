"""One verify_face request's inputs -> the pipeline call -> its typed answer (`to_dict()` is the JSON).

The request shapes, by which fields are present besides the photo `img1`:

    img2 (a photo)             two photos: same person?            Verification
    img2 (a template object)   a photo and a stored template       the same, img1's face only
    references                 one photo against many templates    Search
    (neither)                  the photo's faces and templates      PhotoFaces

Options: `return_embeddings` (true/false, default false) adds the photos' templates to a
comparison; `max_faces` (1..MAX_FACES, default 1) is for the photo-only shape. Options are
never coerced: "true", 1 or 2.0 are refused, not read as true or 2.
"""

from __future__ import annotations

from typing import Any

from shared.errors import BadRequest
from shared.face.results import PhotoFaces, Search, Verification
from shared.face.templates import read_references, read_template
from shared.face.verify import FaceVerifier

REQUIRED = ("img1",)
OPTIONAL = ("img2", "references", "return_embeddings", "max_faces")
FIELDS = (REQUIRED, OPTIONAL)
PHOTO_FIELDS = ("img1", "img2")
MAX_FACES = 10
MAX_TEMPLATE_DIMS = 512  # the widest embedder the value count below allows for
VALUES_PER_REFERENCE = MAX_TEMPLATE_DIMS + 8  # numbers, the id, the tag strings (counted by commas)


KEYS_PER_REFERENCE = 16  # id, template, its 5 keys, and colons inside the strings


def value_limits(max_references: int) -> tuple[int, int]:
    """(most JSON values, most object keys) a verify body may hold, counted before parsing:
    the templates of `max_references` references and one img2, at MAX_TEMPLATE_DIMS numbers
    each, and the rest. Keys are bounded apart: a key costs ten times a number once parsed."""
    return (max_references + 1) * VALUES_PER_REFERENCE + 64, (max_references + 1) * KEYS_PER_REFERENCE + 64


def _flag(values: dict[str, Any], name: str) -> bool:
    value = values.get(name, False)
    if not isinstance(value, bool):
        raise BadRequest(f"{name} must be true or false, got {type(value).__name__} {str(value)[:40]!r}")
    return value


def _max_faces(values: dict[str, Any]) -> int:
    value = values.get("max_faces", 1)
    if isinstance(value, bool) or not isinstance(value, int) or not 1 <= value <= MAX_FACES:
        raise BadRequest(f"max_faces must be an integer from 1 to {MAX_FACES}, got {str(value)[:40]}")
    return value


def answer(verifier: FaceVerifier, photos: dict[str, bytes], values: dict[str, Any]) -> Verification | Search | PhotoFaces:
    """The answer to one request: `photos` (field -> bytes) and `values` (field -> parsed JSON)."""
    if "img1" not in photos:
        raise BadRequest(f"img1 must be a base64 string, got {type(values.get('img1')).__name__}")
    if ("img2" in photos or "img2" in values) and "references" in values:
        raise BadRequest("send either img2 or references, not both")
    if "max_faces" in values and ("img2" in photos or "img2" in values or "references" in values):
        raise BadRequest("max_faces is for a photo-only request (img1 alone); a comparison uses the selected face of each photo")
    if "references" in values:
        gallery = read_references(values["references"], verifier.tag, verifier.options.max_references)
        return verifier.search(photos["img1"], gallery, return_embeddings=_flag(values, "return_embeddings"))
    if "img2" in photos:
        return verifier.verify(photos["img1"], photos["img2"], return_embeddings=_flag(values, "return_embeddings"))
    if "img2" in values:
        template = read_template(values["img2"], "img2", verifier.tag)
        return verifier.verify(photos["img1"], template, return_embeddings=_flag(values, "return_embeddings"))
    if "return_embeddings" in values:
        _flag(values, "return_embeddings")  # a photo-only answer always holds its templates; only refuse a non-boolean
    return verifier.photo_faces(photos["img1"], _max_faces(values))
