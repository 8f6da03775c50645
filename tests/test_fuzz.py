"""Property-based and fuzz tests of what reads client bytes: the photo decoder (random bytes,
real JPEG/PNG files with bit flips, truncations and spliced chunks, and the headers of
progressive JPEGs, TIFFs, WebPs and GIFs with fields overwritten), the request parsers in
shared/edge/requests.py, both functions' JSON bodies built from random structures, and
verify_face's templates, references and packed galleries (tags, dims, ids, float32 bit patterns).

The only allowed outcomes are success or a ServiceError with a 4xx status (an HTTP 4xx
through the functions), and each example's peak RSS growth and CPU time stay bounded. Example
counts are fixed and the search is derandomized, so CI runs the same examples every time.
"""

from __future__ import annotations

import base64
import json
import math
import os
import struct
import time

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from werkzeug.test import EnvironBuilder

from shared.edge import reader, requests
from shared.errors import ServiceError
from shared.images import DecodeLimits, decode_photo, inspect_image
from shared.state.memory import tune_malloc
from tools import ROOT
from tools.measure import hostile

# Pixel caps far above the defaults, so the memory budget is what stops a decode: every photo
# decoded is estimated under 48 MiB (shared/images/cost.py), which PEAK_MB then checks.
LIMITS = DecodeLimits(max_pixels=50_000_000, max_full_pixels=50_000_000, max_side=1280, max_decode_bytes=48 * 2**20)

PEAK_MB = 64.0  # per example; a 1280-px working copy of a photo is ~5 MB
CPU_S = 2.0  # per example; the CPU budget (max_decode_ms) is 1 s as estimated
FAST = {"deadline": None, "derandomize": True, "suppress_health_check": list(HealthCheck), "database": None}


@pytest.fixture(scope="module")
def real_files(face_photos) -> dict[str, bytes]:
    jpeg = (face_photos / "obama2.jpg").read_bytes()
    return {"jpeg": jpeg, "png": hostile.tiny(jpeg, 320), "png32": (face_photos / "32bit.png").read_bytes()}


# As served (Edge tunes malloc at start): big buffers are mapped apart and go back to the
# system when freed, so a decode measured again pays its own peak again.
tune_malloc(2, 1024 * 1024)


def _decode_once(data: bytes) -> tuple[float, float | None, float]:
    """(peak RSS growth MB, estimate MB or None when refused, CPU s) of one decode."""
    estimate_mb = None
    start = time.process_time()
    with hostile.peak_rss() as rss:
        try:
            photo = decode_photo(data, name="img1", limits=LIMITS)
            assert photo.pixels.ndim == 3 and photo.pixels.shape[2] == 3 and max(photo.pixels.shape[:2]) <= 1280
            estimate_mb = inspect_image(data, "img1", LIMITS).peak_bytes / 2**20
        except ServiceError as exc:
            assert 400 <= exc.status < 500, (exc.status, exc.message)
    return rss.growth_mb, estimate_mb, time.process_time() - start


def decode_or_4xx(data: bytes) -> None:
    """Decoded to an RGB array within the estimate, or refused with a 4xx; either way bounded.
    The peak is the whole test process's: a one-time cost of this process landing inside an
    example (seen once in CI, 29 MB around a 0.7 MB WebP decode, and gone when Hypothesis
    replayed it) is told apart from the decode's own by measuring an over-budget example
    once more; the decode must then fit."""
    growth, estimate_mb, cpu = _decode_once(data)
    budget = min(PEAK_MB, estimate_mb + 4 if estimate_mb is not None else PEAK_MB)
    if growth > budget:
        growth = min(growth, _decode_once(data)[0])
    assert growth < PEAK_MB, f"decoding {len(data)} bytes took {growth:.0f} MB"
    assert cpu < CPU_S, f"decoding {len(data)} bytes took {cpu:.2f} s of CPU"
    if estimate_mb is not None:
        assert growth <= estimate_mb + 4, f"decoding took {growth:.1f} MB, estimated {estimate_mb:.1f}"


