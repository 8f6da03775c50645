#!/usr/bin/env python3
"""Every resident MB of a warm verify_face worker, step by step (issue 25, item 5).

One child process per tree (this one, and `--before-root` when given) builds a worker the
way the serving one is built, one step at a time, and reads /proc/self/smaps_rollup after
each: the interpreter; functions-framework (Flask, Werkzeug: the hello-world floor's
imports); the function's main.py (create_app); numpy; Pillow with the plugins a first
JPEG loads; LiteRT's interpreter module; the face library (what the first answer imports);
the detector bundle loaded; the embedder bundle loaded; the first pair (the benchmark's
1 MP pair); 10 more pairs (disjoint deepface photos). Each row is the step's growth in RSS
and in private pages (Private_Clean + Private_Dirty: what a container holding only this
process would be charged beyond the shared libraries' pages). The face pipeline runs
in-process (FaceVerifier.verify), as the function's handler calls it, without Werkzeug's
request parsing. Linux only.

    .venv/bin/python tools/measure/idle_memory.py [--before-root build/before]
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]

CHILD = r"""
import json, os, sys
root, photos = sys.argv[1], json.loads(sys.argv[2])
sys.path.insert(0, root)
rows = []
def mark(step):
    fields = {}
    for line in open("/proc/self/smaps_rollup"):
        parts = line.split()
        if len(parts) >= 2 and parts[1].isdigit():
            fields[parts[0].rstrip(":")] = int(parts[1]) / 1024
    rows.append([step, fields["Rss"], fields["Private_Clean"] + fields["Private_Dirty"]])
mark("the interpreter (site, encodings)")
import functions_framework
mark("functions-framework, Flask, Werkzeug (the floor's imports)")
app = functions_framework.create_app("verify_face", os.path.join(root, "functions/verify_face/main.py"))
mark("main.py: shared.edge, settings")
import numpy
mark("numpy")
from PIL import Image, TiffImagePlugin
Image.preinit()
mark("Pillow and the plugins a first JPEG loads")
from shared.runtime.tflite import _interpreter_class
_interpreter_class()
mark("LiteRT's interpreter module")
from shared.face.verify import FaceVerifier, VerifyOptions
from shared.liveness import service
mark("the face library (what the first answer imports)")
from shared.face.detect import FaceDetector, FaceFinder
from shared.face.embed import FaceEmbedder
from shared.face.contract import DETECTION_TASK, EMBEDDING_TASK
from shared.runtime.bundle import load_as
from shared.runtime.lazy import Lazy
from shared.settings import get_settings
options = VerifyOptions.from_settings(get_settings())
detector = load_as(FaceDetector, options.detector, options.load, task=DETECTION_TASK)
mark(f"{detector.bundle.name} loaded")
embedder = load_as(FaceEmbedder, options.embedder, options.load, task=EMBEDDING_TASK)
mark(f"{embedder.bundle.name} loaded")
fallback = None  # as FaceVerifier.load builds it: loaded on first need
if options.fallback_detector:
    fallback = Lazy("fallback", lambda: load_as(FaceDetector, options.fallback_detector, options.load, task=DETECTION_TASK))
verifier = FaceVerifier(FaceFinder(detector, fallback, options.face_selection), embedder, options)
first, *more = photos
verifier.verify(open(first[0], "rb").read(), open(first[1], "rb").read())
mark("the first pair (decodes, detections, embeddings)")
for a, b in more:
    try:
        verifier.verify(open(a, "rb").read(), open(b, "rb").read())
    except Exception as exc:
        if getattr(exc, "status", 500) >= 500:
            raise
mark(f"{len(more)} more pairs" + (" (the fallback detector loaded on the way)" if fallback is not None and fallback.ready else ""))
print(json.dumps(rows))
"""


def pairs(count: int) -> list[list[str]]:
    """The benchmark's 1 MP pair (written under build/), then `count` disjoint deepface pairs."""
    sys.path.insert(0, str(ROOT))
    from tools import testdata
    from tools.measure.bench.inputs import face_photo_pairs

    out = ROOT / "build" / "idle-memory"
    out.mkdir(parents=True, exist_ok=True)
    one = face_photo_pairs()["1mp"]
    for i, data in enumerate(one):
        (out / f"1mp-{i}.jpg").write_bytes(data)
    folder = testdata.shared_data("faces", "deepface")
    photos = sorted(str(p) for p in Path(folder).iterdir() if p.suffix.lower() in (".jpg", ".jpeg", ".png", ".webp")) if folder else []
    return [[str(out / "1mp-0.jpg"), str(out / "1mp-1.jpg")]] + [photos[i : i + 2] for i in range(0, min(2 * count, len(photos) - 1), 2)]


def measure(root: Path, photos: list[list[str]], python: str) -> list[list]:
    env = {**os.environ, "EMBEDDING_CACHE_SIZE": "0", "THREADS": "1"}
    out = subprocess.run([python, "-c", CHILD, str(root), json.dumps(photos)], capture_output=True, text=True, env=env, check=False)
    if out.returncode:
        raise SystemExit(f"{root}: {out.stderr[-2000:]}")
    return json.loads(out.stdout.splitlines()[-1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--before-root", type=Path, help="another tree measured the same way (e.g. git archive of main)")
    parser.add_argument("--pairs", type=int, default=10, help="pairs after the first (default 10)")
    parser.add_argument("--python", default=sys.executable)
    args = parser.parse_args()
    photos = pairs(args.pairs)
    trees = {"this tree": ROOT} | ({"before": args.before_root.resolve()} if args.before_root else {})
    results = {name: measure(root, photos, args.python) for name, root in trees.items()}
    names = list(results)
    print("| step | " + " | ".join(f"RSS +MB ({n}) | private +MB ({n})" for n in names) + " |")
    print("|---|" + "---|---|" * len(names))
    steps = results[names[0]]
    for i, (step, _, _) in enumerate(steps):
        cells = []
        for n in names:
            rows = results[n]
            rss, private = rows[i][1] - (rows[i - 1][1] if i else 0), rows[i][2] - (rows[i - 1][2] if i else 0)
            cells += [f"{rss:.1f}", f"{private:.1f}"]
        print(f"| {step} | " + " | ".join(cells) + " |")
    print("| **total** | " + " | ".join(f"**{results[n][-1][1]:.1f}** | **{results[n][-1][2]:.1f}**" for n in names) + " |")


if __name__ == "__main__":
    main()
