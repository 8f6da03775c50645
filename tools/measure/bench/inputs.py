"""Real inputs for the benchmark: face photos from the face-recognition sdist (fetched by
tools/testdata.py, cached outside git).

The ~1 MP pair is obama.jpg as shipped (910x1137) and obama3.jpg scaled down to ~1 MP;
the 12 MP pair is the same two photos cropped to 3:4 and upscaled to 3000x4000 (JPEG q90),
the size a phone camera sends.

Varied photos: the deepface test photos in ../shared/data/faces/deepface (63 JPEGs and one
WebP, 0.2-13 MP, baseline and progressive, portraits and groups), as they are: `varied_pairs`
pairs each photo with the next (n pairs, photos reused), `disjoint_pairs` pairs them two by
two so each photo is sent once (per-pair CPU with no photo seen twice).
"""

from __future__ import annotations

import base64
import io
from pathlib import Path

from PIL import Image

from tools import ROOT, testdata
from tools.measure.harness import Request, json_request, multipart_request

DEEPFACE = ("faces", "deepface")


def _jpeg(image: Image.Image, quality: int = 90) -> bytes:
    out = io.BytesIO()
    image.convert("RGB").save(out, "JPEG", quality=quality)
    return out.getvalue()


def _to_megapixels(image: Image.Image, megapixels: float) -> Image.Image:
    scale = (megapixels * 1e6 / (image.width * image.height)) ** 0.5
    return image.resize((round(image.width * scale), round(image.height * scale)), Image.LANCZOS)


def _to_12mp(image: Image.Image) -> Image.Image:
    """Crop to 3:4 portrait (keeping the top, where the face is), upscale to 3000x4000."""
    w, h = image.size
    if w * 4 > h * 3:
        cw = h * 3 // 4
        image = image.crop(((w - cw) // 2, 0, (w - cw) // 2 + cw, h))
    else:
        image = image.crop((0, 0, w, w * 4 // 3))
    return image.resize((3000, 4000), Image.LANCZOS)


def face_photo_pairs() -> dict[str, tuple[bytes, bytes]]:
    """{"1mp": (img1, img2), "12mp": (img1, img2)}: JPEG bytes of the same person."""
    folder = testdata.face_photos()
    a = Image.open(folder / "obama.jpg")
    b = Image.open(folder / "obama3.jpg")
    return {
        "1mp": ((folder / "obama.jpg").read_bytes(), _jpeg(_to_megapixels(b, 1.0))),
        "12mp": (_jpeg(_to_12mp(a)), _jpeg(_to_12mp(b))),
    }


def _check_verified(answer: dict) -> None:
    if answer.get("verified") is not True:
        raise RuntimeError(f"expected the same person to verify, got {str(answer)[:200]}")


def verify_request(pair: tuple[bytes, bytes], name: str) -> Request:
    return multipart_request(name, {"img1": pair[0], "img2": pair[1]}, _check_verified)


def gesture_available() -> bool:
    return (ROOT / "functions" / "predict_gesture" / "main.py").exists()


def hello_request() -> Request:
    return json_request("hello", {})


def varied_photos() -> list[bytes] | None:
    """The deepface photos' bytes (sorted by name), or None when ../shared/data is not beside the repo."""
    folder = testdata.shared_data(*DEEPFACE)
    if folder is None:
        return None
    paths = sorted(p for p in Path(folder).iterdir() if p.suffix.lower() in (".jpg", ".jpeg", ".png", ".webp"))
    return [p.read_bytes() for p in paths] or None


def _answered(answer: dict) -> None:
    if not isinstance(answer.get("verified"), bool):
        raise RuntimeError(f"expected a verification, got {str(answer)[:200]}")


def pair_request(name: str, a: bytes, b: bytes, as_json: bool) -> Request:
    """Two photos of anyone (the answer only has to be a verification), multipart or JSON base64."""
    if as_json:
        payload = {"img1": base64.b64encode(a).decode(), "img2": base64.b64encode(b).decode()}
        return json_request(name, payload, check=_answered)
    return multipart_request(name, {"img1": a, "img2": b}, _answered)


def varied_pairs(photos: list[bytes], n: int, as_json: bool) -> list[Request]:
    """n requests: photo i with photo i + 1, cycling through the set."""
    return [pair_request(f"varied {i}", photos[i % len(photos)], photos[(i + 1) % len(photos)], as_json) for i in range(n)]


def disjoint_pairs(photos: list[bytes]) -> list[Request]:
    """Photos two by two, each sent once (multipart)."""
    return [pair_request(f"disjoint {i // 2}", photos[i], photos[i + 1], False) for i in range(0, len(photos) - 1, 2)]
