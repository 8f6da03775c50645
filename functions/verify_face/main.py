"""verify_face: two photos -> same person or not; a photo against stored templates; a photo's faces.

POST `img1` and `img2` as multipart files, or as base64 strings (data URIs allowed) in a
JSON body; `img2` may be a stored template instead, `references` many of them, and `img1`
alone returns its faces with their templates; with `gallery`, a server-side gallery
(GALLERY_URL): enrol, identify, verify against a subject, erase (shared/face/service.py,
shared/face/gallery.py). GET answers health
(details with the API key).
"""

from __future__ import annotations

import os
import sys
from typing import TYPE_CHECKING, Any

import flask
import functions_framework

# The library sits beside main.py in a staged deployment, two levels up in the repo.
_here = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, _here if os.path.isdir(os.path.join(_here, "shared")) else os.path.dirname(os.path.dirname(_here)))

from shared.edge import Edge
from shared.gallery.options import GalleryAccess, GalleryOptions
from shared.runtime.lazy import Lazy
from shared.settings import get_settings

if TYPE_CHECKING:
    from shared.face.verify import FaceVerifier
    from shared.facemesh.mesh import FaceMesh
    from shared.liveness.token import Challenges

settings = get_settings()
edge = Edge("verify_face", settings)
gallery_options = GalleryOptions.from_settings(settings)


def _load() -> FaceVerifier:
    # Imported here, in the serving worker: gunicorn's master imports this file before it
    # forks, and every page of numpy, Pillow and the library it held would stay resident
    # twice (the worker's writes copy them). ~20 MB of PSS.
    from shared.face.verify import FaceVerifier, VerifyOptions

    return FaceVerifier.load(VerifyOptions.from_settings(settings), edge.budget)


def _load_mesh() -> FaceMesh:
    from shared.facemesh.mesh import FaceMesh, FaceMeshOptions
    from shared.runtime.options import LoadOptions

    return FaceMesh.load(FaceMeshOptions(settings.face_landmark_model, load=LoadOptions.from_settings(settings)))


def _challenges() -> Challenges | None:
    from shared.liveness.options import LivenessOptions

    options = LivenessOptions.from_settings(settings)
    if not options.enabled:
        return None
    from shared.liveness.token import Challenges  # only where liveness is on

    return Challenges(options)


verifier: Lazy[FaceVerifier] = Lazy("face models", _load, retry_s=settings.model_retry_s)
mesh: Lazy[FaceMesh] = Lazy("face mesh", _load_mesh, retry_s=settings.model_retry_s)  # liveness only, on its first burst
challenges: Lazy[Challenges | None] = Lazy("liveness challenges", _challenges, retry_s=settings.model_retry_s)
edge.on_memory_pressure(lambda: verifier.get().drop_caches() if verifier.ready else None)
functions_framework.errorhandler(Exception)(edge.error)  # every exception -> JSON, in one place


@functions_framework.http
def verify_face(request: flask.Request) -> Any:
    if edge.is_health_check(request):
        return edge.health(request, verifier)
    edge.admit(request)
    from shared.liveness import service  # in the worker, on the first request (see _load)

    body = edge.read(request, service.request_spec(settings.max_references))
    access = GalleryAccess(gallery_options, edge.galleries())
    return edge.answer(service.answer(verifier.get(), mesh.get, challenges.get(), body, access))
