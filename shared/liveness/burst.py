"""A burst of frames -> one face's measures, its identity across frames, the liveness verdict.

Each frame is priced from its headers first (all together against MAX_REQUEST_DECODE_MS,
as the gesture frames are), then decoded one at a time under the memory budget; the face
the verifier would select is found (shared/face: detection, refine), embedded, and its mesh
read (shared/facemesh) from the detection's rect. One face throughout: every
frame's embedding within the verifier's threshold of the best frame's unless it is in a head
action and chained to a frontal frame by small steps (same_person); and the face
never jumping more than half its width between frames nor changing size by more than half.
"""

from __future__ import annotations

import time
from dataclasses import dataclass

import numpy as np

from shared.errors import PayloadTooLarge, Unprocessable
from shared.face.verify import FaceVerifier, Stopwatch
from shared.facemesh.mesh import FaceMesh
from shared.images import inspect_image
from shared.liveness.judge import Liveness, best_frame, judge
from shared.liveness.measures import FrameMeasure, measure
from shared.liveness.options import LivenessOptions

MAX_JUMP = 0.5  # of the face's width, between consecutive frames
MAX_SCALE_CHANGE = 1.5
# One person across poses (same_person): a frame further than the verifier's threshold from the
# best frame must be in a head action and chained to a frontal frame by steps of at most
# CHAIN_STEP (SFace cosine distance; docs/liveness.md: two people's photos of lfw-dev are 0.469
# apart at the closest, tune half, 0.493 held out; real consecutive frames 0.33 at most).
CHAIN_STEP = 0.40


@dataclass(frozen=True)
class Burst:
    """Attributes: liveness (the verdict); best (index of the frame matched against img2);
    frames (how many); time_ms (decode_and_detect, embed, mesh)."""

    liveness: Liveness
    best: int
    frames: int
    time_ms: dict


@dataclass(frozen=True)
class Reading:
    """What a burst showed, before any challenge: measures (one per frame, empty when
    `refused`); refused (why the burst cannot pass any challenge: a frame without a face, or
    not one face throughout; "" otherwise); best (the most frontal open-eyed frame); frames;
    time_ms."""

    measures: list[FrameMeasure]
    refused: str
    best: int
    frames: int
    time_ms: dict


def check_burst(verifier: FaceVerifier, mesh: FaceMesh, frames: list[bytes], actions: tuple[str, ...], options: LivenessOptions) -> Burst:
    """The verdict on `frames` (photo bytes, in order) for the challenge's `actions`."""
    return verdict(read_burst(verifier, mesh, frames, options), actions, options)


def verdict(reading: Reading, actions: tuple[str, ...], options: LivenessOptions) -> Burst:
    """The verdict on a read burst for the challenge's `actions` (pure logic: judge.py)."""
    if reading.refused:
        return Burst(Liveness(False, reading.refused, [], reading.best), reading.best, reading.frames, reading.time_ms)
    found = judge(actions, reading.measures, options)
    return Burst(found, found.best_frame if found.best_frame is not None else reading.best, reading.frames, reading.time_ms)


def read_burst(verifier: FaceVerifier, mesh: FaceMesh, frames: list[bytes], options: LivenessOptions) -> Reading:
    """`frames` (photo bytes, in order) read: each frame's face, embedding and mesh measures."""
    if len(frames) < options.min_frames:
        raise Unprocessable(f"frames has {len(frames)} photos; a liveness burst needs at least {options.min_frames}", code="too_few_frames")
    if len(frames) > options.max_frames:
        raise PayloadTooLarge(
            f"frames has {len(frames)} photos; the limit is {options.max_frames} (MAX_LIVENESS_FRAMES)", code="too_many_frames"
        )
    limits = verifier.options.decode
    names = [f"frames[{i}]" for i in range(len(frames))]
    total_ms = sum(inspect_image(data, name, limits).cpu_ms for data, name in zip(frames, names, strict=True))
    if total_ms > limits.max_request_ms:
        raise Unprocessable(
            f"decoding the {len(frames)} frames takes ~{total_ms:.0f} ms of CPU; the limit for one request is "
            f"{limits.max_request_ms} ms (MAX_REQUEST_DECODE_MS): send fewer or smaller frames",
            code="frames_too_complex",
        )
    clock = Stopwatch()
    measures: list[FrameMeasure] = []
    embeddings, boxes = [], []
    timing = {"decode_and_detect": 0.0, "embed": 0.0, "mesh": 0.0}
    for data, name in zip(frames, names, strict=True):
        started = time.perf_counter()
        try:
            photo, faces, _, _ = verifier.find_faces(data, name, clock)
        except Unprocessable as exc:
            if exc.code != "no_face":
                raise
            return Reading([], f"face_missing: no face in {name}", 0, len(frames), _ms(timing))
        face = faces[0]
        t1 = time.perf_counter()
        embeddings.append(verifier.embedder.embed_face(photo.pixels, face))
        t2 = time.perf_counter()
        found = mesh.find(photo.pixels, mesh.roi_from_detection(face.box, np.array(face.keypoints)), irises=False)
        t3 = time.perf_counter()
        timing["decode_and_detect"] += t1 - started
        timing["embed"] += t2 - t1
        timing["mesh"] += t3 - t2
        if found is None:
            return Reading([], f"face_missing: no face mesh in {name}", 0, len(frames), _ms(timing))
        measures.append(measure(found.points))
        x, y, w, h = (v * photo.scale for v in face.box)  # in the original photo's pixels
        boxes.append((x + w / 2, y + h / 2, w))
    best = best_frame(measures)
    reason = _one_face(verifier, embeddings, measures, boxes, best, options)
    return Reading([] if reason else measures, reason, best, len(frames), _ms(timing))


