"""The bad-input catalogue: hostile and broken requests to both functions through
functions-framework, each with its expected status and error code, and after each one the
same warm app still answers a valid request exactly as before (nothing poisoned).

No answer may be a 500 or carry a traceback. The decompression bomb and the oversized
bodies are also measured: peak RSS growth (kernel VmHWM) must stay under 10 MB. Streamed
(chunked) uploads need a real server, so those cases run functions-framework in a
subprocess on a loopback port.
"""

from __future__ import annotations

import base64
import http.client
import io
import json
import select
import struct
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import pytest
from functions_framework import create_app

from tools.measure import hostile

ROOT = Path(__file__).resolve().parents[2]
VERIFY = "functions/verify_face/main.py"
GESTURE = "functions/predict_gesture/main.py"
BOMB_RSS_MB = 10.0  # issue 7: bombs and oversized bodies are refused with < 10 MB RSS growth
HALF_TIER_MB = 256.0  # no single request may take half of the 512 MB instance
JSON_RSS_MB = 64.0  # a body under the 20 MB limit: about 3x its size is the most parsing should cost


@dataclass(frozen=True)
class Case:
    """One bad request. `request(photos_or_rows)` returns keyword arguments for client.open."""

    kind: str
    status: int
    code: str
    request: Callable[..., dict]
    marks: tuple = field(default=())


def b64(data: bytes) -> str:
    return base64.b64encode(data).decode()


def check_error(response, status: int, code: str) -> dict:
    """The answer is the expected JSON error, and nothing in it looks like a stack trace."""
    text = response.get_data(as_text=True)
    assert response.status_code == status, f"expected {status} {code}, got {response.status_code}: {text[:300]}"
    assert "Traceback" not in text and 'File "' not in text, text[:300]
    assert response.mimetype == "application/json", f"{response.mimetype}: {text[:200]}"
    body = response.get_json()
    assert body["error"]["code"] == code, body
    assert isinstance(body["error"]["message"], str) and body["error"]["message"], body
    return body


# ---- verify_face ----------------------------------------------------------------------


def _photos(photos) -> tuple[bytes, bytes]:
    return (photos / "obama.jpg").read_bytes(), (photos / "obama2.jpg").read_bytes()


def _json(**fields) -> dict:
    return {"data": json.dumps(fields), "content_type": "application/json"}


def _raw(data: bytes, content_type: str | None = "application/json") -> dict:
    return {"data": data, "content_type": content_type} if content_type else {"data": data}


def _multipart(**files) -> dict:
    return {"data": {k: (io.BytesIO(v), f"{k}.bin") for k, v in files.items()}, "content_type": "multipart/form-data"}


def _multipart_parts(**parts) -> dict:
    """A multipart form: bytes lists become (repeated) file parts, strings text parts."""
    data = {k: [(io.BytesIO(b), f"{k}{i}.bin") for i, b in enumerate(v)] if isinstance(v, list) else v for k, v in parts.items()}
    return {"data": data, "content_type": "multipart/form-data"}


def _img1(make: Callable[[bytes, bytes], bytes]) -> Callable:
    """JSON base64 request whose img1 is made from the real photos and img2 is a good photo."""

    def request(photos):
        a, b = _photos(photos)
        return _json(img1=b64(make(a, b)), img2=b64(b))

    return request


def _png(photos) -> bytes:
    return hostile.as_png((photos / "obama2.jpg").read_bytes())


# ---- templates and references (issue 14) ------------------------------------------------


def _tag(bundle: str = "face-embedder-sface") -> dict:
    meta = json.loads((ROOT / "models" / bundle / "bundle.json").read_text())
    return {"model": meta["name"], "version": meta["version"], "fingerprint": meta["sha256"][:12], "dims": 128}


def _template(**changes) -> dict:
    """A well-formed template of the served embedder (a unit vector), with `changes` applied
    (a value of None removes the key)."""
    out = {**_tag(), "values": [round(1 / 128**0.5, 8)] * 128, **changes}
    return {k: v for k, v in out.items() if v is not None}


def _with_img2(img2) -> Callable:
    return lambda p: _json(img1=b64(_photos(p)[0]), img2=img2)


def _raw_template(values_json: str) -> Callable:
    """img2 a template whose values list is written as raw JSON text (NaN, Infinity, 1e39)."""

    def request(photos):
        head = json.dumps({"img1": b64(_photos(photos)[0]), "img2": _template(values=[0.5] * 127)})
        return _raw(head.replace("[0.5, ", "[" + values_json + ", ", 1).encode())

    return request


def _refs(items) -> Callable:
    return lambda p: _json(img1=b64(_photos(p)[0]), references=items)


def _ref(i: int, **changes) -> dict:
    return {"id": f"r{i}", "template": _template(**changes)}


def _b64_floats(values) -> str:
    return base64.b64encode(struct.pack(f"<{len(values)}f", *values)).decode()


def _packed(n: int, **changes) -> dict:
    """A packed gallery of n unit vectors: {ids, tag, values_b64}, with `changes` applied."""
    return {"ids": [f"r{i}" for i in range(n)], **_tag(), "values_b64": _b64_floats([1 / 128**0.5] * (128 * n)), **changes}


