#!/usr/bin/env python3
"""SFace variants side by side (issue 25, item 1): CPU per embedding, memory, size, cosine.

Held-out chips: lfw-dev fold HELDOUT_FOLD's photos (every k-th of the sorted names, aligned by
the served pipeline as tools/build/build_face_embedder_sface.py aligns them; the int8
variant's ranges come from fold 4's), cached in build/embedder-variants/chips-<fold>.npz.

- CPU: every model loaded in this one process (one thread each, as served), the chips run
  round-robin over the models (interleaved), each call timed with this thread's CPU time;
  median and mean per model over `--rounds` passes of every chip.
- memory: a fresh child process per model: VmRSS before the load (the runtime imported), the load's peak (VmHWM,
  reset just before the load through /proc/self/clear_refs) and VmRSS after `--runs` calls,
  each as MB above the before figure.
- cosine of each model's embedding to the first model's (the float reference) on every chip.

    .venv/bin/python tools/measure/embedder_variants.py MODEL_DIR... [--chips 150] [--rounds 3]
"""

from __future__ import annotations

import argparse
import csv
import json
import subprocess
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

from tools import ROOT, testdata

OUT = ROOT / "build" / "embedder-variants"
HELDOUT_FOLD = "1"


def heldout_chips(count: int) -> np.ndarray:
    cache = OUT / f"chips-{HELDOUT_FOLD}-{count}.npz"
    if cache.exists():
        return np.load(cache)["chips"]
    from tools.build.build_face_embedder_sface import chips_of

    lfw = testdata.shared_data("faces", "lfw-dev")
    if lfw is None:
        raise SystemExit("needs ../shared/data/faces/lfw-dev")
    with (lfw / "pairs.csv").open(newline="") as f:
        names = sorted({r[k] for r in csv.DictReader(f) if r["fold"] == HELDOUT_FOLD for k in ("img1", "img2")})
    chips = np.stack(list(chips_of([lfw / n for n in names[:: max(1, len(names) // count)]]).values())[:count])
    OUT.mkdir(parents=True, exist_ok=True)
    np.savez_compressed(cache, chips=chips)
    return chips


def vm_mb(field: str) -> float:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1]) / 1024
    raise KeyError(field)


def child(model_dir: str, chips_path: str, runs: int) -> dict:
    """One model's memory in this fresh process."""
    import importlib

    from shared.runtime.bundle import LoadOptions, load_bundle
    from shared.runtime.options import RUNTIMES

    for name in RUNTIMES:  # the runtime's import (~9 MB for LiteRT) is not the model's
        try:
            importlib.import_module(f"{name}.interpreter")
            break
        except ImportError:
            continue
    chips = np.load(chips_path)["chips"]
    before = vm_mb("VmRSS")
    Path("/proc/self/clear_refs").write_text("5")  # VmHWM := VmRSS
    bundle = load_bundle(model_dir, LoadOptions())
    peak = vm_mb("VmHWM")
    for c in chips[:runs]:
        bundle.model.run(c[None].astype(np.float32))
    return {"load_peak_mb": round(peak - before, 1), "rss_after_run_mb": round(vm_mb("VmRSS") - before, 1)}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("models", nargs="*", help="bundle folders; the first is the cosine reference")
    parser.add_argument("--chips", type=int, default=150)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--runs", type=int, default=20, help="calls before the memory child reads its RSS")
    parser.add_argument("--child", nargs=2, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.child:
        print(json.dumps(child(args.child[0], args.child[1], args.runs)))
        return 0
    from shared.runtime.bundle import LoadOptions, load_bundle

    chips = heldout_chips(args.chips)
    chips_path = OUT / f"chips-{HELDOUT_FOLD}-{args.chips}.npz"
    memory = {}
    for m in args.models:
        cmd = [sys.executable, __file__, "--child", m, str(chips_path), "--runs", str(args.runs)]
        out = subprocess.run(cmd, capture_output=True, text=True, check=True)
        memory[m] = json.loads(out.stdout.strip().splitlines()[-1])
    models = {m: load_bundle(m, LoadOptions()).model for m in args.models}
    batch = [c[None].astype(np.float32) for c in chips]
    for model in models.values():
        model.run(batch[0])  # warm
    cpu: dict[str, list[float]] = {m: [] for m in models}
    emb: dict[str, list[np.ndarray]] = {m: [] for m in models}
    for r in range(args.rounds):
        for x in batch:
            for m, model in models.items():
                t = time.thread_time()
                (out,) = model.run(x)
                cpu[m].append((time.thread_time() - t) * 1000)
                if r == 0:
                    emb[m].append(out.reshape(-1).copy())
    ref = np.stack(emb[args.models[0]])
    rows = []
    for m in args.models:
        e = np.stack(emb[m])
        cos = np.sum(e * ref, 1) / (np.linalg.norm(e, axis=1) * np.linalg.norm(ref, axis=1))
        rows.append(
            {
                "model": str(Path(m).name),
                "size_mb": round((Path(m) / "model.tflite").stat().st_size / 1e6, 2),
                "cpu_ms_median": round(float(np.median(cpu[m])), 2),
                "cpu_ms_mean": round(float(np.mean(cpu[m])), 2),
                **memory[m],
                "cosine_to_first_min": round(float(cos.min()), 5),
                "cosine_to_first_mean": round(float(cos.mean()), 5),
            }
        )
    result = {"chips": f"{len(chips)} lfw-dev fold {HELDOUT_FOLD} chips", "calls_per_model": len(cpu[args.models[0]]), "rows": rows}
    print(json.dumps(result, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
