"""SSD detector plumbing shared by MediaPipe's face (BlazeFace) and palm detectors.

A detector bundle's bundle.json (task face-detection or hand-detection)::

    "preprocessing": {"input_size": [128, 128], "pad_value": 0, "value_range": [-1.0, 1.0]},
    "postprocessing": {"output_tensors": {"boxes": "regressors", "scores": "classificators"},
                       "anchors": {... SsdAnchorsCalculator options ...},
                       "decoding": {... TensorsToDetectionsCalculator options ...},
                       "nms": {"min_suppression_threshold": 0.3}}

`DetectorContract.read` checks every field the maths uses (runtime/manifest.py), `ssd_head`
checks them against the model's tensors and builds the anchors once, and `raw_detections`
runs the model on one input tensor and returns MediaPipe's detections: decoded against
the anchors (vision/ssd.py), over the score threshold, merged by weighted NMS.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from shared.runtime.bundle import Bundle, image_input
from shared.runtime.manifest import Manifest
from shared.runtime.tflite import Model
from shared.vision.geometry import Letterbox, letterbox
from shared.vision.ssd import decode, sigmoid_scores, ssd_anchors, weighted_nms

MAX_BOXES = 100_000  # far above any MediaPipe detector (BlazeFace full: 2304): a typo, not a model


def _anchor_options(m: Manifest) -> dict[str, Any]:
    """SsdAnchorsCalculator's options (vision/ssd.py: ssd_anchors), each one checked."""
    layers = m.integer("num_layers", ge=1, le=16)
    return {
        "num_layers": layers,
        "strides": list(m.integers("strides", length=layers, ge=1, le=4096)),
        "input_size_height": m.integer("input_size_height", ge=1, le=4096),
        "input_size_width": m.integer("input_size_width", ge=1, le=4096),
        "min_scale": m.number("min_scale", gt=0, le=10),
        "max_scale": m.number("max_scale", gt=0, le=10),
        "anchor_offset_x": m.number("anchor_offset_x", ge=0, le=1),
        "anchor_offset_y": m.number("anchor_offset_y", ge=0, le=1),
        "aspect_ratios": list(m.numbers("aspect_ratios", gt=0, le=100)),
        "fixed_anchor_size": m.flag("fixed_anchor_size", default=False),
        "reduce_boxes_in_lowest_layer": m.flag("reduce_boxes_in_lowest_layer", default=False),
        "interpolated_scale_aspect_ratio": m.number("interpolated_scale_aspect_ratio", ge=0, le=100, default=1.0),
    }


def _decoding_options(m: Manifest) -> dict[str, Any]:
    """TensorsToDetectionsCalculator's options (vision/ssd.py: decode), each one checked,
    the box and keypoint offsets inside num_coords."""
    out = {
        "num_boxes": m.integer("num_boxes", ge=1, le=MAX_BOXES),
        "num_coords": m.integer("num_coords", ge=4, le=1024),
        "box_coord_offset": m.integer("box_coord_offset", ge=0, le=1024),
        "keypoint_coord_offset": m.integer("keypoint_coord_offset", ge=0, le=1024),
        "num_keypoints": m.integer("num_keypoints", ge=0, le=256),
        "num_values_per_keypoint": m.integer("num_values_per_keypoint", ge=2, le=8),
        "x_scale": m.number("x_scale", gt=0),
        "y_scale": m.number("y_scale", gt=0),
        "w_scale": m.number("w_scale", gt=0),
        "h_scale": m.number("h_scale", gt=0),
        "min_score_thresh": m.number("min_score_thresh", ge=0, le=1),
        "score_clipping_thresh": m.number("score_clipping_thresh", gt=0, default=100.0),
    }
    if not m.flag("reverse_output_order", default=True):  # decode() reads (x, y, w, h) rows only
        raise m.fault("reverse_output_order", False, "true (boxes as x, y, w, h)")
    if out["box_coord_offset"] + 4 > out["num_coords"]:
        raise m.fault("box_coord_offset", out["box_coord_offset"], f"4 box values within num_coords ({out['num_coords']})")
    keypoints_end = out["keypoint_coord_offset"] + out["num_keypoints"] * out["num_values_per_keypoint"]
    if keypoints_end > out["num_coords"]:
        raise m.fault("num_keypoints", out["num_keypoints"], f"keypoint values that fit within num_coords ({out['num_coords']})")
    return out


