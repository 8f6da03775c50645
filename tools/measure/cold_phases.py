#!/usr/bin/env python3
"""Where a cold verify_face's CPU goes, phase by phase (issue 25, item 4).

Fresh processes (`--runs`, default 5) each take the steps a cold worker takes, one at a
time, and read their own CPU time (process time) after each: functions-framework's import
(the floor's), the app (main.py), numpy, Pillow with the plugins a first JPEG loads,
LiteRT's interpreter module, the rest of the face library the first answer imports, both
models loaded, the first pair (the benchmark's 1 MP pair, through Flask's test client) and
a second one (a warm pair, for comparison). Medians per phase.

    .venv/bin/python tools/measure/cold_phases.py [--runs 5]
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

CHILD = r"""
import json, sys, time
root, body_path, content_type = sys.argv[1:4]
body = open(body_path, "rb").read()
marks = [("start", time.process_time())]
def mark(name):
    marks.append((name, time.process_time()))
import functions_framework
mark("functions-framework (the floor's)")
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


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--root", type=Path, default=ROOT, help="the tree whose verify_face is measured")
    parser.add_argument("--python", default=sys.executable)
    args = parser.parse_args()
    sys.path.insert(0, str(ROOT))
    from tools.measure.bench.inputs import face_photo_pairs, verify_request

    request = verify_request(face_photo_pairs()["1mp"], "1mp")
    body = ROOT / "build" / "cold-phases.body"
    body.parent.mkdir(exist_ok=True)
    body.write_bytes(request.body)
    runs = []
    env = {**os.environ, "EMBEDDING_CACHE_SIZE": "0"}
    for _ in range(args.runs):
        command = [args.python, "-c", CHILD, str(args.root.resolve()), str(body), request.content_type]
        out = subprocess.run(command, capture_output=True, text=True, env=env, cwd=args.root, check=False)
        line = next((x for x in out.stdout.splitlines() if x.startswith("PHASES ")), None)
        if out.returncode or line is None:
            raise SystemExit(out.stderr[-1500:])
        runs.append(json.loads(line[7:]))
    print(f"{args.runs} runs; load average {os.getloadavg()[0]:.1f}")
    print("| phase | CPU ms, median |")
    print("|---|---|")
    for i, (name, _) in enumerate(runs[0]):
        print(f"| {name} | {statistics.median(r[i][1] for r in runs):.1f} |")


if __name__ == "__main__":
    main()
