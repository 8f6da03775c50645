"""SSD maths of MediaPipe's BlazeFace detectors: anchors, decoding, weighted NMS (numpy only).

Each function mirrors one MediaPipe calculator and takes that calculator's options as
they are stored in a face-detection bundle's bundle.json (`postprocessing.anchors`,
`postprocessing.decoding`, `postprocessing.nms`):
- ssd_anchors: mediapipe/calculators/tflite/ssd_anchors_calculator.cc
- decode: mediapipe/calculators/tensor/tensors_to_detections_calculator.cc
- weighted_nms: mediapipe/calculators/util/non_max_suppression_calculator.cc (WEIGHTED)
Boxes and points are normalised to the model input ([0, 1] across its width/height).
"""

from __future__ import annotations

import numpy as np


def ssd_anchors(options: dict) -> np.ndarray:
    """Anchors as MediaPipe's SsdAnchorsCalculator makes them (non-multiscale path).

    Returns (N, 4) float32 rows (x_center, y_center, w, h), normalised to the input size.
    Layers with the same stride share one feature map; each cell gets one anchor per
    aspect ratio plus one interpolated-scale anchor when interpolated_scale_aspect_ratio > 0.
    """
    strides = list(options["strides"])
    if len(strides) != options["num_layers"]:
        raise ValueError(f"anchors: {options['num_layers']} layers but {len(strides)} strides")
    rows: list[np.ndarray] = []
    layer = 0
    while layer < len(strides):
        sizes, last = [], layer
        while last < len(strides) and strides[last] == strides[layer]:
            sizes += _layer_anchor_sizes(options, last, len(strides))
            last += 1
        rows.append(_grid(options, strides[layer], sizes))
        layer = last
    return np.concatenate(rows).astype(np.float32)


def _scale(options: dict, index: int, count: int) -> float:
    lo, hi = options["min_scale"], options["max_scale"]
    return (lo + hi) / 2 if count == 1 else lo + (hi - lo) * index / (count - 1.0)


def _layer_anchor_sizes(options: dict, index: int, count: int) -> list[tuple[float, float]]:
    """(w, h) of the anchors one layer adds to every cell of its feature map."""
    scale = _scale(options, index, count)
    if index == 0 and options.get("reduce_boxes_in_lowest_layer", False):
        pairs = [(1.0, 0.1), (2.0, scale), (0.5, scale)]
    else:
        pairs = [(float(r), scale) for r in options["aspect_ratios"]]
        ratio = options.get("interpolated_scale_aspect_ratio", 1.0)
        if ratio > 0:
            following = 1.0 if index == count - 1 else _scale(options, index + 1, count)
            pairs.append((ratio, float(np.sqrt(scale * following))))
    if options.get("fixed_anchor_size", False):
        return [(1.0, 1.0)] * len(pairs)
    return [(s * np.sqrt(r), s / np.sqrt(r)) for r, s in pairs]


def _grid(options: dict, stride: int, sizes: list[tuple[float, float]]) -> np.ndarray:
    """Anchors of one feature map, row-major (y, then x, then anchor), as MediaPipe orders them."""
    rows = int(np.ceil(options["input_size_height"] / stride))
    cols = int(np.ceil(options["input_size_width"] / stride))
    ys = (np.arange(rows) + options["anchor_offset_y"]) / rows
    xs = (np.arange(cols) + options["anchor_offset_x"]) / cols
    yy, xx = np.meshgrid(ys, xs, indexing="ij")
    centres = np.stack([xx.ravel(), yy.ravel()], axis=1)
    centres = np.repeat(centres, len(sizes), axis=0)
    wh = np.tile(np.asarray(sizes, dtype=np.float64), (rows * cols, 1))
    return np.concatenate([centres, wh], axis=1)


