"""verify_face against a server-side gallery (GALLERY_URL): a request with `gallery` ->
the store's call (shared/gallery/store.py) -> its typed answer.

    enroll {"id"}    img1 (a photo or a template) stored for the subject   Enrolment
                     (and "idempotency_key": stored once per key: a retry finds it)
    subject "id"     img1 (a photo) against the subject's templates        GalleryVerification
    delete {"id"}    every template of the subject erased                  Erasure
    (none of them)   img1 (a photo) identified among the gallery: top_k     Identification

Only the template is stored (the embedder's tag, 128 numbers, the time), never the photo.
A template of another embedder is refused at enrolment (templates.read_template: 422
template_mismatch), and the store only ever compares rows of this embedder's tag.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Any

from shared.errors import BadRequest, Forbidden, NotFound, ServiceUnavailable, Unauthorized
from shared.face.results import FaceEmbedding, Match, Verification
from shared.face.templates import MAX_ID_CHARS, read_template
from shared.face.verify import FaceVerifier
from shared.gallery.options import DIMS, GALLERY_NAME, GalleryAccess
from shared.gallery.store import Tag, gallery_store

ACTIONS = ("enroll", "subject", "delete")
GALLERY_FIELDS = ("gallery", *ACTIONS, "top_k")
NOT_WITH_GALLERY = ("img2", "references", "max_faces", "return_embeddings")
DEFAULT_TOP_K = 5
MAX_KEY_CHARS = 128  # an enrolment's idempotency key (a UUID is 36)


@dataclass(frozen=True)
class Enrolment:
    """A stored template. Attributes: gallery, subject, template_id (the row's id), templates
    (the subject's count now), tag (model, version, fingerprint), probe (the photo's face,
    None for a template), time_ms; replayed: None without an idempotency key, else whether
    the key's template was stored already (a retry)."""

    gallery: str
    subject: str
    template_id: int
    templates: int
    tag: Tag
    probe: FaceEmbedding | None
    time_ms: dict
    replayed: bool | None = None

    def to_dict(self) -> dict[str, Any]:
        replay = {} if self.replayed is None else {"replayed": self.replayed}
        out: dict[str, Any] = {
            "gallery": self.gallery,
            "enrolled": {"id": self.subject, "template_id": self.template_id, **self.tag._asdict(), **replay},
            "templates": self.templates,
            "model": self.tag.model,
        }
        if self.probe is not None:
            out["detector"] = self.probe.detector
            out["facial_areas"] = {"img1": self.probe.face.to_area()}
            out["faces_found"] = {"img1": self.probe.faces_found}
        return out | {"time_ms": self.time_ms}


@dataclass(frozen=True)
class Identification:
    """Who in the gallery this is. Attributes: matches (subjects at or under the threshold,
    nearest first, one entry each); best (the nearest subject, matching or not; None in an
    empty gallery); top_k; probe; time_ms. `identified` is best's id when it matches, else
    None: the explicit no-match."""

    gallery: str
    matches: list[Match]
    best: Match | None
    top_k: int
    threshold: float
    similarity_metric: str
    model: str
    probe: FaceEmbedding
    time_ms: dict

    def to_dict(self) -> dict[str, Any]:
        verified = self.best is not None and self.best.verified
        return {
            "gallery": self.gallery,
            "identified": self.best.id if verified and self.best is not None else None,
            "verified": verified,
            "best": None if self.best is None else self.best.to_dict(),
            "matches": [m.to_dict() for m in self.matches],
            "top_k": self.top_k,
            "threshold": self.threshold,
            "similarity_metric": self.similarity_metric,
            "model": self.model,
            "detector": self.probe.detector,
            "facial_areas": {"img1": self.probe.face.to_area()},
            "faces_found": {"img1": self.probe.faces_found},
            "time_ms": self.time_ms,
        }


@dataclass(frozen=True)
class GalleryVerification:
    """A photo against one subject's templates (the nearest decides). Attributes:
    verification (as a pair's answer, img1's face only), gallery, subject, templates (compared)."""

    verification: Verification
    gallery: str
    subject: str
    templates: int

    def to_dict(self) -> dict[str, Any]:
        return {"gallery": self.gallery, "subject": self.subject, "templates": self.templates, **self.verification.to_dict()}


@dataclass(frozen=True)
class Erasure:
    """Attributes: gallery, subject, deleted (templates erased; 0 when there were none)."""

    gallery: str
    subject: str
    deleted: int

    def to_dict(self) -> dict[str, Any]:
        return {"gallery": self.gallery, "deleted": {"id": self.subject, "templates": self.deleted}}


GalleryAnswer = Enrolment | Identification | GalleryVerification | Erasure


def answer(verifier: FaceVerifier, body: dict[str, Any], access: GalleryAccess) -> GalleryAnswer:
    """A gallery request (`body` as the edge read it, with `gallery`): checked, authorised, run."""
    gallery = _gallery_name(body)
    clash = [k for k in NOT_WITH_GALLERY if k in body]
    actions = [k for k in ACTIONS if k in body]
    if clash:
        allowed = "img1 and one of enroll, subject, delete (or none: identify)"
        raise BadRequest(f"{', '.join(clash)} cannot be sent with gallery; a gallery call takes {allowed}")
    if len(actions) > 1:
        raise BadRequest(f"send one of enroll, subject or delete, got {', '.join(actions)}")
    action = actions[0] if actions else "identify"
    if "top_k" in body and action != "identify":
        raise BadRequest("top_k is for identification (a gallery call without enroll, subject or delete)")
    if action == "delete" and "img1" in body:
        raise BadRequest("delete takes no img1: it erases every template of the subject")
    if action != "delete" and "img1" not in body:
        raise BadRequest(f"missing field(s): img1; expected img1 for {action}")
    subject = _subject(body[action], action) if action != "identify" else ""
    if action in ("identify", "subject") and not isinstance(body["img1"], bytes):
        raise BadRequest(f"img1 must be a photo to {action} (a template is for enroll)", code="invalid_template")
    _authorise(gallery, access)
    store = gallery_store(access.options)
    if action == "delete":
        return Erasure(gallery, subject, store.erase(gallery, subject))
    tag = _tag(verifier)
    started = time.perf_counter()
    img1 = body["img1"]
    if action == "enroll":
        probe = None if not isinstance(img1, bytes) else verifier.embed_photo(img1, "img1")
        vector = probe.embedding if probe is not None else read_template(img1, "img1", verifier.tag)
        stored = time.perf_counter()
        key = _idempotency_key(body["enroll"])
        done = store.enrol(gallery, subject, tag, vector, key)
        replayed = None if key is None else done.replayed
        return Enrolment(gallery, subject, done.template_id, done.templates, tag, probe, _times(probe, stored, started), replayed)
    probe = verifier.embed_photo(img1, "img1")
    searched = time.perf_counter()
    if action == "subject":
        found = store.subject_distance(gallery, subject, tag, probe.embedding)
        if found is None:
            raise NotFound(f"gallery {gallery!r} holds no template of subject {subject[:80]!r} from this embedder", code="unknown_subject")
        distance, templates = found
        return GalleryVerification(_verification(verifier, probe, distance, _times(probe, searched, started)), gallery, subject, templates)
    top_k = body.get("top_k", DEFAULT_TOP_K)
    rows = store.nearest(gallery, tag, probe.embedding, top_k)
    matches = _ranked(verifier, rows)
    return Identification(
        gallery=gallery,
        matches=[m for m in matches if m.verified],
        best=matches[0] if matches else None,
        top_k=top_k,
        threshold=verifier.threshold,
        similarity_metric=verifier.metric,
        model=verifier.embedder.bundle.name,
        probe=probe,
        time_ms=_times(probe, searched, started),
    )


def _gallery_name(body: dict[str, Any]) -> str:
    name = body["gallery"]
    if not isinstance(name, str) or not GALLERY_NAME.fullmatch(name):
        shown = name[:80] if isinstance(name, str) else type(name).__name__
        rule = "letters, digits, '_', '.' and '-' (up to 64, starting with a letter or digit)"
        raise BadRequest(f"gallery must be a name of {rule}, got {shown!r}")
    return name


def _subject(value: Any, action: str) -> str:
    """The subject id of enroll/delete ({"id": "..."}) or subject ("..."): 1..MAX_ID_CHARS
    printable characters (no control characters: Postgres text holds no NUL)."""
    if action != "subject":
        allowed = {"id", "idempotency_key"} if action == "enroll" else {"id"}
        if not isinstance(value, dict) or "id" not in value or not set(value) <= allowed:
            keys = sorted(value)[:5] if isinstance(value, dict) else type(value).__name__
            extra = ' (and "idempotency_key")' if action == "enroll" else ""
            raise BadRequest(f'{action} must be an object {{"id": "<subject>"}}{extra}, got {keys}')
        value = value["id"]
    where = "subject" if action == "subject" else f"{action}.id"
    if not isinstance(value, str) or not 1 <= len(value) <= MAX_ID_CHARS or not value.isprintable():
        raise BadRequest(f"{where} must be a string of 1 to {MAX_ID_CHARS} printable characters, got {str(value)[:40]!r}")
    return value


def _idempotency_key(enroll: dict[str, Any]) -> str | None:
    """enroll.idempotency_key: the client's key of this enrolment (1..MAX_KEY_CHARS printable
    characters, e.g. a UUID), or None."""
    key = enroll.get("idempotency_key")
    if key is not None and (not isinstance(key, str) or not 1 <= len(key) <= MAX_KEY_CHARS or not key.isprintable()):
        raise BadRequest(f"enroll.idempotency_key must be a string of 1 to {MAX_KEY_CHARS} printable characters, got {str(key)[:40]!r}")
    return key


def _authorise(gallery: str, access: GalleryAccess) -> None:
    if access.scope is not None and gallery not in access.scope:
        if not access.scope:
            raise Unauthorized(f"gallery {gallery!r} needs an API key scoped to it (X-API-Key)")
        raise Forbidden(f"this API key is not scoped to gallery {gallery!r}", code="gallery_forbidden")
    if not access.options.url:
        raise ServiceUnavailable("no gallery database is configured (GALLERY_URL)", code="gallery_not_configured")


def _tag(verifier: FaceVerifier) -> Tag:
    tag = verifier.tag
    if tag.dims != DIMS or verifier.metric != "cosine":
        message = f"galleries hold {DIMS}-number cosine templates; this function embeds with {tag.describe()}, {verifier.metric}"
        raise ServiceUnavailable(message, code="gallery_unsupported_embedder")
    return Tag(tag.model, tag.version, tag.fingerprint)


def _ranked(verifier: FaceVerifier, rows: list[tuple[str, float]]) -> list[Match]:
    """Rows (subject, distance), nearest first -> one Match per subject, nearest first."""
    seen: dict[str, Match] = {}
    confidence_of = verifier.embedder.contract.confidence_of
    for subject, d in rows:
        if subject not in seen:
            seen[subject] = Match(subject, d, bool(d <= verifier.threshold), confidence_of(d))
    return list(seen.values())


def _verification(verifier: FaceVerifier, probe: FaceEmbedding, distance: float, time_ms: dict) -> Verification:
    return Verification(
        verified=distance <= verifier.threshold,
        distance=distance,
        threshold=verifier.threshold,
        similarity_metric=verifier.metric,
        model=verifier.embedder.bundle.name,
        detector=probe.detector,
        faces={"img1": probe},
        time_ms=time_ms,
        confidence=verifier.embedder.contract.confidence_of(distance),
    )


def _times(probe: FaceEmbedding | None, stored: float, started: float) -> dict[str, Any]:
    now = time.perf_counter()
    out: dict[str, Any] = {"img1": probe.time_ms} if probe is not None else {}
    return out | {"gallery": round((now - stored) * 1000, 2), "total": round((now - started) * 1000, 2)}
