"""One verify_face request's inputs -> the pipeline call -> its typed answer (`to_dict()` is the JSON).

The request shapes, by which fields are present besides the photo `img1`:

    img2 (a photo)             two photos: same person?            Verification
    img2 (a template object)   a photo and a stored template       the same, img1's face only
    references                 one photo against many templates    Search
    (neither)                  the photo's faces and templates      PhotoFaces
    gallery                    a server-side gallery (face/gallery.py: enrol, identify,
                               verify against a subject, erase)

Options: `return_embeddings` (true/false, default false) adds the photos' templates to a
comparison; `max_faces` (1..MAX_FACES, default 1) is for the photo-only shape; `far` (a
number: the false-accept rate whose calibrated threshold decides, operating.py) and
`quality_policy` ("report" or "reject", quality.py) are for comparisons. The fields
and their kinds are `request_spec`'s; the edge reads them (nothing coerced).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from shared.errors import BadRequest
from shared.face.options import QUALITY_POLICIES
from shared.face.results import PhotoFaces, Search, Verification
from shared.face.templates import read_references, read_template
from shared.face.verify import FaceVerifier
from shared.fields import Field, RequestSpec

if TYPE_CHECKING:
    from shared.face.gallery import Enrolment, Erasure, GalleryVerification, Identification
    from shared.gallery.options import GalleryAccess

MAX_FACES = 10
MAX_TEMPLATE_DIMS = 512  # the widest embedder the value count below allows for
VALUES_PER_REFERENCE = MAX_TEMPLATE_DIMS + 8  # numbers, the id, the tag strings (counted by commas)
KEYS_PER_REFERENCE = 16  # id, template, its 5 keys, and colons inside the strings


GALLERY_SPEC = (  # face/gallery.py judges them
    Field("gallery", "text"),
    Field("enroll", "json"),
    Field("subject", "text"),
    Field("delete", "json"),
    Field("top_k", "integer", low=1, high=100),
)


def request_spec(max_references: int) -> RequestSpec:
    """verify_face's request. Values and object keys are counted before parsing: the
    templates of `max_references` references and one img2, at MAX_TEMPLATE_DIMS numbers
    each, and the rest; keys apart (a key costs ten times a number once parsed). Floats
    are left to the C parser: templates check the ranges of theirs all at once."""
    fields = (
        Field("img1", "photo_or_json"),  # a photo; a template only to enrol in a gallery
        Field("img2", "photo_or_json"),  # a photo, or a stored template
        Field("references", "json"),
        Field("return_embeddings", "flag"),
        Field("max_faces", "integer", low=1, high=MAX_FACES),
        Field("far", "json"),  # a number in (0, 0.5]
        Field("quality_policy", "text"),
        *GALLERY_SPEC,
    )
    values = (max_references + 1) * VALUES_PER_REFERENCE + 64
    keys = (max_references + 1) * KEYS_PER_REFERENCE + 64
    return RequestSpec(fields, values, keys, float32_floats=False)


def answer(
    verifier: FaceVerifier, body: dict[str, Any], access: GalleryAccess | None = None
) -> Verification | Search | PhotoFaces | Enrolment | Identification | GalleryVerification | Erasure:
    """The answer to one request: `body` as shared/edge/reader.py read it by request_spec;
    `access`: what the request may do with galleries (none without it)."""
    if any(name in body for name in (f.name for f in GALLERY_SPEC)):
        if "gallery" not in body:
            sent = ", ".join(f.name for f in GALLERY_SPEC if f.name in body)
            raise BadRequest(f"{sent} needs gallery: the gallery to enrol in, identify among, verify against or erase from")
        from shared.face import gallery as galleries
        from shared.gallery.options import GalleryAccess, GalleryOptions

        return galleries.answer(verifier, body, access or GalleryAccess(GalleryOptions()))
    if "img1" not in body:
        raise BadRequest("missing field(s): img1; expected img1")
    if isinstance(body["img1"], dict):
        raise BadRequest("img1 must be a photo; a template in img1 is for enrolling in a gallery (gallery and enroll)")
    if not isinstance(body["img1"], bytes):
        raise BadRequest(f"img1 must be a base64 string, got {type(body['img1']).__name__}")
    img2 = body.get("img2")
    if img2 is not None and "references" in body:
        raise BadRequest("send either img2 or references, not both")
    if "max_faces" in body and (img2 is not None or "references" in body):
        raise BadRequest("max_faces is for a photo-only request (img1 alone); a comparison uses the selected face of each photo")
    if ("far" in body or "quality_policy" in body) and img2 is None and "references" not in body:
        raise BadRequest("far and quality_policy are for a comparison (img2 or references); a photo-only answer shows each face's quality")
    options = {"return_embeddings": body.get("return_embeddings", False), "far": read_far(body), "policy": read_policy(body)}
    if "references" in body:
        gallery = read_references(body["references"], verifier.tag, verifier.options.max_references)
        return verifier.search(body["img1"], gallery, **options)
    if isinstance(img2, bytes):
        return verifier.verify(body["img1"], img2, **options)
    if img2 is not None:
        return verifier.verify(body["img1"], read_template(img2, "img2", verifier.tag), **options)
    # A photo-only answer always holds its templates: return_embeddings changes nothing.
    return verifier.photo_faces(body["img1"], body.get("max_faces", 1))


def read_far(body: dict[str, Any]) -> float | None:
    """The request's `far`: a number in (0, 0.5], or None when absent."""
    if "far" not in body:
        return None
    far = body["far"]
    if isinstance(far, bool) or not isinstance(far, int | float) or not 0 < far <= 0.5:
        raise BadRequest(f"far must be a number in (0, 0.5] (a false-accept rate such as 0.001), got {far!r:.40}")
    return float(far)


def read_policy(body: dict[str, Any]) -> str:
    """The request's `quality_policy` ("" when absent: QUALITY_POLICY decides)."""
    policy = body.get("quality_policy", "")
    if "quality_policy" in body and policy not in QUALITY_POLICIES:
        raise BadRequest(f"quality_policy must be one of {', '.join(QUALITY_POLICIES)}, got {str(policy)!r:.40}")
    return str(policy)
