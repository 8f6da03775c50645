"""predict_gesture: keypoint frames -> gesture label.

POST a JSON body with `landmarks` (frames x 21 x [x, y(, z)], MediaPipe normalised image
coordinates) or `features` (frames x F), optionally `model`, `top_k` and `image_size`.
GET answers health and each bundle's input contract (labels, shapes, forms).
"""
from __future__ import annotations

import os
import sys

import functions_framework

# The library sits beside main.py in a staged deployment, two levels up in the repo.
_here = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, _here if os.path.isdir(os.path.join(_here, "shared")) else os.path.dirname(os.path.dirname(_here)))

from shared import http  # noqa: E402
from shared.errors import ServiceError  # noqa: E402
from shared.gesture.service import REQUEST_FIELDS, GestureService  # noqa: E402
from shared.health import health_report  # noqa: E402
from shared.lazy import Lazy  # noqa: E402
from shared.logs import setup_logging  # noqa: E402
from shared.memory import MemoryGuard  # noqa: E402
from shared.settings import get_settings  # noqa: E402

setup_logging()
settings = get_settings()
guard = MemoryGuard.from_settings(settings)
gestures: Lazy[GestureService] = Lazy("gesture models", lambda: GestureService.from_settings(settings), retry_s=settings.model_retry_s)


def _health() -> dict:
    # Gesture bundles load in milliseconds, so GET loads them to show their input contracts;
    # a failed load shows in the report's model state instead of failing the health answer.
    try:
        extra = gestures.get().describe()
    except ServiceError:
        extra = {}
    return health_report("predict_gesture", gestures, guard, settings, extra)


def _predict(request) -> dict:
    service = gestures.get()
    data = http.read_json(request, settings.max_request_bytes, service.max_values(settings.max_frames))
    http.check_fields(data, (), REQUEST_FIELDS)
    return service.predict(data, settings.max_frames).to_dict()


@functions_framework.http
def predict_gesture(request):
    return http.serve(request, work=_predict, health=_health, guard=guard, api_key=settings.api_key, name="predict_gesture")
