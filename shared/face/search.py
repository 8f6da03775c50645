"""Where BlazeFace misses a face that is there: fallbacks, run only when they are needed.

BlazeFace's short-range model was trained on faces with some context around them: a face
that fills the frame (an ID thumbnail, an avatar cut to the face) or touches its border is
often not found, and neither is a face turned on its side (a photo without its EXIF
orientation). On the clean path none of this runs; `FaceFinder.find` calls, in order:

- `padded`: when nothing is found, or the chosen face's box touches the photo's border: the
  photo in the middle of a canvas PAD times its longer side larger, the border replicated
  (a black frame reads as a picture frame, not as the face's surroundings);
- the full-range detector (FaceFinder's `fallback`): when still nothing is found;
- `rotated`: when still nothing is found, the photo turned by 90, 270 and 180 degrees,
  each framed as a photo is (`framed`: padded when nothing is found or the face touches the
  border, as a face-filling crop's does); the face's box and keypoints come back in the
  photo's own pixels, so the chip (a similarity transform of the keypoints) comes out
  upright; the first turn's face gets `upright`'s check in that turned photo (it may lie on
  its side there);
- `upright`: BlazeFace often does find a face on its side or upside down, with a low score
  and keypoints placed as if it were upright. When the chosen face's eye line is steeper
  than 45 degrees, or its score is under UPRIGHT_SCORE (0.8), the photo turned by each quarter
  turn is detected once more (`framed`) and the turn with the clearly better score wins,
  among the turns whose face looks upright there (`choose_turn`, TURNED_MAX_ROLL).

- `tiled`: when still nothing is found on a large photo, overlapping squares of it (a
  small face in a large frame), with the full-range detector.

Each step's name is what the quality verdict reports as `found_by`.
"""

from __future__ import annotations

import numpy as np
from PIL import Image

from shared.face.detect import Face, FaceDetector, shift
from shared.vision.geometry import box_iou, crop

PAD = 0.5  # each side of the canvas gains half the photo's longer side
# A photo larger than this is shrunk before it is padded: the detector sees a 128 px
# letterbox of the canvas either way, and a 1280 px photo's canvas (2560 px) took 39 MB at
# its peak (53 MB with a turn), against 0-20 MB now. The first decode of a photo is at
# least 640 px, so only larger ones are shrunk.
PADDED_MAX_SIDE = 640
# A face found only on the padded canvas counts when its nose tip lies within this many eye
# distances of the eyes' bisector: face-filling crops of real faces sit within 0.25, the
# "face" the padded canvas makes of the suit in face_recognition's obama.jpg at 0.58.
MAX_NOSE_OFFSET = 0.45
BORDER_PX = 1.0  # a box within this many pixels of an edge "touches" it
TURNS = (1, 3, 2)  # quarter turns tried (np.rot90's k: counter-clockwise), most common first
# A face scored under this may be upside down: an upright face scores ~0.85-0.95 (1% of
# clean lfw-dev photos under 0.84), the same face turned by 180 degrees ~0.55-0.8.
UPRIGHT_SCORE = 0.8
UPRIGHT_GAIN = 0.05  # a turned detection must score this much more to win
# A turn's face counts only when its eye line lies within this many degrees of level in the
# turned photo. BlazeFace also finds a face on its side, keypoints placed as if upright: such
# a find on a wrongly turned photo scored higher than the right turn's and won. On the dev
# variants (lfw-dev folds 1-4 + deepface), every true turn's face lies within 31 degrees
# (9,039 turns of rot90/180/270, and 0 of 12,540 photos turned in memory lost); the rule
# corrected 87 rotated photos turned the wrong way and dropped 24 of 96 false turns of
# upright photos (docs/accuracy.md, "Rotated photos").
TURNED_MAX_ROLL = 45.0
# A turn's face must overlap the face found as it is (in the photo's pixels) by this IoU.
TURN_IOU = 0.3
# tiled(): the full-range detector finds a 20 px face in a 320 px square (6% of its side)
# for ~30 ms over a 960x540 decode; the short-range one needs 160 px squares.
TILE = 320


def touches_border(face: Face, shape: tuple[int, int]) -> bool:
    """Whether the box reaches the photo's edge (it was clipped: the face runs out of frame)."""
    x, y, w, h = face.box
    height, width = shape
    return x <= BORDER_PX or y <= BORDER_PX or x + w >= width - BORDER_PX or y + h >= height - BORDER_PX


