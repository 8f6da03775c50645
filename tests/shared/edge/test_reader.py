"""The one body reader (shared/edge/reader.py): JSON and multipart bodies -> the typed
values a RequestSpec declares, by the same rules for both functions."""

from __future__ import annotations

import base64
import io
import json

import pytest
from werkzeug.test import EnvironBuilder

from shared.edge.reader import flag, integer, read
from shared.errors import BadRequest, PayloadTooLarge, UnsupportedMediaType
from shared.face.service import request_spec as verify_spec
from shared.fields import Field, RequestSpec
from shared.settings import MODELS_DIR

PHOTO = b"\xff\xd8\xff\xe0 not decoded here"
B64 = base64.b64encode(PHOTO).decode()


@pytest.fixture(scope="module")
def gesture_spec() -> RequestSpec:
    from shared.gesture.service import GestureOptions, GestureService

    return GestureService.load(GestureOptions(models=(str(MODELS_DIR / "finger-gesture"),))).request_spec()


def as_json(body: dict) -> object:
    return EnvironBuilder(method="POST", data=json.dumps(body), content_type="application/json").get_request()


def as_form(fields: dict) -> object:
    """A multipart form: bytes become file parts, str text parts, lists repeated parts."""
    data = {}
    for name, value in fields.items():
        values = value if isinstance(value, list) else [value]
        data[name] = [(io.BytesIO(v), f"{name}.jpg") if isinstance(v, bytes) else v for v in values]
    return EnvironBuilder(method="POST", data=data, content_type="multipart/form-data").get_request()


def test_a_verify_body_reads_the_same_as_json_and_as_a_form():
    spec = verify_spec(10)
    template = {"model": "m", "values": [0.5, -1.0]}
    from_json = read(as_json({"img1": B64, "img2": template, "return_embeddings": True}), spec, 2**20)
    from_form = read(as_form({"img1": PHOTO, "img2": json.dumps(template), "return_embeddings": "true"}), spec, 2**20)
    assert from_json == from_form == {"img1": PHOTO, "img2": template, "return_embeddings": True}
    assert read(as_form({"img1": B64, "max_faces": "3"}), spec, 2**20) == {"img1": PHOTO, "max_faces": 3}


def test_a_gesture_body_reads_the_same_as_json_and_as_a_form(gesture_spec):
    frames = [[0.1, 0.2], [0.3, None]]
    expected = {"features": frames, "model": "finger-gesture", "top_k": 2}
    from_json = read(as_json(expected), gesture_spec, 2**20)
    from_form = read(as_form({"features": json.dumps(frames), "model": "finger-gesture", "top_k": "2"}), gesture_spec, 2**20)
    assert from_json == from_form == expected
    photos = {"frames": [PHOTO, PHOTO], "return_landmarks": True, "max_hands": 2}
    assert read(as_json({**photos, "frames": [B64, B64]}), gesture_spec, 2**20) == photos
    assert read(as_form({"frames": [PHOTO, B64], "return_landmarks": "true", "max_hands": "2"}), gesture_spec, 2**20) == photos


@pytest.mark.parametrize(
    ("fields", "words"),
    [
        ({"img1": B64, "return_embeddings": "True"}, "not valid JSON"),  # a form's flag is JSON text
        ({"img1": B64, "max_faces": "2.0"}, "max_faces must be an integer from 1 to 10"),
        ({"img1": B64, "max_faces": "11"}, "max_faces must be an integer from 1 to 10"),
        ({"img1": [PHOTO, PHOTO]}, "img1 must be one file, got 2"),
        ({"img1": B64, "references": ["[]", "[]"]}, "references must be one field, got 2"),
        ({"img1": b""}, "img1 is empty"),
        ({"img1": B64, "references": " "}, "references is empty; expected JSON text"),
        ({"img1": "not*base64"}, "img1 is not valid base64"),
        ({"img1": B64, "extra": "1"}, "unknown field(s): extra"),
    ],
)
def test_bad_form_fields_are_named(fields, words):
    with pytest.raises(BadRequest, match=words.replace("(", r"\(").replace(")", r"\)")):
        read(as_form(fields), verify_spec(10), 2**20)


@pytest.mark.parametrize(
    ("body", "words"),
    [
        ({"img1": B64, "return_embeddings": "true"}, "return_embeddings must be true or false, got str 'true'"),
        ({"img1": B64, "return_embeddings": 1}, "return_embeddings must be true or false"),
        ({"img1": B64, "max_faces": True}, "max_faces must be an integer"),
        ({"img1": B64, "max_faces": 2.0}, "max_faces must be an integer"),
    ],
)
def test_json_values_are_never_coerced(body, words):
    with pytest.raises(BadRequest, match=words):
        read(as_json(body), verify_spec(10), 2**20)


@pytest.mark.parametrize(
    ("make", "words"),
    [
        (lambda: as_form({"img2": B64}), "missing field(s): img1"),
        (lambda: as_json({"img1": 1}), "img1 must be a base64 string, got int"),
        (lambda: as_json({"img1": {"model": "m"}}), "a template in img1 is for enrolling in a gallery"),
    ],
)
def test_img1_is_judged_by_the_verify_request_before_any_model(make, words):
    """img1 may be a template (to enrol in a gallery) and is absent from a gallery's delete,
    so face/service.py checks it, with the reader's words, before a model is asked."""
    from shared.face import service

    body = read(make(), verify_spec(10), 2**20)
    with pytest.raises(BadRequest, match=words.replace("(", r"\(").replace(")", r"\)")):
        service.answer(None, body)  # type: ignore[arg-type]


def test_counts_and_content_types_are_refused_before_parsing(gesture_spec):
    tiny = RequestSpec((Field("features", "json"),), max_values=10)
    with pytest.raises(PayloadTooLarge):
        read(as_json({"features": list(range(20))}), tiny, 2**20)
    with pytest.raises(PayloadTooLarge):
        read(as_form({"features": json.dumps(list(range(20)))}), tiny, 2**20)
    request = EnvironBuilder(method="POST", data=b"x=1", content_type="text/plain").get_request()
    with pytest.raises(UnsupportedMediaType):
        read(request, gesture_spec, 2**20)


def test_one_flag_and_one_integer_parser():
    assert flag(True, "f") is True and flag(False, "f") is False
    for value in ("true", 1, None, 0.0):
        with pytest.raises(BadRequest):
            flag(value, "f")
    assert integer(2, "n", 1, 2) == 2
    for value in (3, 0, True, "2", 2.0):
        with pytest.raises(BadRequest):
            integer(value, "n", 1, 2)


def test_a_spec_with_an_unknown_kind_is_a_bug():
    with pytest.raises(ValueError, match="unknown kind"):
        Field("x", "number")
