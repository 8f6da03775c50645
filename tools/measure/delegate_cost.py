#!/usr/bin/env python3
"""XNNPACK or the builtin kernels, per bundle: what each costs a cold start and a warm run
(issue 25, cold start).

The runtime applies XNNPACK by default; `OpResolverType.BUILTIN_WITHOUT_DEFAULT_DELEGATES`
(ai_edge_litert and tflite-runtime 2.14 alike) runs the builtin kernels instead. For a tiny
graph the delegate's creation and weight packing might cost more than it saves. Each
bundle, each way, in `--runs` fresh processes (interleaved): the CPU time of building the
interpreter and allocating its tensors (the first interpreter of the process, as in a cold
start: XNNPACK's one-off initialisation included), of the first invoke, and the median wall
time of 200 warm invokes (one thread, the machine's load only adds); and whether the
outputs are bit-identical to XNNPACK's (random inputs, seed 0).

    .venv/bin/python tools/measure/delegate_cost.py [--runs 5] [--bundles finger-gesture,hand-sign]
    TFLITE_RUNTIME=tflite_runtime .venvs/tflite214/bin/python tools/measure/delegate_cost.py
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
BUNDLES = (
    *("finger-gesture", "hand-sign"),  # predict_gesture's classifiers
    *("face-detector-short", "face-detector-full", "face-embedder-sface"),  # verify_face
    *("hand-detector", "hand-landmarks"),  # predict_gesture's photos
)

CHILD = r"""
import importlib, json, os, statistics, sys, time
import numpy as np
name = os.environ.get("TFLITE_RUNTIME") or "ai_edge_litert"
module = importlib.import_module(name + ".interpreter")
path, way = sys.argv[1:3]
kwargs = {"num_threads": 1}
if way == "builtin":
    kwargs["experimental_op_resolver_type"] = module.OpResolverType.BUILTIN_WITHOUT_DEFAULT_DELEGATES
t0 = time.process_time()
it = module.Interpreter(model_path=path, **kwargs)
it.allocate_tensors()
t1 = time.process_time()
inputs, outputs = it.get_input_details(), it.get_output_details()
rng = np.random.default_rng(0)
arrays = [rng.random(d["shape"], dtype=np.float32).astype(d["dtype"]) for d in inputs]
def run():
    for d, a in zip(inputs, arrays):
        it.set_tensor(d["index"], a)
    it.invoke()
    return [it.get_tensor(d["index"]) for d in outputs]
t2 = time.process_time()
first = run()
t3 = time.process_time()
warm = []
for _ in range(200):
    a = time.perf_counter()
    run()
    warm.append(time.perf_counter() - a)
print("COST " + json.dumps([(t1 - t0) * 1e3, (t3 - t2) * 1e3, statistics.median(warm) * 1e3, [o.tobytes().hex() for o in first]]))
"""


def one(python: str, bundle: str, way: str) -> tuple[float, float, float, list[str]]:
    path = ROOT / "models" / bundle / "model.tflite"
    out = subprocess.run([python, "-c", CHILD, str(path), way], capture_output=True, text=True, check=False, timeout=600)
    line = next((x for x in out.stdout.splitlines() if x.startswith("COST ")), None)
    if out.returncode or line is None:
        raise SystemExit(f"{bundle} ({way}): {out.stderr[-1500:]}")
    build, first, warm, outputs = json.loads(line[5:])
    return build, first, warm, outputs


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--bundles", default=",".join(BUNDLES))
    parser.add_argument("--python", default=sys.executable)
    args = parser.parse_args()
    bundles = [b for b in args.bundles.split(",") if b]
    ways = ("xnnpack", "builtin")
    results: dict[tuple[str, str], list[tuple[float, float, float, list[str]]]] = {(b, w): [] for b in bundles for w in ways}
    for _ in range(args.runs):
        for bundle in bundles:
            for way in ways:
                results[(bundle, way)].append(one(args.python, bundle, way))
    runtime = os.environ.get("TFLITE_RUNTIME") or "ai_edge_litert"
    print(f"{runtime}; {args.runs} fresh processes per bundle and way; load average at the end {os.getloadavg()[0]:.1f}\n")
    print("| bundle | way | build + allocate, CPU ms | first invoke, CPU ms | cold total ms | warm invoke, median ms | same outputs |")
    print("|---|---|---|---|---|---|---|")
    for bundle in bundles:
        reference = results[(bundle, "xnnpack")][0][3]
        for way in ways:
            rows = results[(bundle, way)]
            build, first, warm = (statistics.median(r[i] for r in rows) for i in range(3))
            same = "yes" if all(r[3] == reference for r in rows) else "no (last bits)"
            print(f"| {bundle} | {way} | {build:.2f} | {first:.2f} | {build + first:.2f} | {warm:.4f} | {same} |")


if __name__ == "__main__":
    main()