def padded(detector: FaceDetector, image: np.ndarray, pad: float = PAD) -> list[Face]:
    """Faces found on `image` centred in a canvas with `pad` x its longer side on each side
    (border pixels replicated), in `image`'s pixels (boxes clipped to it). Only faces whose
    eyes are in the photo count: the canvas also completes a chin or a collar at the edge
    into a face whose eyes lie in the padding (a photo of a suit answered as a face)."""
    height, width = image.shape[:2]
    factor = min(1.0, PADDED_MAX_SIDE / max(height, width))
    small = image if factor == 1.0 else _shrunk(image, factor)
    margin = round(max(small.shape[:2]) * pad)
    canvas = crop(small, -margin, -margin, small.shape[1] + margin, small.shape[0] + margin, fill="edge")
    faces = [_scaled(shift(f, -margin, -margin, small.shape[:2]), 1 / factor, (height, width)) for f in detector.detect(canvas)]
    return [f for f in faces if _eyes_in(f, width, height)]


def framed(detector: FaceDetector, image: np.ndarray, inner: bool = False) -> tuple[list[Face], bool]:
    """Faces on a turned photo as a photo is framed, and whether they are the padded
    canvas's: when the best face touches the border or nothing is found, the padded canvas's
    faces that touch the border (a face-filling crop: found on its side, or not at all,
    without the context the canvas gives); `inner`: its others too (`rotated`: nothing was
    found as the photo is). Without `inner`, a face well inside the photo found only on the
    canvas does not count: blurred upright photos turned upside down gave 58 false half
    turns that way (docs/accuracy.md, "Rotated photos")."""
    faces = detector.detect(image)
    shape = image.shape[:2]
    if faces and not touches_border(max(faces, key=lambda f: f.score), shape):
        return faces, False
    canvas = [f for f in padded(detector, image) if inner or touches_border(f, shape)]
    inside = [f for f in faces if not touches_border(f, shape)]  # kept, as the direct path keeps them
    return ([*canvas, *inside], True) if canvas else (faces, False)


def _shrunk(image: np.ndarray, factor: float) -> np.ndarray:
    height, width = image.shape[:2]
    size = (max(1, round(width * factor)), max(1, round(height * factor)))
    return np.asarray(Image.fromarray(image).resize(size, Image.Resampling.BILINEAR, reducing_gap=2.0))


def _scaled(face: Face, factor: float, shape: tuple[int, int]) -> Face:
    """`face` found on a shrunk copy, in the photo's pixels (`shape` its (H, W))."""
    if factor == 1.0:
        return face
    x, y, w, h = (v * factor for v in face.box)
    box = (x, y, min(w, shape[1] - x), min(h, shape[0] - y))
    return Face(box, face.score, tuple((px * factor, py * factor) for px, py in face.keypoints))


def _eyes_in(face: Face, width: int, height: int) -> bool:
    """The eyes' midpoint in the photo (a tight crop may cut one eye's corner, not the eyes)."""
    (rx, ry), (lx, ly) = face.keypoints[:2]
    return 0 <= (rx + lx) / 2 < width and 0 <= (ry + ly) / 2 < height


def rotated(detector: FaceDetector, image: np.ndarray) -> tuple[list[Face], int]:
    """(faces, the quarter turns that found them) trying TURNS on the padded photo; the faces
    in the photo's own pixels; ([], 0) when no turn finds one. The first turn that finds a
    face may have found it on its side (an upside-down photo found by its quarter turn, as
    150 of the 3,135 rot180 dev photos were): that face gets upright's check in the turned
    photo, and a further turn it finds adds to the first."""
    height, width = image.shape[:2]
    for k in TURNS:
        turned = np.ascontiguousarray(np.rot90(image, k))
        faces, _ = framed(detector, turned, inner=True)
        if faces:
            face, more = upright(detector, turned, max(faces, key=lambda f: f.score))
            if more:
                return [unturn(face, k, (height, width))], (k + more) % 4
            return [unturn(f, k, (height, width)) for f in faces], k
    return [], 0


def unturn(face: Face, k: int, shape: tuple[int, int]) -> Face:
    """A face found on np.rot90(image, k), in `image`'s pixels (`shape` its (H, W))."""
    height, width = shape

    def back(x: float, y: float) -> tuple[float, float]:
        # np.rot90 k=1 maps image (x, y) to (y, W - x); undo one quarter turn at a time.
        for turn in range(k):
            # the turned image (before this undo step) is W' wide; after undoing, sizes swap
            w_now = width if (k - turn) % 2 == 1 else height
            x, y = w_now - y, x
        return x, y

    keypoints = tuple(back(px, py) for px, py in face.keypoints)
    x, y, w, h = face.box
    corners = [back(cx, cy) for cx, cy in ((x, y), (x + w, y), (x, y + h), (x + w, y + h))]
    xs, ys = [c[0] for c in corners], [c[1] for c in corners]
    x0, y0 = max(min(xs), 0.0), max(min(ys), 0.0)
    x1, y1 = min(max(xs), float(width)), min(max(ys), float(height))
    return Face((x0, y0, x1 - x0, y1 - y0), face.score, keypoints)


