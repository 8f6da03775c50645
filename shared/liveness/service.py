"""verify_face's request shapes with liveness, on top of shared/face/service.py.

    {"liveness": "challenge"}            a new challenge: {"challenge": {"token", "actions", "expires_in_s"}}
    frames + challenge + img2            a burst that performed the challenge, its best frame
                                         matched against img2 (a photo or a template): the
                                         Verification with `liveness`; verified only when it passed
    anything else                        shared/face/service.py's shapes, unchanged

`frames`: 6 to MAX_LIVENESS_FRAMES photos (multipart file parts or base64 strings), in
the order they were taken, as the camera sees them (not mirrored). Without LIVENESS_SECRET
the liveness fields are refused with 403 `liveness_disabled`.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING, Any

from shared.errors import BadRequest, Forbidden, Unprocessable
from shared.face import service as face_service
from shared.face.results import Verification
from shared.face.templates import read_template
from shared.face.verify import FaceVerifier
from shared.fields import Field, RequestSpec

if TYPE_CHECKING:
    # Imported where a liveness request needs them: a plain verification's first answer
    # (the cold start) does not load the face mesh, the burst's measures or the tokens.
    from shared.facemesh.mesh import FaceMesh
    from shared.gallery.options import GalleryAccess
    from shared.liveness.burst import Burst
    from shared.liveness.token import Challenge, Challenges

LIVENESS_FIELDS = ("liveness", "frames", "challenge")


def request_spec(max_references: int) -> RequestSpec:
    """face/service.py's request, img1 optional (a burst replaces it), and the liveness fields."""
    spec = face_service.request_spec(max_references)
    fields = tuple(replace(f, required=False) if f.name == "img1" else f for f in spec.fields)
    extra = (Field("liveness", "text"), Field("frames", "photos"), Field("challenge", "text"))
    return RequestSpec((*fields, *extra), spec.max_values + 64, spec.max_keys, spec.float32_floats)


@dataclass(frozen=True)
class LiveVerification:
    """A Verification of a burst's best frame, with the liveness verdict. `verified` on the
    wire is the match's and the liveness's together. Attributes: verification (None when
    the best frame could not be matched: no face in it), burst."""

    verification: Verification | None
    burst: Burst

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {"verified": False}
        if self.verification is not None:
            out = self.verification.to_dict()
            out["match"] = self.verification.verified
            out["verified"] = self.verification.verified and self.burst.liveness.passed
            out["time_ms"] = {**out["time_ms"], "burst": self.burst.time_ms}
        out["liveness"] = {**self.burst.liveness.to_dict(), "frames": self.burst.frames}
        return out


@dataclass(frozen=True)
class ChallengeAnswer:
    challenge: Challenge
    now: float

    def to_dict(self) -> dict[str, Any]:
        return self.challenge.to_dict(self.now)


def answer(
    verifier: FaceVerifier,
    mesh: Callable[[], FaceMesh],
    challenges: Challenges | None,
    body: dict[str, Any],
    access: GalleryAccess | None = None,
) -> Any:
    """The answer to one request; `mesh` gives the face mesh (loaded on the first burst),
    `challenges` is None when liveness is off; `access`: what the request may do with
    galleries (face/service.py)."""
    asked = [name for name in LIVENESS_FIELDS if name in body]
    if not asked:
        return face_service.answer(verifier, body, access)
    if challenges is None:
        raise Forbidden("liveness is not enabled on this function (LIVENESS_SECRET is not set)", code="liveness_disabled")
    if "liveness" in body:
        if body["liveness"] != "challenge" or len(body) != 1:
            raise BadRequest('a challenge request is exactly {"liveness": "challenge"}')
        issued = challenges.issue()
        # Counted from the issue's own clock reading: a second reading, a moment later, could
        # cross a second and answer ttl - 1 to a challenge just issued.
        return ChallengeAnswer(issued, issued.issued_at)
    if "frames" not in body or "challenge" not in body:
        raise BadRequest("a liveness verification sends frames (the burst) and challenge (its token) together")
    if "img1" in body or "references" in body or "max_faces" in body:
        raise BadRequest("a liveness verification compares its frames with img2: send no img1, references or max_faces")
    img2 = body.get("img2")
    if img2 is None:
        raise BadRequest("a liveness verification needs img2: the photo or template to match the burst against")
    reference = img2 if isinstance(img2, bytes) else read_template(img2, "img2", verifier.tag)
    from shared.liveness.burst import Burst, check_burst

    challenge = challenges.redeem(body["challenge"])  # 4xx for a bad, forged, expired or reused token
    burst = check_burst(verifier, mesh(), body["frames"], challenge.actions, challenges.options)
    try:
        verification = verifier.verify(body["frames"][burst.best], reference, return_embeddings=body.get("return_embeddings", False))
    except Unprocessable as exc:
        if exc.code != "no_face" or burst.liveness.passed:
            raise
        verification = None
    return LiveVerification(
        verification, burst if verification is not None else Burst(burst.liveness, burst.best, burst.frames, burst.time_ms)
    )


__all__ = ["ChallengeAnswer", "LiveVerification", "answer", "request_spec"]