TEMPLATE_CASES = [
    Case("img2 template is a bare list of numbers", 400, "invalid_template", _with_img2([0.1] * 128)),
    Case("img2 template lacks fingerprint", 400, "invalid_template", _with_img2(_template(fingerprint=None))),
    Case("img2 template has an unknown key", 400, "invalid_template", _with_img2(_template(norm=1.0))),
    Case("img2 template has values and values_b64", 400, "invalid_template", _with_img2(_template(values_b64=_b64_floats([0.1] * 128)))),
    Case("img2 template model is a number", 400, "invalid_template", _with_img2(_template(model=3))),
    Case("img2 template of another model (dlib)", 422, "template_mismatch", _with_img2({**_template(), **_tag("face-embedder-dlib")})),
    Case("img2 template of another version", 422, "template_mismatch", _with_img2(_template(version="0.9.0"))),
    Case("img2 template of other weights (fingerprint)", 422, "template_mismatch", _with_img2(_template(fingerprint="000000000000"))),
    Case("img2 template dims 512", 400, "invalid_template", _with_img2(_template(dims=512))),
    Case("img2 template dims true", 400, "invalid_template", _with_img2(_template(dims=True))),
    Case("img2 template of 127 values", 400, "invalid_template", _with_img2(_template(values=[0.1] * 127))),
    Case("img2 template of 129 values", 400, "invalid_template", _with_img2(_template(values=[0.1] * 129))),
    Case("img2 template values hold a string", 400, "invalid_template", _with_img2(_template(values=["0.1"] + [0.1] * 127))),
    Case("img2 template values hold a bool", 400, "invalid_template", _with_img2(_template(values=[True] + [0.1] * 127))),
    Case("img2 template values hold null", 400, "invalid_template", _with_img2(_template(values=[None] + [0.1] * 127))),
    Case("img2 template values hold a list", 400, "invalid_template", _with_img2(_template(values=[[0.1]] + [0.1] * 127))),
    Case("img2 template values is a string", 400, "invalid_template", _with_img2(_template(values="0.1," * 128))),
    Case("img2 template values hold NaN", 400, "bad_request", _raw_template("NaN")),
    Case("img2 template values hold Infinity", 400, "bad_request", _raw_template("-Infinity")),
    Case("img2 template values hold 1e39", 400, "invalid_template", _raw_template("1e39")),
    Case("img2 template values hold 1e400", 400, "invalid_template", _raw_template("1e400")),
    Case("img2 template is a zero vector", 400, "invalid_template", _with_img2(_template(values=[0] * 128))),
    Case("img2 template values_b64 is not base64", 400, "invalid_template", _with_img2(_template(values=None, values_b64="*not*"))),
    Case(
        "img2 template values_b64 of 127 floats",
        400,
        "invalid_template",
        _with_img2(_template(values=None, values_b64=_b64_floats([0.1] * 127))),
    ),
    Case(
        "img2 template values_b64 holding NaN",
        400,
        "invalid_template",
        _with_img2(_template(values=None, values_b64=_b64_floats([float("nan")] + [0.1] * 127))),
    ),
    Case("img1 is a template", 400, "bad_request", lambda p: _json(img1=_template(), img2=b64(_photos(p)[1]))),
    Case("references is an object (not a packed gallery)", 400, "invalid_template", _refs({"id": "a", "template": _template()})),
    Case("references is empty", 400, "bad_request", _refs([])),
    Case("reference without id", 400, "bad_request", _refs([{"template": _template()}])),
    Case("reference id is a number", 400, "bad_request", _refs([{"id": 7, "template": _template()}])),
    Case("reference id is empty", 400, "bad_request", _refs([{"id": "", "template": _template()}])),
    Case("reference ids repeat", 400, "bad_request", _refs([_ref(1), _ref(1)])),
    Case("reference with an extra key", 400, "bad_request", _refs([{**_ref(1), "name": "x"}])),
    Case("reference template of 5 values", 400, "invalid_template", _refs([_ref(1), _ref(2, values=[0.1] * 5)])),
    Case(
        "references of mixed models",
        422,
        "template_mismatch",
        _refs([_ref(1), {"id": "d", "template": {**_template(), **_tag("face-embedder-dlib")}}]),
    ),
    Case("1,001 references (MAX_REFERENCES is 1,000)", 413, "too_many_references", _refs([_ref(i) for i in range(1001)])),
    Case("packed gallery with too few bytes", 400, "invalid_template", _refs(_packed(3, values_b64=_b64_floats([0.1] * 300)))),
    Case("packed gallery with repeated ids", 400, "bad_request", _refs(_packed(2, ids=["a", "a"]))),
    Case("packed gallery of another model", 422, "template_mismatch", _refs(_packed(2, **_tag("face-embedder-dlib")))),
    Case("packed gallery of 1,001 ids", 413, "too_many_references", _refs(_packed(1001))),
    Case("references of 600,000 values", 413, "too_many_values", _refs([_ref(0, values=[0] * 600_000)])),
    Case(
        "img2 template and references together",
        400,
        "bad_request",
        lambda p: _json(img1=b64(_photos(p)[0]), img2=_template(), references=[_ref(1)]),
    ),
    Case(
        "img2 and references together",
        400,
        "bad_request",
        lambda p: _json(img1=b64(_photos(p)[0]), img2=b64(_photos(p)[1]), references=[_ref(1)]),
    ),
    Case(
        "return_embeddings is the string true",
        400,
        "bad_request",
        lambda p: {**_json(img1=b64(_photos(p)[0]), img2=b64(_photos(p)[1]), return_embeddings="true")},
    ),
    Case(
        "return_embeddings is 1", 400, "bad_request", lambda p: _json(img1=b64(_photos(p)[0]), img2=b64(_photos(p)[1]), return_embeddings=1)
    ),
    Case("max_faces 0", 400, "bad_request", lambda p: _json(img1=b64(_photos(p)[0]), max_faces=0)),
    Case("max_faces 11", 400, "bad_request", lambda p: _json(img1=b64(_photos(p)[0]), max_faces=11)),
    Case("max_faces 2.0", 400, "bad_request", lambda p: _json(img1=b64(_photos(p)[0]), max_faces=2.0)),
    Case("max_faces as a string", 400, "bad_request", lambda p: _json(img1=b64(_photos(p)[0]), max_faces="2")),
    Case("max_faces with img2", 400, "bad_request", lambda p: _json(img1=b64(_photos(p)[0]), img2=b64(_photos(p)[1]), max_faces=2)),
    Case(
        "multipart references that are not JSON",
        400,
        "bad_request",
        lambda p: {
            "data": {"img1": (io.BytesIO(_photos(p)[0]), "a.jpg"), "references": "ids: a, b"},
            "content_type": "multipart/form-data",
        },
    ),
    Case(
        "multipart return_embeddings yes",
        400,
        "bad_request",
        lambda p: {
            "data": {
                "img1": (io.BytesIO(_photos(p)[0]), "a.jpg"),
                "img2": (io.BytesIO(_photos(p)[1]), "b.jpg"),
                "return_embeddings": "yes",
            },
            "content_type": "multipart/form-data",
        },
    ),
]