# ---- the photo decoder -----------------------------------------------------------------


@settings(max_examples=300, **FAST)
@given(st.binary(max_size=4096))
def test_random_bytes_decode_or_4xx(data):
    decode_or_4xx(data)


MAGIC = [b"\xff\xd8\xff\xe0", b"\x89PNG\r\n\x1a\n", b"GIF89a", b"BM", b"II*\x00", b"MM\x00*", b"RIFF\x00\x00\x00\x00WEBPVP8 "]


@settings(max_examples=200, **FAST)
@given(st.sampled_from(MAGIC), st.binary(max_size=2048))
def test_random_bytes_behind_a_real_magic_number_decode_or_4xx(magic, rest):
    decode_or_4xx(magic + rest)


def mutate(data: bytes, flips: list[tuple[int, int]], cut: int | None, splice: tuple[int, int, int] | None) -> bytes:
    """Bit flips at (position fraction in 1/10000 of the file, bit); a truncation; a splice
    copying a slice of the file over another place (e.g. one PNG chunk over another)."""
    out = bytearray(data)
    if splice:
        src, dst, length = (v * len(out) // 10_000 for v in splice)
        out[dst : dst + length] = data[src : src + length]
    for where, bit in flips:
        # half the flips land in the first 1 KB, where headers and chunk tables live
        pos = where % 1024 if where % 2 else where * len(out) // 10_000
        if pos < len(out):
            out[pos] ^= 1 << bit
    if cut is not None:
        out = out[: cut * len(out) // 10_000]
    return bytes(out)


MUTATIONS = {
    "flips": st.lists(st.tuples(st.integers(0, 9_999), st.integers(0, 7)), max_size=8),
    "cut": st.none() | st.integers(0, 9_999),
    "splice": st.none() | st.tuples(st.integers(0, 9_999), st.integers(0, 9_999), st.integers(1, 500)),
}


@settings(max_examples=150, **FAST)
@given(kind=st.sampled_from(["jpeg", "png", "png32"]), **MUTATIONS)
def test_mutated_real_photos_decode_or_4xx(real_files, kind, flips, cut, splice):
    decode_or_4xx(mutate(real_files[kind], flips, cut, splice))


@settings(max_examples=60, **FAST)
@given(order=st.permutations(range(6)), drop=st.sets(st.integers(0, 5), max_size=2))
def test_png_with_chunks_reordered_or_dropped_decodes_or_4xx(real_files, order, drop):
    png = real_files["png"]
    chunks = [png[o : o + 12 + n] for o, n, _ in hostile.png_chunks(png)]
    picked = [chunks[i] for i in order if i < len(chunks) and i not in drop]
    decode_or_4xx(hostile.PNG_SIGNATURE + b"".join(picked))


HEADER_SEEDS = {  # kind -> the photo (320 px) and two rotations -> a real file whose headers hide costs
    "progressive jpeg": lambda im, more: hostile.encode(im, "JPEG", progressive=True),
    "progressive jpeg 4:4:4": lambda im, more: hostile.encode(im, "JPEG", progressive=True, subsampling=0),
    "jpeg of 60 scans": lambda im, more: hostile.jpeg_with_repeated_scans(60, side=320),
    "multi-page tiff": lambda im, more: hostile.encode(im, "TIFF", save_all=True, append_images=more),
    "deflate tiff": lambda im, more: hostile.encode(im, "TIFF", compression="tiff_adobe_deflate"),
    "bigtiff": lambda im, more: hostile.encode(im, "TIFF", big_tiff=True),
    "hand-built tiff": lambda im, more: hostile.tiff_pages(3),
    "lossy webp": lambda im, more: hostile.encode(im, "WEBP"),
    "lossless webp": lambda im, more: hostile.encode(im.convert("RGBA"), "WEBP", lossless=True),
    "animated webp": lambda im, more: hostile.encode(im, "WEBP", save_all=True, append_images=more),
    "gif": lambda im, more: hostile.encode(im.convert("P"), "GIF"),
    "animated gif": lambda im, more: hostile.encode(im.convert("P"), "GIF", save_all=True, append_images=more),
    "rle bmp": lambda im, more: hostile.bmp_rle8_rows(320, 240),
}


@pytest.fixture(scope="module")
def header_seeds(face_photos) -> dict[str, bytes]:
    from PIL import Image

    photo = Image.open(face_photos / "obama2.jpg").convert("RGB")
    photo.thumbnail((320, 320))
    more = [photo.rotate(90 * i) for i in range(1, 3)]
    return {kind: make(photo, more) for kind, make in HEADER_SEEDS.items()}


# Values that sizes, counts and offsets go wrong with, written over header fields.
INTERESTING = [0, 1, 2, 7, 8, 0x7F, 0x80, 0xFF, 0x100, 0x3FFF, 0x7FFF, 0x8000, 0xFFFF, 7000, 20_000, 0x7FFFFFFF, 0xFFFFFFFF]


def overwrite(data: bytes, edits: list[tuple[int, int, int, bool]]) -> bytes:
    """Each edit writes `value` as a `width`-byte integer (little- or big-endian) at `pos` in the first 512 bytes."""
    out = bytearray(data)
    for pos, width, value, little in edits:
        fmt = ("<" if little else ">") + {1: "B", 2: "H", 4: "I"}[width]
        if pos + width <= len(out):
            out[pos : pos + width] = struct.pack(fmt, value & (2 ** (8 * width) - 1))
    return bytes(out)


EDITS = st.lists(st.tuples(st.integers(0, 511), st.sampled_from([1, 2, 4]), st.sampled_from(INTERESTING), st.booleans()), max_size=4)


@settings(max_examples=400, **FAST)
@given(kind=st.sampled_from(list(HEADER_SEEDS)), edits=EDITS, **MUTATIONS)
def test_mutated_headers_decode_or_4xx_within_bounds(header_seeds, kind, edits, flips, cut, splice):
    """Sizes, counts, offsets and markers overwritten: refused from the headers, or decoded
    within the estimate, under 64 MB and 2 s."""
    decode_or_4xx(overwrite(mutate(header_seeds[kind], flips, cut, splice), edits))


@settings(max_examples=60, **FAST)
@given(side=st.integers(32, 8000), other=st.integers(32, 8000), subsampling=st.sampled_from([0, 1, 2]), scans=st.integers(10, 200))
def test_progressive_jpegs_of_any_declared_size_and_scan_count_are_bounded(side, other, subsampling, scans):
    """A real progressive header claiming side x other pixels, or a flat progressive file of
    `scans` scans: decoded (the data ends early: libjpeg fills in) or refused, within bounds."""
    decode_or_4xx(hostile.progressive_jpeg_claiming(side, other, subsampling=subsampling))
    decode_or_4xx(hostile.jpeg_with_repeated_scans(scans, side=min(side, 1024)))


# ---- the request parsers ---------------------------------------------------------------

JSON_VALUES = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=20),
    lambda inner: st.lists(inner, max_size=6) | st.dictionaries(st.text(max_size=8), inner, max_size=6),
    max_leaves=40,
)
FIELD_NAMES = st.sampled_from(["img1", "img2", "landmarks", "features", "model", "top_k", "image_size"]) | st.text(max_size=8)