def decode(raw_boxes: np.ndarray, raw_scores: np.ndarray, anchors: np.ndarray, options: dict) -> tuple[np.ndarray, np.ndarray]:
    """Decode raw model outputs as MediaPipe's TensorsToDetectionsCalculator does.

    raw_boxes: (N, num_coords) per anchor: x, y, w, h offsets then keypoint (x, y) offsets,
    in input pixels (reverse_output_order). raw_scores: (N,) or (N, 1) logits.
    Returns boxes (N, 2 + K, 2) normalised to the input: row 0 (xmin, ymin), row 1
    (xmax, ymax), rows 2.. keypoints (x, y); and scores (N,) after the sigmoid.
    """
    raw = np.asarray(raw_boxes, dtype=np.float64).reshape(len(anchors), -1)
    off, kp_off, k = options["box_coord_offset"], options["keypoint_coord_offset"], options["num_keypoints"]
    scale = np.array([options["x_scale"], options["y_scale"]])
    size_scale = np.array([options["w_scale"], options["h_scale"]])
    centre_xy, anchor_wh = anchors[:, :2].astype(np.float64), anchors[:, 2:].astype(np.float64)
    if not options.get("reverse_output_order", True):
        raise ValueError("only reverse_output_order (x, y, w, h) models are supported")
    centre = raw[:, off : off + 2] / scale * anchor_wh + centre_xy
    half = raw[:, off + 2 : off + 4] / size_scale * anchor_wh / 2
    step = options["num_values_per_keypoint"]
    kps = raw[:, kp_off : kp_off + k * step].reshape(-1, k, step)[:, :, :2] / scale
    kps = kps * anchor_wh[:, None, :] + centre_xy[:, None, :]
    boxes = np.concatenate([(centre - half)[:, None], (centre + half)[:, None], kps], axis=1)
    return boxes, sigmoid_scores(raw_scores, options.get("score_clipping_thresh", 100.0))


def sigmoid_scores(raw_scores: np.ndarray, clip: float) -> np.ndarray:
    """Sigmoid of logits clipped to [-clip, clip] (MediaPipe's score_clipping_thresh).
    float64 so that exp(100) does not overflow."""
    logits = np.clip(np.asarray(raw_scores, dtype=np.float64).reshape(-1), -clip, clip)
    return 1.0 / (1.0 + np.exp(-logits))


def iou(box: np.ndarray, others: np.ndarray) -> np.ndarray:
    """Intersection over union of one (2, 2) [[xmin, ymin], [xmax, ymax]] box with (M, 2, 2)."""
    lo = np.maximum(box[0], others[:, 0])
    hi = np.minimum(box[1], others[:, 1])
    inter = np.prod(np.clip(hi - lo, 0, None), axis=1)
    area = lambda b: np.prod(np.clip(b[..., 1, :] - b[..., 0, :], 0, None), axis=-1)  # noqa: E731
    union = area(box) + area(others) - inter
    return np.where(union > 0, inter / np.where(union > 0, union, 1), 0.0)


def weighted_nms(boxes: np.ndarray, scores: np.ndarray, threshold: float) -> list[tuple[np.ndarray, float]]:
    """MediaPipe's WEIGHTED non-maximum suppression.

    Take the best remaining detection; every remaining one whose IoU with it is over
    `threshold` (MediaPipe: strictly greater) joins its cluster; the cluster's box and
    keypoints are the score-weighted mean, its score the best one's. Repeat on the rest.
    boxes: (N, 2 + K, 2) as from decode(); returns [(merged (2 + K, 2), score)], best first.
    """
    order = np.argsort(-scores, kind="stable")
    boxes, scores = boxes[order], scores[order]
    out = []
    while len(scores):
        members = iou(boxes[0, :2], boxes[:, :2]) > threshold
        members[0] = True  # a degenerate (zero-area) top box still stands for itself
        weights = scores[members]
        merged = np.tensordot(weights, boxes[members], axes=1) / weights.sum()
        out.append((merged, float(scores[0])))
        boxes, scores = boxes[~members], scores[~members]
    return out
