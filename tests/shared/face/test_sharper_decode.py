"""A face too small on the first decode is found again on a sharper one (issue 25, round
five): at the first decode's draft scale the JPEG is not decoded again (its kept draft-scale
image is shrunk to the larger side), and the pixels and the face are a fresh decode's."""

from __future__ import annotations

import io

import numpy as np
import pytest
from PIL import Image

import shared.images.decode as decode_module
from shared.face.verify import Stopwatch
from shared.images import decode_photo


def small_face(face_photos, scale: float) -> bytes:
    """biden.jpg shrunk onto a 1600x1200 canvas: libjpeg decodes it at 1/2 (800 px) for
    any side up to 1066, and at 640 px its face is under the embedder's 112 px chip."""
    photo = Image.open(face_photos / "biden.jpg").convert("RGB")
    canvas = Image.new("RGB", (1600, 1200), (120, 130, 140))
    canvas.paste(photo.resize((round(photo.width * scale), round(photo.height * scale))), (400, 0))
    out = io.BytesIO()
    canvas.save(out, "JPEG", quality=90)
    return out.getvalue()


@pytest.mark.parametrize("scale", [0.8, 0.6])
def test_a_sharper_decode_at_the_same_draft_scale_decodes_once(monkeypatch, verifier, face_photos, scale):
    data = small_face(face_photos, scale)
    first = decode_photo(data, name="img1", limits=verifier.options.decode, side=640)
    faces, _, _ = verifier.finder.locate(first.pixels)
    assert max(faces[0].box[2:]) < verifier.embedder.size  # the case: a second decode follows
    opens = []
    real = decode_module.Image.open
    monkeypatch.setattr(decode_module.Image, "open", lambda *a, **k: opens.append(1) or real(*a, **k))
    photo, found, _, _ = verifier.find_faces(data, "img1", Stopwatch())
    monkeypatch.undo()
    side = max(photo.pixels.shape[:2])
    assert 640 < side <= 800 and len(opens) == 1  # larger, from the one decode
    assert photo.source is None  # the draft-scale image is not kept past the detection
    fresh = decode_photo(data, name="img1", limits=verifier.options.decode, side=side)
    assert np.array_equal(photo.pixels, fresh.pixels) and photo.scale == fresh.scale
    want, _, _ = verifier.finder.locate(fresh.pixels)
    assert [f.box for f in found] == [f.box for f in want]