def request_from(body: bytes, content_type: str):
    return EnvironBuilder(method="POST", data=body, content_type=content_type).get_request()


@settings(max_examples=250, **FAST)
@given(
    body=st.binary(max_size=512) | st.dictionaries(FIELD_NAMES, JSON_VALUES, max_size=5).map(lambda d: json.dumps(d).encode()),
    content_type=st.sampled_from(["application/json", "text/plain", "", "application/json; charset=latin-1", "multipart/form-data"]),
)
def test_request_parsers_accept_or_raise_4xx(body, content_type):
    from shared.face.service import request_spec

    try:
        values = reader.read(request_from(body, content_type), request_spec(10), 2**20)
        # img1 is optional to the reader (a gallery's delete has none; face/service.py says so)
        assert "img1" not in values or not isinstance(values["img1"], str | bytes) or (isinstance(values["img1"], bytes) and values["img1"])
    except ServiceError as exc:
        assert 400 <= exc.status < 500, exc.message


@settings(max_examples=200, **FAST)
@given(st.one_of(st.text(max_size=64), st.binary(max_size=48).map(lambda b: base64.b64encode(b).decode()), JSON_VALUES))
def test_decode_base64_returns_bytes_or_400(value):
    try:
        assert isinstance(requests.decode_base64(value, "img1"), bytes)
    except ServiceError as exc:
        assert exc.status == 400