def plausible(face: Face) -> bool:
    """Whether the keypoints are those of a face: the nose tip near the eyes' bisector."""
    (rx, ry), (lx, ly), (nx, ny) = face.keypoints[:3]
    ex, ey = lx - rx, ly - ry
    eye = float(np.hypot(ex, ey))
    if eye < 1e-6:
        return False
    offset = ((nx - (rx + lx) / 2) * ex + (ny - (ry + ly) / 2) * ey) / eye**2
    return abs(offset) <= MAX_NOSE_OFFSET


def roll_of(face: Face) -> float:
    """The eye line's angle in degrees (0: level; +-90: the face on its side)."""
    (rx, ry), (lx, ly) = face.keypoints[0], face.keypoints[1]
    return float(np.degrees(np.arctan2(ly - ry, lx - rx)))


def upright(detector: FaceDetector, image: np.ndarray, face: Face) -> tuple[Face, int]:
    """(the face, 0) when it looks upright; else (the face found on the photo turned so it
    is, in the photo's own pixels, and the quarter turns) when that scores clearly better."""
    roll = roll_of(face)
    if abs(roll) <= 45 and face.score >= UPRIGHT_SCORE:
        return face, 0
    # np.rot90 turns counter-clockwise: a face rolled by +90 (eyes going down) needs k=1;
    # the keypoints of a face on its side are unreliable, so every turn is tried, that first.
    first = round(roll / 90) % 4 or 2
    order = (first, *(t for t in TURNS if t != first))
    framings = [(k, framed(detector, np.ascontiguousarray(np.rot90(image, k)))) for k in order]
    found = [(k, faces) for k, (faces, _) in framings]
    if any(on_canvas for _, (_, on_canvas) in framings):
        # A turn's face found on the padded canvas competes with the photo's own face found
        # there, if that looks upright: the canvas scores a face-filling crop higher, and an
        # upright crop's level face found as it is lost to its half turn's canvas face.
        own = [f for f in padded(detector, image) if _same_level(f, face)]
        face = max([face, *own], key=lambda f: f.score)
    return choose_turn(face, found, image.shape[:2])


def _same_level(found: Face, face: Face) -> bool:
    return abs(roll_of(found)) <= TURNED_MAX_ROLL and box_iou(found.box, face.box) >= TURN_IOU


def choose_turn(face: Face, found: list[tuple[int, list[Face]]], shape: tuple[int, int]) -> tuple[Face, int]:
    """upright's decision: (the face, 0) or (a face found on the photo turned by k, in the
    photo's pixels, k). `found`: for each quarter turn k in the order tried, the faces
    detected on np.rot90(photo, k), in that turned photo's pixels; `shape` the photo's (H, W)."""
    roll = roll_of(face)
    best, best_k = face, 0
    for k, faces in found:
        # A turn counts only when its face looks upright in the turned photo (TURNED_MAX_ROLL).
        level = [unturn(f, k, shape) for f in faces if abs(roll_of(f)) <= TURNED_MAX_ROLL]
        overlapping = [f for f in level if box_iou(f.box, face.box) >= TURN_IOU]
        # On its side (steep eye line), an upright detection of the same face wins unless it
        # scores clearly worse; a merely doubtful one must score clearly better.
        # A level face scored low is most often upside down: a quarter turn must win by more
        # (an upright lfw-dev photo scored 0.77 as it is, 0.83 turned by 90 degrees).
        gain = UPRIGHT_GAIN if k == 2 or abs(roll) > 45 else 2 * UPRIGHT_GAIN
        need = best.score - UPRIGHT_GAIN * 2 if abs(roll) > 45 and best_k == 0 else best.score + gain
        if overlapping and max(f.score for f in overlapping) > need:
            best, best_k = max(overlapping, key=lambda f: f.score), k
    return best, best_k


def tiled(detector: FaceDetector, image: np.ndarray, tile: int = TILE) -> list[Face]:
    """Faces in overlapping `tile`-pixel squares of a photo at least twice as large (a small
    face in a large frame: a 40 px face in 1920x1080 is 4 px in the detector's input when
    the whole photo is letterboxed into it), in the photo's pixels, best score first,
    overlapping finds merged (the best kept)."""
    height, width = image.shape[:2]
    if max(height, width) < 2 * tile:
        return []
    stride = tile * 3 // 4
    found: list[Face] = []
    for y0 in range(0, max(height - tile, 0) + stride, stride):
        for x0 in range(0, max(width - tile, 0) + stride, stride):
            window = np.ascontiguousarray(image[y0 : y0 + tile, x0 : x0 + tile])
            if min(window.shape[:2]) >= tile // 4:
                found.extend(shift(f, x0, y0, (height, width)) for f in detector.detect(window))
    kept: list[Face] = []
    for face in sorted(found, key=lambda f: f.score, reverse=True):
        if all(box_iou(face.box, k.box) < 0.3 for k in kept):
            kept.append(face)
    return kept
