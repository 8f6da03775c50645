#!/usr/bin/env python3
"""lsvtest 0.0.3 end to end: its own pipeline (mediapipe 0.10.21 Holistic as LSVRecognition
runs it, then extract_keypoints, then its Keras model) against ours (shared/holistic/ ->
the holistic_1662 recipe -> the converted bundle) on the same frames, top-1 agreement.

The recordings: the webcam photos of ../shared/data/hands/subhih (SubhiH/HandsDataset; see
its SOURCE.md), sorted by name (their names carry the recording session and frame number),
cut into windows of 29 consecutive frames (lsvtest's sequence_length) every --stride
frames. Each window is a clip: the reference runs Holistic in video mode (static_image_mode
False, min_detection_confidence and min_tracking_confidence 0.5, as lsvtest does) over its
frames in order; ours tracks the same frames (`frames`), and the same frames encoded as an
H.264 MP4 at 10 fps go through predict_gesture's `video` path (`clip`).

    .venv/bin/python tools/measure/lsvtest_agreement.py --bundle DIR [--stride 6] [--out build/lsvtest-agreement.json]
DIR: the lsvtest model converted with `tools/convert/convert_keras.py model.h5 --recipe
holistic_1662 --frame-fit resample --missing fill` (tests/tools/test_convert_keras.py does it).
--reference-python (mediapipe) and --keras-python (TensorFlow) default to .venvs/mediapipe and .venv-tools.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import zipfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))  # the repo root, also when run as a file

import numpy as np

from tools import ROOT, print_report, python_option, testdata

PHOTOS = ROOT.parent / "shared/data/hands/subhih"
FRAMES = 29
LSVTEST = ("lsvtest==0.0.3", "lsvtest-0.0.3-py3-none-any.whl", "7ff2bc59248862afd50aab911f8a4501036e97f2a6415874be4950e061910cec")


def windows(photos: Path, stride: int) -> list[list[Path]]:
    paths = sorted(p for p in photos.iterdir() if p.suffix.lower() == ".jpg")
    return [paths[i : i + FRAMES] for i in range(0, len(paths) - FRAMES + 1, stride)]


def reference_keypoints(clips: list[list[Path]]) -> np.ndarray:
    """(clips, 29, 1662): lsvtest's extract_keypoints of mediapipe Holistic in video mode (under --reference-python)."""
    import mediapipe as mp
    from PIL import Image

    def flat(found, n: int, visibility: bool) -> np.ndarray:
        if found is None:
            return np.zeros(n * (4 if visibility else 3))
        return np.array([[p.x, p.y, p.z, p.visibility] if visibility else [p.x, p.y, p.z] for p in found.landmark]).flatten()

    out = []
    for clip in clips:
        rows = []
        with mp.solutions.holistic.Holistic(min_detection_confidence=0.5, min_tracking_confidence=0.5) as holistic:
            for path in clip:
                r = holistic.process(np.asarray(Image.open(path).convert("RGB")))
                parts = (flat(r.pose_landmarks, 33, True), flat(r.face_landmarks, 468, False))
                rows.append(np.concatenate([*parts, flat(r.left_hand_landmarks, 21, False), flat(r.right_hand_landmarks, 21, False)]))
        out.append(rows)
    return np.asarray(out, np.float32)


def keras_labels(model_h5: Path, features: np.ndarray) -> list[int]:
    """lsvtest's Keras model on (clips, 29, 1662) (under --keras-python)."""
    from tools.convert.keras_bundle.load import load_keras

    model = load_keras(model_h5, [])
    return [int(i) for i in np.argmax(model.predict(features, verbose=0), axis=1)]


def ours(clips: list[list[Path]], bundle: Path) -> tuple[list[int], list[int], np.ndarray, list[float]]:
    """Our labels from the frames and from the clip, our features, the CPU ms per frame (frames path)."""
    import time

    from shared.gesture.options import GestureOptions
    from shared.gesture.service import GestureService
    from shared.settings import get_settings
    from tools.measure import hostile_video

    settings = get_settings()
    options = GestureOptions.from_settings(settings)
    service = GestureService.load(GestureOptions(**{**options.__dict__, "models": (str(bundle),)}))
    from_frames, from_clip, features, cpu = [], [], [], []
    for clip in clips:
        photos = [p.read_bytes() for p in clip]
        started = time.process_time()
        answer = _answer(service, {"frames": photos, "return_landmarks": True})
        cpu.append((time.process_time() - started) * 1000 / len(clip))
        from_frames.append(service.classifier().labels.index(answer["label"]))
        if "pose" in answer:
            features.append([_row(frame) for frame in zip(answer["pose"], answer["face"], *_sides(answer["hands"]), strict=True)])
        else:
            features.append(np.zeros((FRAMES, 1662)))
        video = hostile_video.clip(photos, fps=10)
        from_clip.append(service.classifier().labels.index(_answer(service, {"video": video})["label"]))
    return from_frames, from_clip, np.asarray(features, np.float32), cpu