# ---- both functions' JSON bodies, through functions-framework --------------------------


@pytest.fixture(scope="module")
def clients(face_photos):
    """Both apps, warmed: models load on first use, and that is not a per-request cost."""
    from functions_framework import create_app

    from shared.settings import get_settings

    # This test process holds both functions' models and hypothesis' data: far over what one
    # instance holds. The 512 MB memory guard would see "pressure" and collect garbage on
    # every request, which is its job in production and only slowness here.
    os.environ["MEMORY_LIMIT_MB"] = "8192"
    get_settings.cache_clear()
    out = {name: create_app(name, f"functions/{name}/main.py").test_client() for name in ("verify_face", "predict_gesture")}
    photo = base64.b64encode((face_photos / "obama2.jpg").read_bytes()).decode()
    assert out["verify_face"].post("/", json={"img1": photo, "img2": photo}).status_code == 200
    out["predict_gesture"].get("/")
    return out


def post_is_4xx_or_200(client, body) -> int:
    with hostile.peak_rss() as rss:
        r = client.post("/", data=json.dumps(body, allow_nan=True), content_type="application/json")
    text = r.get_data(as_text=True)
    assert r.status_code == 200 or 400 <= r.status_code < 500, f"{r.status_code}: {text[:300]} for {str(body)[:300]}"
    assert "Traceback" not in text
    assert rss.growth_mb < PEAK_MB
    return r.status_code


IMAGE_VALUES = st.binary(max_size=256).map(lambda b: base64.b64encode(b).decode()) | JSON_VALUES


@settings(max_examples=100, **FAST)
@given(
    st.fixed_dictionaries({}, optional={"img1": IMAGE_VALUES, "img2": IMAGE_VALUES})
    | st.dictionaries(FIELD_NAMES, IMAGE_VALUES, max_size=3)
)
def test_verify_face_random_json_bodies(clients, body):
    post_is_4xx_or_200(clients["verify_face"], body)


NUMBERS = st.floats(allow_nan=True, allow_infinity=True) | st.integers(-(10**30), 10**30) | st.none()
FRAME_ITEMS = NUMBERS | st.text(max_size=3) | st.booleans() | st.lists(NUMBERS, max_size=4)
FEATURE_FRAMES = st.lists(st.none() | st.lists(FRAME_ITEMS, min_size=0, max_size=44), max_size=40)
POINT = (
    st.lists(NUMBERS, min_size=1, max_size=4)
    | st.fixed_dictionaries({"x": NUMBERS, "y": NUMBERS}, optional={"z": NUMBERS, "w": NUMBERS})
    | FRAME_ITEMS
)
LANDMARK_FRAMES = st.lists(st.none() | st.lists(POINT, min_size=19, max_size=22), max_size=20)


