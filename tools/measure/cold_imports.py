#!/usr/bin/env python3
"""What a cold start imports before each function's first answer (issue 25, item 4).

Fresh processes (`--runs`, default 7) per function and tree run `python -X importtime`:
functions-framework is imported (the hello-world floor's imports), then the function's app
is built (`create_app`, as the server does) and answers the benchmark's cold request (the
1 MP pair for verify_face, the first gesture row for predict_gesture) through Flask's test
client. Every module imported after functions-framework is counted, with its own import
time (`self`, the minimum over the runs: the machine's load only ever adds), grouped by
package; the wall time from create_app to the answer is the median. `--modules` lists the
modules themselves (what to defer: anything the first answer does not use).

    .venv/bin/python tools/measure/cold_imports.py [--before-root build/before] [--runs 7] [--modules]
"""

from __future__ import annotations

import argparse
import collections
import json
import os
import statistics
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
GROUPS = ("numpy", "PIL", "ai_edge_litert", "tflite_runtime", "shared", "flask", "werkzeug", "functions")

CHILD = r"""
import os, sys, time
root, function, body_path, content_type = sys.argv[1:5]
body = open(body_path, "rb").read()
import functions_framework
before = set(sys.modules)
started = time.perf_counter()
app = functions_framework.create_app(function, os.path.join(root, "functions", function, "main.py"))
answer = app.test_client().post("/", data=body, content_type=content_type)
wall = time.perf_counter() - started
assert answer.status_code == 200, answer.data[:300]
print("COLD " + repr((wall, sorted(set(sys.modules) - before))))
"""


def cold_requests() -> dict[str, tuple[Path, str, dict[str, str]]]:
    """{function: (body file, content type, extra environment)}: the benchmark's cold requests."""
    sys.path.insert(0, str(ROOT))
    from tools.measure.bench.gesture import gesture_requests, served_env
    from tools.measure.bench.inputs import face_photo_pairs, verify_request

    out_dir = ROOT / "build" / "cold-imports"
    out_dir.mkdir(parents=True, exist_ok=True)
    requests = {
        "verify_face": (verify_request(face_photo_pairs()["1mp"], "1mp"), {}),
        "predict_gesture": (next(iter(gesture_requests().values()))[0], served_env()),
    }
    out = {}
    for function, (request, env) in requests.items():
        path = out_dir / f"{function}.body"
        path.write_bytes(request.body)
        out[function] = (path, request.content_type, env)
    return out


def one_run(python: str, root: Path, function: str, request: tuple[Path, str, dict[str, str]]) -> tuple[float, dict[str, int]]:
    """(wall s from create_app to the answer, {module: self import µs}) of one fresh process."""
    body, content_type, env = request
    command = [python, "-X", "importtime", "-c", CHILD, str(root), function, str(body), content_type]
    out = subprocess.run(command, capture_output=True, text=True, env={**os.environ, **env}, check=False, timeout=300)
    line = next((x for x in out.stdout.splitlines() if x.startswith("COLD ")), None)
    if out.returncode or line is None:
        raise SystemExit(f"{function} in {root}: {out.stderr[-1500:]}")
    wall, modules = eval(line[5:], {})  # our own child's repr of a float and a list of names
    own: dict[str, int] = {}
    for row in out.stderr.splitlines():
        if row.startswith("import time:") and "self [us]" not in row:
            self_us, _, name = row[len("import time:") :].split("|")
            own[name.strip()] = int(self_us)
    return wall, {m: own[m] for m in modules if m in own}


def group(module: str) -> str:
    top = module.split(".")[0]
    return top if top in GROUPS else "standard library and other"


def profile(python: str, root: Path, function: str, request, runs: int) -> tuple[float, dict[str, int]]:
    walls, best = [], {}
    for _ in range(runs):
        wall, modules = one_run(python, root, function, request)
        walls.append(wall)
        for name, us in modules.items():
            best[name] = min(us, best.get(name, us))
    return statistics.median(walls), best


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--before-root", type=Path, help="another tree profiled the same way (e.g. git archive of main)")
    parser.add_argument("--runs", type=int, default=7)
    parser.add_argument("--modules", action="store_true", help="list every module the first answer imports")
    parser.add_argument("--python", default=sys.executable)
    args = parser.parse_args()
    requests = cold_requests()
    trees = {"this tree": ROOT} | ({"before": args.before_root.resolve()} if args.before_root else {})
    results = {(f, t): profile(args.python, root, f, requests[f], args.runs) for f in requests for t, root in trees.items()}
    print(json.dumps({f"{f} [{t}]": round(wall, 3) for (f, t), (wall, _) in results.items()}))
    print("| function | tree | group | modules | import ms (min self, summed) |")
    print("|---|---|---|---|---|")
    for (function, tree), (wall, modules) in results.items():
        sums: dict[str, list[int]] = collections.defaultdict(list)
        for name, us in modules.items():
            sums[group(name)].append(us)
        for name, values in sorted(sums.items(), key=lambda kv: -sum(kv[1])):
            print(f"| {function} | {tree} | {name} | {len(values)} | {sum(values) / 1000:.1f} |")
        total, label = sum(modules.values()) / 1000, "**all, and the median wall time to the answer**"
        print(f"| {function} | {tree} | {label} | {len(modules)} | **{total:.1f}** ({wall * 1000:.0f} ms wall) |")
    if args.modules:
        for (function, tree), (_, modules) in results.items():
            print(f"\n{function} [{tree}]: " + " ".join(f"{m}:{us / 1000:.1f}" for m, us in sorted(modules.items())))


if __name__ == "__main__":
    main()
