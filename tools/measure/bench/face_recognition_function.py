"""The peer in the benchmark: face verification with face_recognition 1.3.0 (dlib), served
through functions-framework the same way as ours.

What a user of that library writes: `load_image_file` (the whole photo, full size),
`face_locations` (dlib's HOG detector, one upsample: the library's default),
`face_encodings` of the first face found, `face_distance` against the library's 0.6.
It takes the same requests as verify_face: `img1` and `img2` as multipart files or as
base64 strings in a JSON body. Tools only: needs a Python with face-recognition==1.3.0,
face_recognition_models, dlib (the prebuilt dlib-bin wheel) and functions-framework:
.venvs/face-recognition (`make venv-face-recognition`); never a dependency of the functions.

Target: verify_face.
"""

from __future__ import annotations

import base64
import io

import face_recognition  # loads dlib's detector, 5-point shape predictor and ResNet at import
import functions_framework

TOLERANCE = 0.6  # face_recognition.compare_faces' default


def _photos(request) -> dict[str, bytes]:
    if request.files:
        return {name: request.files[name].read() for name in ("img1", "img2")}
    body = request.get_json(force=True)
    return {name: base64.b64decode(body[name].split(",", 1)[-1]) for name in ("img1", "img2")}


def _encoding(data: bytes):
    image = face_recognition.load_image_file(io.BytesIO(data))
    locations = face_recognition.face_locations(image)
    if not locations:
        return None
    return face_recognition.face_encodings(image, locations[:1])[0]


@functions_framework.http
def verify_face(request):
    if request.method == "GET":
        return {"status": "ok"}
    encodings = {name: _encoding(data) for name, data in _photos(request).items()}
    missing = [name for name, e in encodings.items() if e is None]
    if missing:  # answered, not refused: the benchmark counts work, and HOG misses some faces ours finds
        return {"verified": False, "no_face": missing, "model": "face_recognition 1.3.0"}
    distance = float(face_recognition.face_distance([encodings["img1"]], encodings["img2"])[0])
    return {"verified": distance <= TOLERANCE, "distance": distance, "threshold": TOLERANCE, "model": "face_recognition 1.3.0"}
