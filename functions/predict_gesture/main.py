"""predict_gesture: keypoint frames or photos -> gesture label.

POST a JSON body with `landmarks` (frames x 21 x [x, y(, z)], MediaPipe normalised image
coordinates), `features` (frames x F), `image` (a base64 photo) or `frames` (base64
photos), or a multipart form with files `image` or `frames`; optionally `model`, `top_k`,
`image_size` (landmarks), `return_landmarks` and `max_hands` (photos).
GET answers health; with the API key, each bundle's input contract too.
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
from shared.runtime.lazy import Lazy
from shared.settings import get_settings

if TYPE_CHECKING:
    from shared.gesture.service import GestureService

settings = get_settings()
edge = Edge("predict_gesture", settings)


def _load() -> GestureService:
    # Imported here, in the serving worker, as verify_face's pipeline is (see its main.py).
    from shared.gesture.service import GestureOptions, GestureService

    return GestureService.load(GestureOptions.from_settings(settings), edge.budget)


gestures: Lazy[GestureService] = Lazy("gesture models", _load, retry_s=settings.model_retry_s)
functions_framework.errorhandler(Exception)(edge.error)  # every exception -> JSON, in one place


@functions_framework.http
def predict_gesture(request: flask.Request) -> Any:
    if edge.is_health_check(request):
        # Local gesture bundles load in milliseconds, so the detailed report shows their
        # input contracts at once; gs:// bundles wait for the first prediction.
        return edge.health(request, gestures, load=not any(m.startswith("gs://") for m in settings.gesture_models))
    edge.admit(request)
    service = gestures.get()
    return edge.answer(service.predict(edge.read(request, service.request_spec())))
