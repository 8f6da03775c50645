#!/usr/bin/env python3
"""XNNPACK's weight cache, measured (issue 25, item 4): a model built by the Interpreter
API (what shared/runtime/tflite.py uses) against LiteRT's CompiledModel without a cache,
writing one and reading it back.

ai-edge-litert 2.3.0 takes the cache only through the CompiledModel API
(`xnnpack_weight_cache_path`); its Python module imports `ml_dtypes` (0.7-2 s here), so the
CompiledModel is driven through its native wrappers, as a runtime would have to. Each case
runs `--rounds` times in a fresh process, the cases interleaved: CPU time to build the
model (process time), the first and second run of one input, VmRSS after them (MB above
the runtime's import), and the output's bytes, which must be equal in every case (the
same input: a fixed random (1, size, size, 3) float32 array).

    .venv/bin/python tools/measure/weight_cache.py [models/face-embedder-sface] [--rounds 5]
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]

CHILD = r"""
import json, os, sys, time
import numpy as np
mode, path, cache = sys.argv[1], sys.argv[2], sys.argv[3]
def rss():
    return next(int(l.split()[1]) for l in open("/proc/self/status") if l.startswith("VmRSS")) / 1024
if mode == "interpreter":
    from ai_edge_litert.interpreter import Interpreter
    base = rss(); t = time.process_time()
    it = Interpreter(model_path=path, num_threads=1); it.allocate_tensors()
    build = time.process_time() - t
    i, o = it.get_input_details()[0], it.get_output_details()[0]
    x = np.random.default_rng(0).random(i["shape"], dtype=np.float32) * 255
    def run():
        it.set_tensor(i["index"], x); it.invoke(); return it.get_tensor(o["index"]).copy()
else:
    from ai_edge_litert import _pywrap_litert_compiled_model_wrapper as cm, _pywrap_litert_environment_wrapper as envw
    from ai_edge_litert import _pywrap_litert_tensor_buffer_wrapper as tb
    from ai_edge_litert.hardware_accelerator import HardwareAccelerator
    from ai_edge_litert.options import CpuOptions, Options
    base = rss(); t = time.process_time()
    env = envw.CreateEnvironment(runtime_path=os.path.dirname(cm.__file__), compiler_plugin_path="", dispatch_library_path="")
    cpu = CpuOptions(num_threads=1, xnnpack_weight_cache_path=cache if mode != "compiled" else "")
    options = Options(hardware_accelerators=HardwareAccelerator.CPU, cpu_options=cpu)._as_flat_kwargs()
    model = cm.CreateCompiledModelFromFile(env, path, **options)
    ins, outs = model.CreateInputBuffers(0), model.CreateOutputBuffers(0)
    build = time.process_time() - t
    shape = model.GetInputTensorDetails("serving_default")
    size = int(np.prod(next(iter(shape.values()))["shape"]))
    n_out = int(np.prod(next(iter(model.GetOutputTensorDetails("serving_default").values()))["shape"]))
    x = (np.random.default_rng(0).random(size, dtype=np.float32) * 255)
    def run():
        tb.WriteTensorBuffer(ins[0], x.reshape(-1), "float32"); model.RunByIndex(0, ins, outs)
        y = np.empty(n_out, np.float32); tb.ReadTensorToBuffer(outs[0], y, "float32"); return y
t = time.process_time(); y = run(); first = time.process_time() - t
t = time.process_time(); run(); second = time.process_time() - t
print(json.dumps({"build": build * 1000, "first": first * 1000, "second": second * 1000, "rss": rss() - base,
                  "out": y.astype(np.float32).tobytes().hex(), "ml_dtypes": "ml_dtypes" in sys.modules}))
"""


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("bundle", nargs="?", type=Path, default=ROOT / "models" / "face-embedder-sface")
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--python", default=sys.executable)
    args = parser.parse_args()
    model = next(args.bundle.glob("*.tflite"))
    modes = ("interpreter", "compiled", "cache write", "cache read")
    results: dict[str, list[dict]] = {m: [] for m in modes}
    with tempfile.TemporaryDirectory() as tmp:
        for r in range(args.rounds):
            cache = Path(tmp, f"cache-{r}.xnnpack")
            for mode in modes:  # "cache write" makes the file "cache read" reads, in the same round
                out = subprocess.run([args.python, "-c", CHILD, mode, str(model), str(cache)], capture_output=True, text=True, check=False)
                if out.returncode:
                    raise SystemExit(f"{mode}: {out.stderr[-1500:]}")
                results[mode].append(json.loads(out.stdout.splitlines()[-1]))
        size = Path(tmp, "cache-0.xnnpack").stat().st_size / 1e6
    outputs = {r["out"] for rs in results.values() for r in rs}
    print(f"{model.name}, {args.rounds} rounds; cache file {size:.1f} MB; outputs identical in every case: {len(outputs) == 1}")
    print("| case | build CPU ms | first run ms | second run ms | RSS +MB after | ml_dtypes imported |")
    print("|---|---|---|---|---|---|")
    for mode, rs in results.items():
        cells = [statistics.median(r[k] for r in rs) for k in ("build", "first", "second", "rss")]
        print(f"| {mode} | " + " | ".join(f"{c:.1f}" for c in cells) + f" | {rs[0]['ml_dtypes']} |")


if __name__ == "__main__":
    main()
