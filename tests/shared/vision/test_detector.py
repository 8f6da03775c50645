"""SSD detector plumbing on the real detectors: `raw_detections` decodes only the anchors
over the score threshold (issue 25), and must answer exactly as decoding all of them does."""

from __future__ import annotations

import numpy as np
import pytest
from PIL import Image

from shared.face.detect import FaceDetector
from shared.hands.palm import PalmDetector
from shared.runtime.bundle import load_bundle
from shared.settings import DEFAULT_FACE_DETECTOR, DEFAULT_FACE_DETECTOR_FALLBACK
from shared.vision.detector import input_tensor, raw_detections
from shared.vision.ssd import decode, weighted_nms

PALM = "models/hand-detector"


def every_anchor_decoded(model, tensor, head) -> list[tuple[np.ndarray, float]]:
    """The reference: all anchors decoded, then thresholded (what raw_detections did before)."""
    c = head.contract
    outputs = model.run(tensor[None])
    boxes, scores = decode(outputs[head.boxes_output][0], outputs[head.scores_output][0], head.anchors, c.decoding)
    keep = (scores >= c.min_score) & np.all(boxes[:, 1] > boxes[:, 0], axis=1)
    return weighted_nms(boxes[keep], scores[keep], c.nms_threshold)


@pytest.fixture(scope="module")
def detectors():
    face = [FaceDetector(load_bundle(src, task="face-detection")) for src in (DEFAULT_FACE_DETECTOR, DEFAULT_FACE_DETECTOR_FALLBACK)]
    return [*face, PalmDetector(load_bundle(PALM, task="hand-detection"))]


def images(face_photos) -> list[np.ndarray]:
    photos = sorted(p for p in face_photos.iterdir() if p.suffix.lower() in (".jpg", ".jpeg", ".png"))[:6]
    assert photos
    out = []
    for path in photos:
        with Image.open(path) as image:
            out.append(np.asarray(image.convert("RGB")))
    noise = np.random.default_rng(0).integers(0, 256, (200, 300, 3), dtype=np.uint8)  # no face, no palm
    return [*out, noise, np.zeros((64, 64, 3), np.uint8)]


def test_raw_detections_equal_every_anchor_decoded(detectors, face_photos):
    found = 0
    for detector in detectors:
        head, model = detector._head, detector.bundle.model
        for image in images(face_photos):
            tensor, _ = input_tensor(image, head.contract)
            ours, reference = raw_detections(model, tensor, head), every_anchor_decoded(model, tensor, head)
            assert len(ours) == len(reference)
            for (points, score), (want_points, want_score) in zip(ours, reference, strict=True):
                assert score == want_score and np.array_equal(points, want_points)
            found += len(ours)
    assert found > 0  # some photo had a face: the comparison was not of empty lists only