@settings(max_examples=300, **FAST)
@given(
    st.fixed_dictionaries(
        {},
        optional={
            "features": FEATURE_FRAMES | JSON_VALUES,
            "landmarks": LANDMARK_FRAMES | JSON_VALUES,
            "model": st.sampled_from(["finger-gesture", "hand-sign", "", "../models/x", "gs://b/x"]) | JSON_VALUES,
            "top_k": st.integers(-2, 10) | JSON_VALUES,
            "image_size": st.lists(NUMBERS, max_size=3) | JSON_VALUES,
        },
    )
)
def test_predict_gesture_random_json_bodies(clients, body):
    post_is_4xx_or_200(clients["predict_gesture"], body)


def _photo_values() -> list[str]:
    """Base64 photo values: a real hand photo (plain and as a data URI), the same cut short,
    a broken GIF header, and strings that are not base64."""
    import base64

    from tools import testdata

    data = (testdata.hand_photos() / "pointer.jpg").read_bytes()
    good = base64.b64encode(data).decode()
    return [
        good,
        "data:image/jpeg;base64," + good,
        base64.b64encode(data[:400]).decode(),
        base64.b64encode(b"GIF89a" + b"\0" * 64).decode(),
        "",
        "!!",
        "data:,x",
    ]


PHOTOS = st.sampled_from(_photo_values())


@settings(max_examples=80, **FAST)
@given(
    st.fixed_dictionaries(
        {},
        optional={
            "image": PHOTOS | JSON_VALUES,
            "frames": st.lists(PHOTOS | JSON_VALUES, max_size=3) | JSON_VALUES,
            "landmarks": LANDMARK_FRAMES,
            "model": st.sampled_from(["finger-gesture", "hand-sign", "x"]),
            "top_k": st.integers(-1, 5),
            "return_landmarks": st.booleans() | JSON_VALUES,
            "max_hands": st.integers(-1, 3) | JSON_VALUES,
            "image_size": st.just([640, 480]),
        },
    )
)
def test_predict_gesture_random_photo_bodies(clients, body):
    post_is_4xx_or_200(clients["predict_gesture"], body)


@settings(max_examples=150, **FAST)
@given(frames=st.lists(st.lists(st.floats(-2, 2) | st.none(), min_size=2, max_size=2), min_size=1, max_size=64))
def test_predict_gesture_well_formed_features_always_answer(clients, frames):
    """Any 1..64 frames of 2 finite-or-missing (null) features for the default model: 200,
    or 422 when every frame is missing; never anything else. The same frames with NaN for
    null are not JSON: 400."""
    status = post_is_4xx_or_200(clients["predict_gesture"], {"features": frames})
    all_missing = all(v is None for f in frames for v in f)
    assert status == (422 if all_missing else 200)
    if not all_missing and any(v is None for f in frames for v in f):
        with_nan = [[math.nan if v is None else v for v in f] for f in frames]
        assert post_is_4xx_or_200(clients["predict_gesture"], {"features": with_nan}) == 400


def test_the_peak_meter_sees_a_known_allocation():
    """Every bound above trusts hostile.peak_rss(): it must see 40 MB touched inside its
    block (fresh pages from mmap, so memory malloc kept from earlier tests cannot hide it)."""
    import mmap

    with hostile.peak_rss() as rss, mmap.mmap(-1, 40 * 2**20) as block:
        for offset in range(0, len(block), mmap.PAGESIZE):
            block[offset] = 1
    assert 35 < rss.growth_mb < 80, rss.growth_mb


# ---- templates and references (issue 23): the verify_face shapes that carry no photo bytes ----

TAG = json.loads((ROOT / "models" / "face-embedder-sface" / "bundle.json").read_text())
GOOD_TAG = {"model": TAG["name"], "version": TAG["version"], "fingerprint": TAG["sha256"][:12], "dims": 128}
FLOAT32_BITS = st.integers(0, 2**32 - 1) | st.sampled_from([0x7FC00000, 0x7F800001, 0xFF800000, 0x80000000, 0x00000001, 0x7F7FFFFF])
TAG_VALUES = {
    "model": st.just(GOOD_TAG["model"]) | JSON_VALUES,
    "version": st.just(GOOD_TAG["version"]) | JSON_VALUES,
    "fingerprint": st.just(GOOD_TAG["fingerprint"]) | st.text(max_size=14),
    "dims": st.just(128) | st.sampled_from([0, -128, 127, 129, 512, 128.0, "128", True, 10**29]) | JSON_VALUES,
}
NUMBER_ITEMS = st.floats(width=32) | st.integers(-(10**30), 10**30) | st.none() | st.booleans() | st.text(max_size=2)
VALUES = st.lists(NUMBER_ITEMS, min_size=126, max_size=130)