def _answer(service, body: dict) -> dict:
    """The service's answer; for clips where no frame holds a person, what lsvtest's pipeline
    sends its model then: every frame all zeros (extract_keypoints of empty results)."""
    from shared.errors import Unprocessable

    try:
        return service.predict(body).to_dict()
    except Unprocessable as exc:
        if exc.code != "no_person":
            raise
        return service.predict({"features": np.zeros((FRAMES, 1662)).tolist()}).to_dict()


def _row(frame: tuple) -> np.ndarray:
    """One frame of the answer's pose, face, left and right hand as holistic_1662's row."""
    return np.concatenate([np.asarray(p).reshape(-1) if p else np.zeros(n) for p, n in zip(frame, (132, 1404, 63, 63), strict=True)])


def _sides(hands: list[list[dict]]) -> tuple[list, list]:
    left = [next((h["landmarks"] for h in frame if h.get("side") == "left"), None) for frame in hands]
    right = [next((h["landmarks"] for h in frame if h.get("side") == "right"), None) for frame in hands]
    return left, right


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--bundle", type=Path, required=True, help="the converted lsvtest bundle (recipe holistic_1662)")
    parser.add_argument("--photos", type=Path, default=PHOTOS)
    parser.add_argument("--stride", type=int, default=6)
    parser.add_argument("--reference-python")
    parser.add_argument("--keras-python")
    parser.add_argument("--out", type=Path)
    parser.add_argument("--mode", choices=("all", "reference", "keras"), default="all", help=argparse.SUPPRESS)
    parser.add_argument("--npz", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    clips = windows(args.photos, args.stride)
    if args.mode == "reference":
        np.save(args.npz, reference_keypoints(clips))
        return 0
    wheel = testdata.pip_fetch(*LSVTEST)
    with tempfile.TemporaryDirectory(prefix="lsv-") as tmp:
        model_h5 = Path(tmp) / "model.h5"
        features_path = args.npz or Path(tmp) / "reference.npy"
        if args.mode == "keras":
            with zipfile.ZipFile(wheel) as z:
                model_h5.write_bytes(z.read("lsvtest/model/model.h5"))
            print(
                json.dumps(
                    {
                        "labels": keras_labels(model_h5, np.load(args.npz)),
                        "ours": keras_labels(model_h5, np.load(str(args.npz) + ".ours.npy")),
                    }
                )
            )
            return 0
        reference_python = python_option(args.reference_python, "mediapipe")
        keras_python = args.keras_python or str(ROOT / ".venv-tools" / "bin" / "python")
        if not reference_python:
            raise SystemExit("needs --reference-python (mediapipe==0.10.21: make venv-mediapipe)")
        me = [str(Path(__file__).resolve()), "--bundle", str(args.bundle), "--photos", str(args.photos), "--stride", str(args.stride)]
        if not features_path.exists():  # --npz: keep (and reuse) the reference keypoints there
            reference_cmd = [reference_python, *me, "--mode", "reference", "--npz", str(features_path)]
            subprocess.run(reference_cmd, check=True, capture_output=True, timeout=3600)
        from_frames, from_clip, our_features, cpu = ours(clips, args.bundle)
        np.save(str(features_path) + ".ours.npy", our_features)
        done = subprocess.run(
            [keras_python, *me, "--mode", "keras", "--npz", str(features_path)], check=True, capture_output=True, text=True, timeout=3600
        )
        keras = json.loads(done.stdout.strip().splitlines()[-1])
        reference = np.load(features_path)
    n = len(clips)
    report = {
        "recordings": f"{args.photos.name}: {n} windows of {FRAMES} consecutive photos (sorted by name), every {args.stride}",
        "windows": n,
        "top1_agreement_frames_pct": round(100 * sum(a == b for a, b in zip(from_frames, keras["labels"], strict=True)) / n, 1),
        "top1_agreement_clip_pct": round(100 * sum(a == b for a, b in zip(from_clip, keras["labels"], strict=True)) / n, 1),
        "keras_on_our_features_agreement_pct": round(100 * sum(a == b for a, b in zip(keras["ours"], keras["labels"], strict=True)) / n, 1),
        "reference_labels": keras["labels"],
        "ours_frames": from_frames,
        "ours_clip": from_clip,
        "frames_with_pose_ref_vs_ours": [int((reference[..., :132] != 0).any(-1).sum()), int((our_features[..., :132] != 0).any(-1).sum())],
        "frames_with_face_ref_vs_ours": [
            int((reference[..., 132:1536] != 0).any(-1).sum()),
            int((our_features[..., 132:1536] != 0).any(-1).sum()),
        ],
        "cpu_ms_per_frame_frames_path": round(float(np.mean(cpu)), 1),
    }
    print_report(report, args.out)
    return 0


if __name__ == "__main__":
    sys.exit(main())
