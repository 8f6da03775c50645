#!/usr/bin/env python3
"""Where a cold verify_face's (or predict_gesture's) CPU goes, phase by phase (issue 25, item 4).

Fresh processes (`--runs`, default 5) each take the steps a cold worker takes, one at a
time, and read their own CPU time (process time) after each: functions-framework's import
(the floor's), the app (main.py), numpy, Pillow with the plugins a first JPEG loads,
LiteRT's interpreter module, the rest of the face library the first answer imports, both
models loaded, the first pair (the benchmark's 1 MP pair, through Flask's test client) and
a second one (a warm pair, for comparison). `--function predict_gesture`: the floor's own
serving imports first (functions/serve.py's, shared.edge's worker and settings: a served
floor has them), then the app, numpy and LiteRT's module, the gesture library, its bundles
loaded (the tree's own, as GESTURE_MODEL names them when served) and the benchmark's first
gesture row, twice. Medians per phase; with `--also NAME=TREE` the trees' processes
alternate, a column each.

    .venv/bin/python tools/measure/cold_phases.py [--runs 5]
    .venv/bin/python tools/measure/cold_phases.py --root build/r4 --also main=build/main-626dcb8 --runs 9 [--function predict_gesture]
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]

# What both children do first: read the request body, start the marks, import the framework.
PREAMBLE = r"""
import json, sys, time
root, body_path, content_type = sys.argv[1:4]
body = open(body_path, "rb").read()
marks = [("start", time.process_time())]
def mark(name):
    marks.append((name, time.process_time()))
import functions_framework
"""

GESTURE_CHILD = (
    PREAMBLE
    + r"""sys.path.insert(0, root)
import shared.edge.server, shared.edge.worker
mark("functions-framework and the serving worker (the served floor's)")
app = functions_framework.create_app("predict_gesture", root + "/functions/predict_gesture/main.py")
mark("main.py (the edge, settings)")
import numpy
from shared.runtime.tflite import _interpreter_class
_interpreter_class()
mark("numpy and LiteRT's interpreter module")
import shared.gesture.service
mark("the gesture library")
main = next(m for m in list(sys.modules.values()) if hasattr(m, "gestures") and hasattr(m, "predict_gesture"))
main.gestures.get()
mark("both gesture bundles loaded")
client = app.test_client()
mark("(Flask's test client)")
assert client.post("/", data=body, content_type=content_type).status_code == 200
mark("the first answer")
assert client.post("/", data=body, content_type=content_type).status_code == 200
mark("a second answer (warm)")
print("PHASES " + json.dumps([[marks[i][0], (marks[i][1] - marks[i - 1][1]) * 1000] for i in range(1, len(marks))]))
"""
)

CHILD = (
    PREAMBLE
    + r"""mark("functions-framework (the floor's)")
app = functions_framework.create_app("verify_face", root + "/functions/verify_face/main.py")
mark("main.py (shared.edge, settings)")
import numpy
mark("numpy")
from PIL import Image, TiffImagePlugin
Image.preinit()
mark("Pillow and a first JPEG's plugins")
from shared.runtime.tflite import _interpreter_class
_interpreter_class()
mark("LiteRT's interpreter module")
from shared.liveness import service
mark("the face library")
main = next(m for m in list(sys.modules.values()) if hasattr(m, "verifier") and hasattr(m, "verify_face"))
main.verifier.get()
mark("both models loaded (hash, build, XNNPACK packing)")
client = app.test_client()
assert client.post("/", data=body, content_type=content_type).status_code == 200
mark("the first pair")
assert client.post("/", data=body, content_type=content_type).status_code == 200
mark("a second pair (warm)")
print("PHASES " + json.dumps([[marks[i][0], (marks[i][1] - marks[i - 1][1]) * 1000] for i in range(1, len(marks))]))
"""
)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--root", type=Path, default=ROOT, help="the tree whose verify_face is measured")
    parser.add_argument("--also", action="append", default=[], metavar="NAME=TREE", help="another tree, measured in alternation")
    parser.add_argument("--function", choices=("verify_face", "predict_gesture"), default="verify_face")
    parser.add_argument("--python", default=sys.executable)
    args = parser.parse_args()
    sys.path.insert(0, str(ROOT))
    from tools.measure.bench.gesture import gesture_requests, served_env
    from tools.measure.bench.inputs import face_photo_pairs, verify_request

    gesture = args.function == "predict_gesture"
    request = next(iter(gesture_requests().values()))[0] if gesture else verify_request(face_photo_pairs()["1mp"], "1mp")
    child = GESTURE_CHILD if gesture else CHILD
    body = ROOT / "build" / f"cold-phases-{args.function}.body"
    body.parent.mkdir(exist_ok=True)
    body.write_bytes(request.body)
    trees = {"this tree": args.root.resolve()} | {n: Path(t).resolve() for n, _, t in (a.partition("=") for a in args.also)}
    runs: dict[str, list] = {name: [] for name in trees}
    env = {**os.environ, "EMBEDDING_CACHE_SIZE": "0"}
    for _ in range(args.runs):
        for name, tree in trees.items():
            command = [args.python, "-c", child, str(tree), str(body), request.content_type]
            models = served_env()["GESTURE_MODEL"].replace(str(ROOT / "models"), str(tree / "models"))
            tree_env = env | ({"GESTURE_MODEL": models} if gesture else {})
            out = subprocess.run(command, capture_output=True, text=True, env=tree_env, cwd=tree, check=False)
            line = next((x for x in out.stdout.splitlines() if x.startswith("PHASES ")), None)
            if out.returncode or line is None:
                raise SystemExit(out.stderr[-1500:])
            runs[name].append(json.loads(line[7:]))
    print(f"{args.function}: {args.runs} runs; load average {os.getloadavg()[0]:.1f}")
    print("| phase | " + " | ".join(f"CPU ms, median ({name})" for name in trees) + " |")
    print("|---|" + "---|" * len(trees))
    first = runs["this tree"]
    for i, (phase, _) in enumerate(first[0]):
        print(f"| {phase} | " + " | ".join(f"{statistics.median(r[i][1] for r in runs[name]):.1f}" for name in trees) + " |")


if __name__ == "__main__":
    main()