def _b64_words(words: list[int]) -> str:
    return base64.b64encode(struct.pack(f"<{len(words)}I", *words)).decode()


VALUES_B64 = st.lists(FLOAT32_BITS, min_size=126, max_size=130).map(_b64_words) | st.text(max_size=40)


def _template_strategy():
    tag = st.fixed_dictionaries(TAG_VALUES)
    payload = st.fixed_dictionaries({"values": VALUES}) | st.fixed_dictionaries({"values_b64": VALUES_B64})
    extra = st.dictionaries(st.sampled_from(["norm", "values", "values_b64", "id"]), JSON_VALUES, max_size=1)
    return st.tuples(tag, payload, extra, st.sets(st.sampled_from(list(TAG_VALUES)), max_size=1)).map(
        lambda t: {k: v for k, v in {**t[0], **t[1], **t[2]}.items() if k not in t[3]}
    )


FINITE = st.lists(st.floats(-4, 4, width=32), min_size=128, max_size=128)
WELL_FORMED = FINITE.map(lambda v: {**GOOD_TAG, "values": v}) | FINITE.map(
    lambda v: {**GOOD_TAG, "values_b64": base64.b64encode(struct.pack("<128f", *v)).decode()}
)
TEMPLATES = WELL_FORMED | _template_strategy()  # a third well-formed: the comparison runs too
IDS = st.text(max_size=12) | st.integers() | st.none() | st.lists(st.text(max_size=3), max_size=2)
REFERENCES = (
    st.lists(st.fixed_dictionaries({"id": IDS, "template": TEMPLATES}) | JSON_VALUES, max_size=4)
    | st.builds(
        lambda ids, words, tag: {"ids": ids, **tag, "values_b64": _b64_words(words)},
        st.lists(IDS, max_size=4),
        st.lists(FLOAT32_BITS, max_size=4 * 128 + 2),
        st.fixed_dictionaries(TAG_VALUES),
    )
    | JSON_VALUES
)


@pytest.fixture(scope="module")
def probe(face_photos) -> str:
    return base64.b64encode((face_photos / "obama2.jpg").read_bytes()).decode()


@settings(max_examples=250, **FAST)
@given(
    st.fixed_dictionaries(
        {},
        optional={
            "img2": TEMPLATES | JSON_VALUES,
            "references": REFERENCES,
            "return_embeddings": st.booleans() | JSON_VALUES,
            "max_faces": st.integers(-1, 12) | JSON_VALUES,
        },
    )
)
def test_verify_face_random_templates_and_references(clients, probe, body):
    """A real probe photo (embedded once, then cached) with random templates, references and
    packed galleries: 200 with strict JSON (no NaN, every distance finite) or a 4xx, within
    the CPU and memory bounds."""
    started = time.process_time()
    status = post_is_4xx_or_200(clients["verify_face"], {"img1": probe, **body})
    assert time.process_time() - started < CPU_S
    if status == 200:
        r = clients["verify_face"].post("/", data=json.dumps({"img1": probe, **body}), content_type="application/json")
        answer = json.loads(r.get_data(as_text=True), parse_constant=lambda name: pytest.fail(f"{name} in an answer"))
        distances = [answer["distance"]] if "distance" in answer else [m["distance"] for m in answer.get("matches", [])]
        assert all(math.isfinite(d) and d >= 0 for d in distances), answer
