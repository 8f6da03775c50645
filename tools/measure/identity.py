#!/usr/bin/env python3
"""Same answers, bit for bit: the face pipeline's detections and embeddings of one tree
against another's (issue 25: a performance change must not move any of them).

Each tree runs in its own child process with its own library (`--root`), the settings'
defaults and the embedding cache off, on the same photos: every photo of
../shared/data/faces/deepface, every `--lfw-step`-th photo of ../shared/data/faces/lfw-dev
(sorted by path) and the face photos the tests fetch (tools/testdata.face_photos). For each
photo it records what `FaceVerifier.find_faces` returns (the decode's shape, every face's
box, score and keypoints, the detector and the step that found them) and the first face's
embedding (float32 bytes) and quality, or the error code a photo is refused with. Two trees
agree when every record is equal: boxes and scores as Python floats, the embedding's bytes
(float32 equality, no tolerance).

    .venv/bin/python tools/measure/identity.py --before-root build/before [--lfw-step 20]
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))

from tools import testdata  # noqa: E402

DEEPFACE = ("faces", "deepface")
LFW = ("faces", "lfw-dev")
SUFFIXES = (".jpg", ".jpeg", ".png", ".webp")


def photo_paths(lfw_step: int) -> list[Path]:
    """The photos compared, in a fixed order (see the module's docstring)."""
    paths: list[Path] = []
    for parts, step in ((DEEPFACE, 1), (LFW, lfw_step)):
        folder = testdata.shared_data(*parts)
        if folder is not None and step > 0:
            found = sorted(p for p in Path(folder).rglob("*") if p.suffix.lower() in SUFFIXES)
            paths += found[::step]
    tests = testdata.face_photos()
    paths += sorted(p for p in tests.iterdir() if p.suffix.lower() in SUFFIXES)
    return paths


CHILD = r"""
import hashlib, json, sys
root, listing = sys.argv[1], sys.argv[2]
sys.path.insert(0, root)
from shared.errors import ServiceError
from shared.face.verify import FaceVerifier, Stopwatch, VerifyOptions
from shared.settings import get_settings
verifier = FaceVerifier.load(VerifyOptions.from_settings(get_settings()))
for path in open(listing).read().splitlines():
    data = open(path, "rb").read()
    try:
        photo, faces, detector, found_by = verifier.find_faces(data, "img1", Stopwatch())
        chip = verifier.embedder.chip(photo.pixels, faces[0])
        vector = verifier.embedder.embed(chip)
        record = {
            "decoded": list(photo.pixels.shape), "pixels": hashlib.sha256(photo.pixels.tobytes()).hexdigest()[:16],
            "faces": [[list(map(float, f.box)), float(f.score), [list(map(float, k)) for k in f.keypoints]] for f in faces],
            "detector": detector, "found_by": found_by,
            "chip": hashlib.sha256(chip.tobytes()).hexdigest()[:16],
            "embedding": vector.astype("float32").tobytes().hex(),
        }
    except ServiceError as exc:
        record = {"refused": exc.code}
    print(json.dumps([path, record]), flush=True)
"""


def records(root: Path, paths: list[Path], python: str = sys.executable, env: dict[str, str] | None = None) -> dict[str, dict]:
    """{photo path: record} from a child process serving `root`'s library (`env`: more
    environment for it)."""
    listing = ROOT / "build" / f"identity-photos-{os.getpid()}.txt"
    listing.parent.mkdir(exist_ok=True)
    listing.write_text("\n".join(str(p) for p in paths))
    env = {**os.environ, **(env or {}), "EMBEDDING_CACHE_SIZE": "0", "PYTHONPATH": str(root)}
    out = subprocess.run([python, "-c", CHILD, str(root), str(listing)], capture_output=True, text=True, env=env, check=False)
    if out.returncode:
        raise SystemExit(f"{root}: {out.stderr[-2000:]}")
    return dict(json.loads(line) for line in out.stdout.splitlines())


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--before-root", type=Path, required=True, help="the other tree (e.g. git archive of main)")
    parser.add_argument("--root", type=Path, default=ROOT, help="this tree (default: the one holding this tool)")
    parser.add_argument("--lfw-step", type=int, default=20, help="every n-th lfw-dev photo (0: none)")
    parser.add_argument("--python", default=sys.executable)
    args = parser.parse_args()
    paths = photo_paths(args.lfw_step)
    before, after = records(args.before_root.resolve(), paths, args.python), records(args.root.resolve(), paths, args.python)
    differ = [p for p in before if before[p] != after.get(p)]
    faces = sum(len(r.get("faces", [])) for r in after.values())
    refused = sum("refused" in r for r in after.values())
    digest = hashlib.sha256(json.dumps(after, sort_keys=True).encode()).hexdigest()[:16]
    print(f"{len(paths)} photos ({faces} faces, {refused} refused): {len(differ)} differ; records' sha256 {digest}")
    for path in differ[:10]:
        print(f"  {path}:\n    before {json.dumps(before[path])[:300]}\n    after  {json.dumps(after.get(path))[:300]}")
    sys.exit(1 if differ else 0)


if __name__ == "__main__":
    main()
