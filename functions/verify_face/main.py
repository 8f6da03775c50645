"""verify_face: two photos -> same person or not.

POST `img1` and `img2` as multipart files, or as base64 strings (data URIs allowed) in a
JSON body. GET answers health and model information.
"""
from __future__ import annotations

import os
import sys

import functions_framework

# The library sits beside main.py in a staged deployment, two levels up in the repo.
_here = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, _here if os.path.isdir(os.path.join(_here, "shared")) else os.path.dirname(os.path.dirname(_here)))

from shared import http  # noqa: E402
from shared.face.verify import FaceVerifier  # noqa: E402
from shared.health import health_report  # noqa: E402
from shared.lazy import Lazy  # noqa: E402
from shared.logs import setup_logging  # noqa: E402
from shared.memory import MemoryGuard  # noqa: E402
from shared.settings import get_settings  # noqa: E402

setup_logging()
settings = get_settings()
guard = MemoryGuard.from_settings(settings)
verifier: Lazy[FaceVerifier] = Lazy("face models", lambda: FaceVerifier.from_settings(settings), retry_s=settings.model_retry_s)
guard.on_pressure(lambda: verifier.ready and verifier.get().cache.clear())


def _health() -> dict:
    extra = {}
    if verifier.ready:
        v = verifier.get()
        extra = {"threshold": v.threshold, "similarity_metric": v.metric, "embedding_cache": v.cache.stats(),
                 "fallback_detector": v.fallback.status() if v.fallback else None}
    return health_report("verify_face", verifier, guard, settings, extra)


def _verify(request) -> dict:
    images = http.read_files(request, ("img1", "img2"), settings.max_request_bytes)
    return verifier.get().verify(images["img1"], images["img2"]).to_dict()


@functions_framework.http
def verify_face(request):
    return http.serve(request, work=_verify, health=_health, guard=guard, api_key=settings.api_key, name="verify_face")