def _one_face(
    verifier: FaceVerifier,
    embeddings: list[np.ndarray],
    measures: list[FrameMeasure],
    boxes: list[tuple[float, float, float]],
    best: int,
    options: LivenessOptions,
) -> str:
    """'' when every frame shows the best frame's person in a place it could have moved to."""
    to_best = [float(verifier.distance(e, embeddings[best])) for e in embeddings]
    steps = [float(verifier.distance(embeddings[i], embeddings[i - 1])) for i in range(1, len(embeddings))]
    reason = same_person(to_best, steps, measures, best, verifier.threshold, options)
    if reason:
        return reason
    for i in range(1, len(boxes)):
        (x0, y0, w0), (x1, y1, w1) = boxes[i - 1], boxes[i]
        if np.hypot(x1 - x0, y1 - y0) > MAX_JUMP * max(w0, w1) or max(w0, w1) > MAX_SCALE_CHANGE * min(w0, w1):
            return f"face_jumped: the face moved from frames[{i - 1}] to frames[{i}] further than a head moves between frames"
    return ""


def same_person(
    to_best: list[float], steps: list[float], measures: list[FrameMeasure], best: int, threshold: float, options: LivenessOptions
) -> str:
    """'' when the frames' embeddings show one person: `to_best`, each frame's distance from the
    best frame's; `steps`, each frame's from the one before it (frames[1] on); `threshold`, the
    verifier's; `options`, the head action's bounds. A large head pose moves SFace's embedding
    of one person beyond the threshold (a real man turned 34 degrees with the head raised:
    0.646 from his frontal frame), so:

    - a frame not in a head action (under `yaw_deg` of yaw and `pitch_deg` of pitch, either way,
      from the best frame) is within the threshold of the best frame, as every frame was before;
    - a frame in a head action may be further from the best frame only when a chain of frames
      links it to a near-frontal frame within CHAIN_STEP of the best, each step within CHAIN_STEP:
      a head turning moves the embedding a little between frames, while two people's faces
      are further apart than CHAIN_STEP (docs/liveness.md), so no chain crosses from one
      person to another and a splice is held to the threshold as before.

    So a burst the rule of 0.5.0 took for one person (every frame within the threshold of the
    best) still is; a frame further than the threshold passes only through the chain.
    """
    ref = measures[best]
    action = [abs(m.yaw - ref.yaw) >= options.yaw_deg or abs(m.pitch - ref.pitch) >= options.pitch_deg for m in measures]
    for i, d in enumerate(to_best):
        if not action[i] and d > threshold:
            return f"different_faces: frames[{i}] is {d:.3f} from frames[{best}] (threshold {threshold})"
    linked = [not a and d <= CHAIN_STEP for a, d in zip(action, to_best, strict=True)]
    for i in range(1, len(linked)):  # forward, then backward: an action at the burst's start links to what follows
        linked[i] = linked[i] or (linked[i - 1] and steps[i - 1] <= CHAIN_STEP)
    for i in range(len(linked) - 2, -1, -1):
        linked[i] = linked[i] or (linked[i + 1] and steps[i] <= CHAIN_STEP)
    for i, d in enumerate(to_best):
        if d > threshold and not linked[i]:
            return (
                f"different_faces: frames[{i}] is {d:.3f} from frames[{best}] (threshold {threshold}) "
                f"and no chain of frames {CHAIN_STEP} apart links it to a frontal one"
            )
    return ""


def _ms(timing: dict[str, float]) -> dict:
    return {k: round(v * 1000, 2) for k, v in timing.items()}