VERIFY_CASES = [
    Case("empty body", 400, "bad_request", lambda p: _raw(b"")),
    Case("empty body without content type", 415, "unsupported_media_type", lambda p: _raw(b"", None)),
    Case("json without content type", 415, "unsupported_media_type", lambda p: _raw(json.dumps({"img1": "", "img2": ""}).encode(), None)),
    Case("text/plain content type", 415, "unsupported_media_type", lambda p: _raw(b"img1=x&img2=y", "text/plain")),
    Case("octet-stream photo", 415, "unsupported_media_type", lambda p: _raw(_photos(p)[0], "application/octet-stream")),
    Case("multipart without img1", 400, "bad_request", lambda p: _multipart(img2=_photos(p)[1])),
    Case("multipart with an extra file", 400, "bad_request", lambda p: _multipart(img1=_photos(p)[0], img2=_photos(p)[1], img3=b"x")),
    Case("multipart with an empty file", 400, "bad_request", lambda p: _multipart(img1=b"", img2=_photos(p)[1])),
    Case("multipart without boundary", 400, "bad_request", lambda p: _raw(b"--x\r\nnot really multipart", "multipart/form-data")),
    Case("json missing img1", 400, "bad_request", lambda p: _json(img2=b64(_photos(p)[1]))),
    Case("json extra unknown field", 400, "bad_request", lambda p: _json(img1=b64(_photos(p)[0]), img2=b64(_photos(p)[1]), model="x")),
    Case("json array instead of object", 400, "bad_request", lambda p: _raw(b"[1, 2]")),
    Case("json img1 is a number", 400, "bad_request", lambda p: _json(img1=1, img2=b64(_photos(p)[1]))),
    Case("json img1 is null", 400, "bad_request", lambda p: _json(img1=None, img2=b64(_photos(p)[1]))),
    Case("invalid base64", 400, "bad_request", lambda p: _json(img1="not*base64!", img2=b64(_photos(p)[1]))),
    Case("data uri without base64", 400, "bad_request", lambda p: _json(img1="data:image/jpeg,abc", img2=b64(_photos(p)[1]))),
    Case("empty base64", 400, "bad_request", lambda p: _json(img1="", img2=b64(_photos(p)[1]))),
    Case("malformed json", 400, "bad_request", lambda p: _raw(b'{"img1": "abc", ')),
    Case("non-utf8 bytes", 400, "bad_request", lambda p: _raw(b'{"img1": "\xff\xfe\xfa", "img2": "x"}')),
    Case("deeply nested json", 400, "bad_request", lambda p: _raw(b'{"img1": ' + b"[" * 100_000 + b"]" * 100_000 + b"}")),
    Case(
        "huge json object (300,000 keys)", 413, "too_many_values", lambda p: _raw(json.dumps({f"k{i}": 0 for i in range(300_000)}).encode())
    ),
    Case("huge json array (9 million items)", 413, "too_many_values", lambda p: _raw(b"[" + b"0," * (9 * 2**20) + b"0]")),
    Case("body over the size limit", 413, "payload_too_large", lambda p: _raw(b'{"img1": "' + b"A" * (21 * 2**20) + b'"}')),
    Case("base64 of a non-image", 415, "unsupported_image", _img1(lambda a, b: b"%PDF-1.4 this is not a photo" * 40)),
    Case("truncated jpeg", 400, "invalid_image", _img1(lambda a, b: a[: len(a) // 2])),
    Case("jpeg cut inside its header", 400, "invalid_image", _img1(lambda a, b: a[:300])),
    Case(
        "png with bad header crc",
        400,
        "invalid_image",
        lambda p: _json(img1=b64(hostile.png_bad_header_crc(_png(p))), img2=b64(_photos(p)[1])),
    ),
    Case(
        "png with mangled idat", 400, "invalid_image", lambda p: _json(img1=b64(hostile.png_mangled_idat(_png(p))), img2=b64(_photos(p)[1]))
    ),
    Case("animated gif", 422, "multi_frame_image", _img1(lambda a, b: hostile.animated_gif())),
    Case("multi-page tiff", 422, "multi_frame_image", _img1(lambda a, b: hostile.multipage_tiff(a))),
    Case("1x1 image", 422, "image_too_small", _img1(lambda a, b: hostile.tiny(a, 1))),
    Case("10x10 image", 422, "image_too_small", _img1(lambda a, b: hostile.tiny(a, 10, "JPEG"))),
    Case("png header claiming 50000x50000", 413, "image_too_large", _img1(lambda a, b: hostile.png_header_only(50_000, 50_000))),
    Case("bad photo in img2 only", 400, "invalid_image", lambda p: _json(img1=b64(_photos(p)[0]), img2=b64(_photos(p)[1][:2000]))),
    # Costs hidden behind small headers ("Hostile input, round two"): refused from the headers.
    Case(
        "progressive jpeg claiming 7000x7000 in 264 bytes",
        413,
        "image_too_large",
        _img1(lambda a, b: hostile.progressive_jpeg_claiming(7000, 7000)),
    ),
    Case(
        "baseline jpeg with a one-component first scan",
        413,
        "image_too_large",
        _img1(lambda a, b: hostile.multiscan_baseline_jpeg_claiming(7000, 7000)),
    ),
    Case("progressive jpeg of 1,000 scans", 422, "too_many_scans", _img1(lambda a, b: hostile.jpeg_with_repeated_scans(1000))),
    Case("jpeg with 5,000 comment segments", 422, "image_too_complex", _img1(lambda a, b: hostile.jpeg_with_comments(5000))),
    Case("lossless jpeg", 415, "unsupported_image", _img1(lambda a, b: hostile.jpeg_with_marker(0xC3))),
    Case("tiff of 20,000 pages", 422, "multi_frame_image", _img1(lambda a, b: hostile.tiff_pages(20_000))),
    Case(
        "two-page tiff, page 2 in compression 12345",
        422,
        "multi_frame_image",
        _img1(lambda a, b: hostile.tiff_pages(2, compression=[1, 12345])),
    ),
    Case("one-page tiff in compression 12345", 400, "invalid_image", _img1(lambda a, b: hostile.tiff_pages(1, compression=12345))),
    Case("tiff directory of 5,000 entries", 422, "image_too_complex", _img1(lambda a, b: hostile.tiff_pages(1, entries=5000))),
    Case("lossless webp 3400x3400 in 500 bytes", 413, "image_too_large", _img1(lambda a, b: hostile.webp_flat(3400, 3400))),
    Case("rle8 bmp 3400x3400 of one-pixel rows", 422, "image_too_complex", _img1(lambda a, b: hostile.bmp_rle8_rows(3400, 3400))),
    Case("png in 20,000 chunks", 422, "image_too_complex", _img1(lambda a, b: hostile.png_with_chunks(20_000))),
    Case("gif behind 200,000 comment sub-blocks", 422, "image_too_complex", _img1(lambda a, b: hostile.gif_with_comment_blocks(200_000))),
    Case("gif of 5,000 frames", 422, "multi_frame_image", _img1(lambda a, b: hostile.animated_gif_frames(5000))),
    Case("PUT instead of POST", 405, "method_not_allowed", lambda p: {**_json(img1="", img2=""), "method": "PUT"}),
    *TEMPLATE_CASES,
]


@pytest.fixture(scope="module")
def verify_client():
    return create_app("verify_face", VERIFY).test_client()


def fresh_copy(jpeg: bytes) -> bytes:
    """The same JPEG with bytes after its end marker: same pixels, new sha256, so the
    embedding cache cannot answer and the full pipeline runs."""
    fresh_copy.n = getattr(fresh_copy, "n", 0) + 1
    return jpeg + b"\0" * fresh_copy.n


@pytest.fixture(scope="module")
def verify_baseline(verify_client, face_photos) -> dict:
    a, b = _photos(face_photos)
    r = verify_client.post("/", **_json(img1=b64(fresh_copy(a)), img2=b64(fresh_copy(b))))
    assert r.status_code == 200, r.get_json()
    body = r.get_json()
    assert body["verified"] is True
    return body


def assert_verify_still_works(client, photos, baseline: dict) -> None:
    a, b = _photos(photos)
    r = client.post("/", **_multipart(img1=fresh_copy(a), img2=fresh_copy(b)))
    assert r.status_code == 200, r.get_json()
    body = r.get_json()
    assert "cache" not in body["time_ms"]["img1"] and "cache" not in body["time_ms"]["img2"]
    for key in ("verified", "distance", "threshold", "facial_areas", "faces_found", "model", "detector"):
        assert body[key] == baseline[key], key


@pytest.mark.parametrize("case", VERIFY_CASES, ids=[c.kind for c in VERIFY_CASES])
def test_verify_face_refuses_bad_input_and_keeps_serving(verify_client, verify_baseline, face_photos, case):
    kwargs = case.request(face_photos)
    check_error(verify_client.open("/", method=kwargs.pop("method", "POST"), **kwargs), case.status, case.code)
    assert_verify_still_works(verify_client, face_photos, verify_baseline)


# ---- predict_gesture -------------------------------------------------------------------


def _pairs(flat: list[float]) -> list[list[float]]:
    return [flat[i : i + 2] for i in range(0, len(flat), 2)]


def _history(rows) -> list[list[float]]:
    """16 frames x 2 features: a real point_history.csv row (the default bundle's input)."""
    return _pairs(rows["tracks"][0])


def _hand_landmarks(rows) -> list:
    """One frame of 21 [x, y, z] points in normalised image coordinates, from a real
    keypoint.csv row placed inside the frame."""
    hand = rows["hands"][0]
    return [[[0.5 + 0.15 * hand[2 * j], 0.6 + 0.15 * hand[2 * j + 1], 0.0] for j in range(21)]]


GESTURE_CASES = [
    Case("empty body", 400, "bad_request", lambda r: _raw(b"")),
    Case("json without content type", 415, "unsupported_media_type", lambda r: _raw(json.dumps({"features": _history(r)}).encode(), None)),
    Case("multipart with features as a file of broken JSON", 400, "bad_request", lambda r: _multipart(features=b"[[0.1, 0.2")),
    Case("multipart with two image files", 400, "bad_request", lambda r: _multipart_parts(image=[b"x", b"y"])),
    Case("multipart image that is not an image", 415, "unsupported_image", lambda r: _multipart(image=b"%PDF-1.4 not a photo" * 20)),
    Case("multipart frames with an empty one", 400, "bad_request", lambda r: _multipart_parts(frames=[b"x", b""])),
    Case("multipart max_hands 3", 400, "bad_request", lambda r: _multipart_parts(image=[b"x"], max_hands="3")),
    Case("json image is a number", 400, "bad_request", lambda r: _json(image=3, model="hand-sign")),
    Case("json image is invalid base64", 400, "bad_request", lambda r: _json(image="not*base64!", model="hand-sign")),
    Case("json image is a truncated gif", 400, "invalid_image", lambda r: _json(image=b64(hostile.animated_gif()[:40]), model="hand-sign")),
    Case("json image is an animated gif", 422, "multi_frame_image", lambda r: _json(image=b64(hostile.animated_gif()), model="hand-sign")),
    Case("json image claims 50000x50000", 413, "image_too_large", lambda r: _json(image=b64(hostile.png_header_only(50_000, 50_000)))),
    Case("json frames is a string", 400, "bad_request", lambda r: _json(frames="abc")),
    Case("json frames holds null", 400, "bad_request", lambda r: _json(frames=[None])),
    Case("json frames empty", 422, "no_frames", lambda r: _json(frames=[])),
    Case("json return_landmarks as a string", 400, "bad_request", lambda r: _json(image="AAAA", return_landmarks="false")),
    Case("json max_hands 2.0", 400, "bad_request", lambda r: _json(image="AAAA", max_hands=2.0)),
    Case("json return_landmarks with features", 400, "bad_request", lambda r: _json(features=_history(r), return_landmarks=True)),
    Case("text/plain content type", 415, "unsupported_media_type", lambda r: _raw(b"0.1,0.2", "text/plain")),
    Case("json array instead of object", 400, "bad_request", lambda r: _raw(json.dumps(_history(r)).encode())),
    Case("extra unknown field", 400, "bad_request", lambda r: _json(features=_history(r), camera="front")),
    Case("neither landmarks nor features", 400, "bad_request", lambda r: _json(model="hand-sign")),
    Case("both landmarks and features", 400, "bad_request", lambda r: _json(features=_history(r), landmarks=_hand_landmarks(r))),
    Case("features is a string", 400, "bad_request", lambda r: _json(features="0.1,0.2")),
    Case("Infinity inside frames", 400, "bad_request", lambda r: _raw(b'{"features": [[Infinity, 0.1], [0.2, 0.3]]}')),
    Case("1e999 inside frames", 400, "bad_request", lambda r: _raw(b'{"features": [[1e999, 0.1]]}')),
    Case("400-digit integer inside frames", 400, "bad_request", lambda r: _raw(b'{"features": [[1' + b"0" * 400 + b", 0.1]]}")),
    Case("strings inside frames", 400, "bad_request", lambda r: _json(features=[["0.1", "0.2"]] * 16)),
    Case("booleans inside frames", 400, "bad_request", lambda r: _json(features=[[True, False]] * 16)),
    Case("frames nested too deep", 400, "bad_request", lambda r: _json(features=[[[0.1], [0.2]]] * 16)),
    Case("all frames null", 422, "no_data", lambda r: _json(features=[[None, None], [None, None]])),
    Case("NaN token (not JSON)", 400, "bad_request", lambda r: _raw(b'{"features": [[NaN, NaN], [0.1, 0.2]]}')),
    Case("integer of 5000 digits", 400, "bad_request", lambda r: _raw(b'{"features": [[1' + b"0" * 5000 + b", 0.2]]}")),
    Case(
        "image_size of 10**400",
        400,
        "bad_request",
        lambda r: _raw(b'{"landmarks": [[[0.5, 0.5]]], "image_size": [1' + b"0" * 400 + b", 480]}"),
    ),
    Case("feature beyond float32", 400, "bad_request", lambda r: _raw(b'{"features": [[1e39, 0.2]]}')),
    Case("wrong feature count", 400, "bad_request", lambda r: _json(features=[[0.1, 0.2, 0.3]] * 16)),
    Case("wrong feature count for hand-sign", 400, "bad_request", lambda r: _json(features=_history(r), model="hand-sign")),
    Case("zero frames", 422, "no_frames", lambda r: _json(features=[])),
    Case("zero landmark frames", 422, "no_frames", lambda r: _json(landmarks=[])),
    Case("far too many frames", 413, "too_many_values", lambda r: _json(features=[[0.1, 0.2]] * 100_000)),
    Case("too many frames, few values", 413, "too_many_frames", lambda r: _json(features=[[0.1, 0.2]] * 2_000)),
    Case("20 landmarks per frame", 400, "bad_request", lambda r: _json(landmarks=[_hand_landmarks(r)[0][:20]])),
    Case("landmark with 4 coordinates", 400, "bad_request", lambda r: _json(landmarks=[[[0.1, 0.2, 0.3, 0.4]] * 21])),
    Case("landmark frame is an object", 400, "bad_request", lambda r: _json(landmarks=[{"x": 0.1, "y": 0.2}])),
    Case("landmark point with unknown keys", 400, "bad_request", lambda r: _json(landmarks=[[{"x": 0.1, "y": 0.2, "q": 1}] * 21])),
    Case("unknown model", 400, "unknown_model", lambda r: _json(features=_history(r), model="no-such-model")),
    Case("model given as a path", 400, "unknown_model", lambda r: _json(features=_history(r), model="../../models/hand-sign")),
    Case("model given as a gs:// URL", 400, "unknown_model", lambda r: _json(features=_history(r), model="gs://bucket/hand-sign")),
    Case("model is a number", 400, "unknown_model", lambda r: _json(features=_history(r), model=3)),
    Case("top_k zero", 400, "bad_request", lambda r: _json(features=_history(r), top_k=0)),
    Case("top_k over the label count", 400, "bad_request", lambda r: _json(features=_history(r), top_k=99)),
    Case("top_k as a string", 400, "bad_request", lambda r: _json(features=_history(r), top_k="2")),
    Case("top_k true", 400, "bad_request", lambda r: _json(features=_history(r), top_k=True)),
    Case("image_size with features", 400, "bad_request", lambda r: _json(features=_history(r), image_size=[640, 480])),
    Case(
        "image_size negative", 400, "bad_request", lambda r: _json(landmarks=_hand_landmarks(r), model="hand-sign", image_size=[-640, 480])
    ),
    Case("malformed json", 400, "bad_request", lambda r: _raw(b'{"features": [[0.1, 0.2], ')),
    Case("non-utf8 bytes", 400, "bad_request", lambda r: _raw(b'{"model": "\xff\xfe", "features": [[0.1, 0.2]]}')),
    Case("deeply nested json", 400, "bad_request", lambda r: _raw(b'{"features": ' + b"[" * 100_000 + b"]" * 100_000 + b"}")),
    Case(
        "body over the size limit",
        413,
        "payload_too_large",
        lambda r: _raw(b'{"features": [' + b"[0.1, 0.2]," * (2 * 2**20) + b"[0.1, 0.2]]}"),
    ),
    Case("PUT instead of POST", 405, "method_not_allowed", lambda r: {**_json(features=[[0.1, 0.2]]), "method": "PUT"}),
]


@pytest.fixture(scope="module")
def gesture_rows(gesture_examples) -> dict:
    return gesture_examples


@pytest.fixture(scope="module")
def gesture_client():
    return create_app("predict_gesture", GESTURE).test_client()


GOOD_GESTURES = {
    "history": lambda r: {"features": _history(r)},
    "hand-sign landmarks": lambda r: {"landmarks": _hand_landmarks(r), "model": "hand-sign", "top_k": 4},
    "one null frame among real ones": lambda r: {"features": [[None, None], *_history(r)[1:]]},
}


def _gesture_answers(client, rows) -> dict:
    out = {}
    for name, make in GOOD_GESTURES.items():
        r = client.post("/", data=json.dumps(make(rows)), content_type="application/json")
        assert r.status_code == 200, (name, r.get_json())
        body = r.get_json()
        body.pop("time_ms")
        out[name] = body
    return out


@pytest.fixture(scope="module")
def gesture_baseline(gesture_client, gesture_rows) -> dict:
    answers = _gesture_answers(gesture_client, gesture_rows)
    assert answers["one null frame among real ones"]["frames_missing"] == 1
    return answers


@pytest.mark.parametrize("case", GESTURE_CASES, ids=[c.kind for c in GESTURE_CASES])
def test_predict_gesture_refuses_bad_input_and_keeps_serving(gesture_client, gesture_baseline, gesture_rows, case):
    kwargs = case.request(gesture_rows)
    check_error(gesture_client.open("/", method=kwargs.pop("method", "POST"), **kwargs), case.status, case.code)
    assert _gesture_answers(gesture_client, gesture_rows) == gesture_baseline


def test_catalogue_has_at_least_30_kinds():
    kinds = {c.kind for c in VERIFY_CASES} | {c.kind for c in GESTURE_CASES}
    assert len(kinds) >= 30 and len(VERIFY_CASES) + len(GESTURE_CASES) >= 60


# ---- memory: measured on a fresh served process ----------------------------------------
# Freed memory stays resident in a warm process and would hide a later spike, so each
# measurement gets its own functions-framework process, warmed by one valid request.


def _post(server, body: bytes, content_type: str = "application/json") -> tuple[int, dict]:
    conn = http.client.HTTPConnection("127.0.0.1", server.port, timeout=120)
    conn.request("POST", "/", body=body, headers={"Content-Type": content_type})
    response = conn.getresponse()
    text = response.read().decode("utf-8", "replace")
    conn.close()
    assert "Traceback" not in text and 'File "' not in text, text[:300]
    return response.status, json.loads(text)


@pytest.fixture
def fresh_verify(face_photos):
    from tools.measure import harness

    server = harness.start("verify_face")
    a, b = _photos(face_photos)
    status, body = _post(server, json.dumps({"img1": b64(a), "img2": b64(b)}).encode())
    assert status == 200 and body["verified"] is True, body
    yield server
    server.stop()


def _measured(server, body: bytes) -> tuple[int, dict, float]:
    with hostile.peak_rss(server.serving_pid()) as rss:
        status, answer = _post(server, body)
    assert server.worker_pids() == server.started_workers, "the worker restarted"
    return status, answer, rss.growth_mb


def test_decompression_bomb_is_refused_without_a_memory_spike(fresh_verify, face_photos):
    body = json.dumps({"img1": b64(hostile.png_header_only(50_000, 50_000)), "img2": b64(_photos(face_photos)[1])}).encode()
    status, answer, growth = _measured(fresh_verify, body)
    assert (status, answer["error"]["code"]) == (413, "image_too_large"), answer
    assert growth < BOMB_RSS_MB, f"peak RSS grew {growth:.1f} MB"


@pytest.mark.parametrize("alpha", [False, True], ids=["rgb", "rgba"])
def test_small_png_expanding_to_49_megapixels_is_refused_from_its_header(fresh_verify, face_photos, alpha):
    """A ~200 KB flat PNG of 7000 x 7000 is under the JPEG pixel cap (50 MP) but expands
    to 147-196 MB of raw pixels: formats decoded at full size have their own, lower cap
    (MAX_FULL_DECODE_PIXELS, 12 MP), checked before any pixel is decoded."""
    bomb = hostile.png_flat(7000, 7000, alpha=alpha)
    assert len(bomb) < 300_000
    status, answer, growth = _measured(fresh_verify, json.dumps({"img1": b64(bomb), "img2": b64(_photos(face_photos)[1])}).encode())
    assert (status, answer["error"]["code"]) == (413, "image_too_large"), answer
    assert growth < BOMB_RSS_MB, f"a {len(bomb)} byte PNG took {growth:.0f} MB of peak RSS ({status} {answer})"


def test_png_just_under_the_full_decode_cap_stays_under_a_quarter_of_the_tier(fresh_verify, face_photos):
    """12 MP of RGBA (48 MB raw) is decoded, then shrunk before any other copy is made."""
    big = hostile.png_flat(3460, 3460, alpha=True)
    status, answer, growth = _measured(fresh_verify, json.dumps({"img1": b64(big), "img2": b64(_photos(face_photos)[1])}).encode())
    assert (status, answer["error"]["code"]) == (422, "no_face"), answer
    assert growth < HALF_TIER_MB / 2, f"a 12 MP PNG took {growth:.0f} MB of peak RSS"


def test_huge_json_array_costs_little_memory(fresh_verify):
    """18 MB of `[0,0,...]` (9 million items, under the 20 MB body limit) is refused from
    its value count before parsing; parsing it all first costs ~8 bytes per item and more."""
    status, answer, growth = _measured(fresh_verify, b"[" + b"0," * (9 * 2**20) + b"0]")
    assert (status, answer["error"]["code"]) == (413, "too_many_values"), answer
    assert growth < JSON_RSS_MB, f"peak RSS grew {growth:.0f} MB"


@pytest.fixture
def fresh_gesture():
    from tools.measure import harness

    server = harness.start("predict_gesture")
    yield server
    server.stop()


def test_a_million_frames_are_refused_without_a_memory_spike(fresh_gesture):
    """{"features": [[0,0], ...]} with 1.5 million frames: 9 MB, under the body limit;
    the issue's "one JSON body can hold a million frames"."""
    status, answer, growth = _measured(fresh_gesture, b'{"features": [' + b"[0,0]," * 1_500_000 + b"[0,0]]}")
    assert (status, answer["error"]["code"]) == (413, "too_many_values"), answer
    assert growth < JSON_RSS_MB, f"peak RSS grew {growth:.0f} MB"


# ---- oversized bodies against a real served process --------------------------------------

LIMIT = 2**20  # MAX_REQUEST_BYTES for the served processes below
UPLOAD = 64 * 2**20


@pytest.fixture(scope="module", params=["verify_face", "predict_gesture"])
def served(request):
    from tools.measure import harness

    server = harness.start(request.param, env={"MAX_REQUEST_BYTES": str(LIMIT)})
    yield server
    server.stop()


def _upload(
    server, *, chunked: bool, piece: int = 64 * 1024, method: str = "POST", content_type: str = "application/json"
) -> tuple[int, dict, int, float]:
    """Send a 64 MB JSON body (chunked or with Content-Length), stop sending as soon as an
    answer arrives; return (status, body, bytes sent, peak RSS growth of the worker in MB)."""
    pid = server.serving_pid()
    conn = http.client.HTTPConnection("127.0.0.1", server.port, timeout=60)
    conn.putrequest(method, "/")
    conn.putheader("Content-Type", content_type)
    conn.putheader("Transfer-Encoding" if chunked else "Content-Length", "chunked" if chunked else str(UPLOAD))
    conn.endheaders()
    head = b'{"landmarks": "' if server.function == "predict_gesture" else b'{"img1": "'
    sent = 0
    with hostile.peak_rss(pid) as rss:
        try:
            while sent < UPLOAD:
                data = (head if sent == 0 else b"") + b"A" * (piece - (len(head) if sent == 0 else 0))
                conn.send(b"%x\r\n%s\r\n" % (len(data), data) if chunked else data)
                sent += len(data)
                if select.select([conn.sock], [], [], 0)[0]:
                    break  # the server has answered: stop streaming
        except (BrokenPipeError, ConnectionResetError):
            pass  # the server closed the connection after answering
        response = conn.getresponse()
        text = response.read().decode("utf-8", "replace")
    conn.close()
    assert "Traceback" not in text and 'File "' not in text, text[:300]
    try:
        body = json.loads(text)
    except ValueError:
        body = {"raw": text[:300]}
    return response.status, body, sent, rss.growth_mb


@pytest.mark.parametrize("chunked", [False, True], ids=["content-length", "chunked"])
def test_oversized_body_is_refused_while_streaming(served, chunked):
    status, body, sent, growth = _upload(served, chunked=chunked)
    assert status == 413, (status, body)
    assert body["error"]["code"] == "payload_too_large", body
    assert sent < UPLOAD / 2, f"the answer came only after {sent} of {UPLOAD} bytes were sent"
    assert growth < BOMB_RSS_MB, f"worker peak RSS grew {growth:.1f} MB"
    assert served.alive() and served.worker_pids() == served.started_workers


@pytest.mark.parametrize(
    "method, content_type, status",
    [
        ("GET", "application/json", 200),  # health with a body nobody asked for
        ("PUT", "application/json", 405),
        ("POST", "text/plain", 415),
    ],
)
@pytest.mark.parametrize("chunked", [False, True], ids=["content-length", "chunked"])
def test_early_refusals_read_nothing(served, method, content_type, status, chunked):
    """Answered before the body is needed: the 64 MB body is never read (functions-framework's
    after-request hook would buffer it all), and the connection is closed. A declared length
    over MAX_REQUEST_BYTES is a 413 whatever the method; a chunked body declares none."""
    got, body, sent, growth = _upload(served, chunked=chunked, method=method, content_type=content_type)
    assert got == (status if chunked else 413), (got, body)
    assert sent < UPLOAD / 2, f"the answer came only after {sent} of {UPLOAD} bytes were sent"
    assert growth < BOMB_RSS_MB, f"worker peak RSS grew {growth:.1f} MB"


def test_missing_api_key_reads_nothing():
    from tools.measure import harness

    server = harness.start("predict_gesture", env={"MAX_REQUEST_BYTES": str(LIMIT), "API_KEY": "k"})
    try:
        status, body, sent, growth = _upload(server, chunked=True)
        assert (status, body["error"]["code"]) == (401, "unauthorized")
        assert sent < UPLOAD / 2 and growth < BOMB_RSS_MB, (sent, growth)
    finally:
        server.stop()


def test_served_function_still_answers_after_oversized_bodies(served, face_photos):
    import urllib.request

    for chunked in (True, False):
        _upload(served, chunked=chunked)
    with urllib.request.urlopen(served.url, timeout=30) as r:
        assert r.status == 200 and json.loads(r.read())["function"] == served.function
    assert served.worker_pids() == served.started_workers
