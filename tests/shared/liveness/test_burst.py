"""Bursts through the real pipeline (face detector, SFace, face mesh) on registry photos
(face-recognition 1.3.0's test images). The only real recordings of these actions found in a
registry package are measured by tools/measure/liveness_recordings.py; the genuine burst
here is assembled from three different photos of one person (tools/measure/
liveness_bursts.py), so it proves the pipeline and the protocol, not how
real motion between frames looks; the attacks are made the same way (docs/liveness.md)."""

from __future__ import annotations

import pytest

from shared.errors import ServiceError
from shared.face.options import VerifyOptions
from shared.face.verify import FaceVerifier, Stopwatch
from shared.facemesh.mesh import FaceMesh, FaceMeshOptions
from shared.liveness.burst import check_burst
from shared.liveness.options import LivenessOptions
from shared.settings import MODELS_DIR
from tools.measure import liveness_bursts as bursts

OPTIONS = LivenessOptions(secret=b"s" * 32)


@pytest.fixture(scope="module")
def verifier() -> FaceVerifier:
    return FaceVerifier.load(VerifyOptions(str(MODELS_DIR / "face-detector-short"), str(MODELS_DIR / "face-embedder-sface")))


@pytest.fixture(scope="module")
def mesh() -> FaceMesh:
    return FaceMesh.load(FaceMeshOptions(str(MODELS_DIR / "face-landmarks")))


@pytest.fixture(scope="module")
def cropped(verifier, face_photos) -> dict[str, bytes]:
    """Each photo cropped around its face, as a webcam frames one person."""
    out = {}
    for name in ("obama.jpg", "obama2.jpg", "obama3.jpg", "biden.jpg"):
        data = (face_photos / name).read_bytes()
        photo, faces, _, _ = verifier.find_faces(data, name, Stopwatch())
        box = tuple(v * photo.scale for v in faces[0].box)
        out[name] = bursts.webcam_crop(data, box)
    return out


def genuine(cropped: dict[str, bytes]) -> list[bytes]:
    """turn_right then look_up: obama.jpg frontal (yaw 3), obama2.jpg turned 18 degrees to the
    subject's right, obama3.jpg looking up 16 degrees (measured by the mesh; docs/liveness.md)."""
    actions = {"turn_right": cropped["obama2.jpg"], "look_up": cropped["obama3.jpg"]}
    return bursts.assembled([cropped["obama.jpg"]], actions, ("turn_right", "look_up"), seed=1)


def test_a_burst_acting_out_the_challenge_passes(verifier, mesh, cropped):
    result = check_burst(verifier, mesh, genuine(cropped), ("turn_right", "look_up"), OPTIONS)
    assert result.liveness.passed, result.liveness
    assert [a.action for a in result.liveness.actions] == ["turn_right", "look_up"]
    right, up = result.liveness.actions
    assert right.measure["yaw_deg"] <= -15 and up.measure["pitch_deg"] >= 10
    assert right.measure["planar_residual"] > OPTIONS.max_planar_residual
    assert result.best in (0, 1, 4, 5, 8, 9) and result.frames == 10  # a frontal frame


def test_the_same_burst_replayed_for_another_challenge_fails(verifier, mesh, cropped):
    frames = genuine(cropped)
    for other in (("look_up", "turn_right"), ("turn_right", "blink"), ("turn_left", "look_up")):
        assert not check_burst(verifier, mesh, frames, other, OPTIONS).liveness.passed, other


@pytest.mark.parametrize("seed", range(3))
def test_one_still_photo_moved_scaled_and_tilted_fails(verifier, mesh, cropped, seed):
    frames = bursts.still_attack(cropped["obama.jpg"], 12, seed=seed)
    for challenge in (("turn_left", "turn_right"), ("look_up", "blink"), ("turn_right", "look_up", "blink")):
        verdict = check_burst(verifier, mesh, frames, challenge, OPTIONS).liveness
        assert not verdict.passed and verdict.reason.split(":")[0] in ("action_missing", "flat_motion", "unexpected_action"), verdict


def test_another_persons_frame_in_the_burst_fails(verifier, mesh, cropped):
    frames = genuine(cropped)
    frames[6] = cropped["biden.jpg"]
    verdict = check_burst(verifier, mesh, frames, ("turn_right", "look_up"), OPTIONS).liveness
    assert not verdict.passed and verdict.reason.startswith("different_faces: frames[6]")


def test_a_burst_spliced_from_two_people_fails(verifier, mesh, cropped):
    """Obama's frontal frames, Biden in the action's frames (and the other way round, and
    alternating): one person cannot become another between frames, whatever the pose."""
    frames = genuine(cropped)
    spliced = {
        "action": frames[:2] + [cropped["biden.jpg"]] * 2 + frames[4:],
        "frontal": [cropped["biden.jpg"]] * 2 + frames[2:4] + [cropped["biden.jpg"]] * 2 + frames[6:],
        "alternating": [frames[i] if i % 2 else cropped["biden.jpg"] for i in range(len(frames))],
    }
    for how, burst in spliced.items():
        verdict = check_burst(verifier, mesh, burst, ("turn_right", "look_up"), OPTIONS).liveness
        assert not verdict.passed and verdict.reason.startswith("different_faces: frames["), (how, verdict)


def test_a_face_jumping_across_the_frame_fails(verifier, mesh, face_photos):
    whole = (face_photos / "obama.jpg").read_bytes()
    left, right = bursts.webcam_crop(whole, (250, 140, 280, 280), 400), bursts.webcam_crop(whole, (450, 140, 280, 280), 400)
    verdict = check_burst(verifier, mesh, [left] * 3 + [right] * 3, ("turn_left", "blink"), OPTIONS).liveness
    assert not verdict.passed and verdict.reason.startswith("face_jumped: the face moved from frames[2] to frames[3]")


def test_burst_length_is_bounded(verifier, mesh, cropped):
    with pytest.raises(ServiceError) as few:
        check_burst(verifier, mesh, [cropped["obama.jpg"]] * 5, ("turn_left", "blink"), OPTIONS)
    with pytest.raises(ServiceError) as many:
        check_burst(verifier, mesh, [cropped["obama.jpg"]] * 31, ("turn_left", "blink"), OPTIONS)
    assert (few.value.status, few.value.code, many.value.status, many.value.code) == (422, "too_few_frames", 413, "too_many_frames")