@dataclass(frozen=True)
class DetectorContract:
    """An SSD detector bundle's options (face or palm).

    Attributes:
        input_size: side of the model's square input, pixels.
        pad_value: letterbox fill (0..255).
        value_range: (low, high) the 0..255 pixels are mapped to.
        anchors: SsdAnchorsCalculator options (shared.vision.ssd.ssd_anchors), checked.
        decoding: TensorsToDetectionsCalculator options (shared.vision.ssd.decode), checked.
        nms_threshold: IoU over which detections merge (weighted NMS).
        boxes_output, scores_output: names of the model's output tensors.
    """

    input_size: int
    pad_value: int
    value_range: tuple[float, float]
    anchors: dict
    decoding: dict
    nms_threshold: float
    boxes_output: str
    scores_output: str

    @property
    def min_score(self) -> float:
        return float(self.decoding["min_score_thresh"])

    @property
    def num_keypoints(self) -> int:
        return int(self.decoding["num_keypoints"])

    @classmethod
    def read(cls, m: Manifest) -> DetectorContract:
        """The contract from a detector bundle's manifest; BundleError naming a bad field."""
        pre, post = m.at("preprocessing"), m.at("postprocessing")
        size = pre.square("input_size")
        low, high = pre.numbers("value_range", length=2)
        if not low < high:
            raise pre.fault("value_range", [low, high], "[low, high] with low < high")
        return cls(
            input_size=size,
            pad_value=pre.integer("pad_value", ge=0, le=255, default=0),
            value_range=(low, high),
            anchors=_anchor_options(post.at("anchors")),
            decoding=_decoding_options(post.at("decoding")),
            nms_threshold=post.number("nms.min_suppression_threshold", ge=0, le=1),
            boxes_output=post.text("output_tensors.boxes"),
            scores_output=post.text("output_tensors.scores"),
        )

    @classmethod
    def from_meta(cls, meta: dict) -> DetectorContract:
        return cls.read(Manifest(meta))


@dataclass(frozen=True)
class SsdHead:
    """What an SSD detector runs on. Attributes: contract; anchors (N, 4) float32 (x_center,
    y_center, w, h) normalised to the input; boxes_output, scores_output: positions of those
    tensors among the model's outputs."""

    contract: DetectorContract
    anchors: np.ndarray
    boxes_output: int
    scores_output: int


def ssd_head(bundle: Bundle) -> SsdHead:
    """A detector bundle's contract checked against its model (input [1, n, n, 3], outputs
    [1, num_boxes, num_coords] and [1, num_boxes, 1]) and its anchors built; BundleError
    naming the field that disagrees. Shared by the face and palm detectors."""
    m = bundle.manifest
    contract = DetectorContract.read(m)
    model, d = bundle.model, contract.decoding
    image_input(bundle, "preprocessing.input_size", contract.input_size)
    boxes = m.tensor("postprocessing.output_tensors.boxes", model.outputs)
    scores = m.tensor("postprocessing.output_tensors.scores", model.outputs)
    boxes_shape, scores_shape = list(model.outputs[boxes].shape), list(model.outputs[scores].shape)
    where = "postprocessing.decoding"
    if boxes_shape[:2] != [1, d["num_boxes"]] or int(np.prod(scores_shape)) != d["num_boxes"]:
        raise m.fault(f"{where}.num_boxes", d["num_boxes"], f"the model's box count (its outputs: {boxes_shape}, {scores_shape})")
    if boxes_shape != [1, d["num_boxes"], d["num_coords"]]:
        raise m.fault(f"{where}.num_coords", d["num_coords"], f"the values per box of the boxes output {boxes_shape}")
    anchors = ssd_anchors(contract.anchors)
    if len(anchors) != d["num_boxes"]:
        raise m.fault(f"{where}.num_boxes", d["num_boxes"], f"{len(anchors)}, the number of anchors postprocessing.anchors makes")
    return SsdHead(contract, anchors, boxes, scores)


def input_tensor(image: np.ndarray, contract: DetectorContract) -> tuple[np.ndarray, Letterbox]:
    """An (H, W, 3) uint8 RGB image letterboxed into the model's (S, S, 3) float32 input,
    values mapped to the contract's range; and the letterbox, to map detections back."""
    pixels, box = letterbox(image, contract.input_size, contract.pad_value)
    low, high = contract.value_range
    return pixels.astype(np.float32) * np.float32((high - low) / 255.0) + np.float32(low), box


def raw_detections(model: Model, tensor: np.ndarray, head: SsdHead) -> list[tuple[np.ndarray, float]]:
    """One (S, S, 3) float32 input tensor -> MediaPipe's detections, best first: each
    (points (2 + K, 2) normalised to the input: (xmin, ymin), (xmax, ymax), then K keypoints
    (x, y); score in [0, 1]), over min_score_thresh and merged by weighted NMS."""
    c = head.contract
    outputs = model.run(tensor[None])
    raw_boxes, raw_scores = outputs[head.boxes_output][0], outputs[head.scores_output][0]
    # Only anchors over the score threshold are decoded (a handful of BlazeFace's 896): the
    # decoding is elementwise per anchor, so the kept boxes are the same numbers.
    over = sigmoid_scores(raw_scores, c.decoding["score_clipping_thresh"]) >= c.min_score
    if not over.any():
        return []
    boxes, scores = decode(raw_boxes[over], raw_scores[over], head.anchors[over], c.decoding)
    keep = np.all(boxes[:, 1] > boxes[:, 0], axis=1)
    return weighted_nms(boxes[keep], scores[keep], c.nms_threshold)
