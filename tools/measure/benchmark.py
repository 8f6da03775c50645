#!/usr/bin/env python3
"""Benchmark the functions the way the platform runs them, and write docs/benchmark.md + a plot.

Each case is a fresh `python -m functions_framework --target X --source ...` process on a
loopback port. Measured: cold start (spawn -> first successful POST answer; median over
--repeat fresh processes, next to a bare hello-world function started the same way, ratio
from the same run), warm latency p50/p95 and server CPU per request (sequential and 4
client threads with THREADS=4), memory of the serving process tree sampled every 20 ms,
PSS after 50 vs 500 requests (leak check), with the interpreter swapped (ai-edge-litert,
tflite-runtime 2.14, full TensorFlow's tf.lite.Interpreter as the "before"), and the
peer users compare with, face_recognition 1.3.0, served through the same harness.
verify_face also gets varied real photos (../shared/data/faces/deepface; skipped with the
reason in the notes when absent): 50 pairs as JSON base64 and as multipart, disjoint pairs
(each photo once: median CPU per pair) and a growth check over 500 photos.

    make venvs                       # the reference venvs under .venvs/ (once; minutes)
    .venv/bin/python tools/measure/benchmark.py --repeat 5 --out docs/ [--before-root TREE]

(`make bench [BEFORE=<git ref>]` runs the same.) The peer, tflite-runtime 2.14 and TensorFlow
rows use .venvs/face-recognition, .venvs/tflite214 and .venvs/tensorflow when they are
there (--python-face-recognition, --python-tflite214, --python-tf name others; '' skips one).
Server logs go to build/bench-logs/<time>/ unless --log-dir says otherwise.

Dev-only dependencies: matplotlib (for the plot); tools/requirements/bench.txt.
"""

from __future__ import annotations

import argparse
import atexit
import contextlib
import shlex
import signal
import sys
import time
from collections.abc import Callable
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))  # the repo root, also when run as a file

from tools import LOGS, ROOT, python_option
from tools.measure.bench import gs, report
from tools.measure.bench.cases import Budget, gesture_variants, hello_variant, peer_variant, runtime_versions, verify_variants
from tools.measure.bench.inputs import DEEPFACE, varied_photos
from tools.measure.bench.runner import VariantResult, cold_starts, run_all
from tools.measure.harness import stop_all

CASES = ("verify", "gesture", "hands")


def repo_relative(arg: str) -> str:
    """An argument as the report writes it: paths inside this tree relative to its root, so the
    recorded command reruns from any clone."""
    return arg.replace(f"{ROOT}/", "")


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0], formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--repeat", type=int, default=5, help="fresh processes per cold start median (default 5)")
    p.add_argument("--requests", type=int, default=50, help="requests per warm verify_face workload (default 50)")
    p.add_argument("--gesture-requests", type=int, default=500, help="requests per warm predict_gesture workload (default 500)")
    p.add_argument("--leak-requests", type=int, default=500, help="requests in the leak check, PSS read after 50 and after all (0 = skip)")
    p.add_argument(
        "--cases", default="verify,gesture", help=f"comma-separated subset of {','.join(CASES)} (the hello-world floor always runs)"
    )
    p.add_argument("--python-litert", default=sys.executable, help="Python with ai-edge-litert (default: this one)")
    p.add_argument(
        "--python-tflite214",
        help="Python with tflite-runtime 2.14 (default: .venvs/tflite214/bin/python when present, from make venv-tflite214; '' skips)",
    )
    p.add_argument(
        "--python-tf",
        help="Python with tensorflow + functions-framework for the 'before' (default: .venvs/tensorflow/bin/python when "
        "present, from make venv-tensorflow; '' skips)",
    )
    p.add_argument(
        "--python-face-recognition",
        help="Python with face-recognition 1.3.0 (dlib-bin) + functions-framework: the peer (default: "
        ".venvs/face-recognition/bin/python when present, from make venv-face-recognition; '' skips)",
    )
    p.add_argument("--peer-requests", type=int, default=10, help="requests per workload of the face_recognition peer (default 10)")
    p.add_argument("--no-other-embedders", action="store_true", help="only the default face embedder (skip the other bundles)")
    p.add_argument(
        "--env",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="extra environment for every served function (repeatable), e.g. MALLOC_ARENA_MAX=2",
    )
    p.add_argument("--out", type=Path, default=None, help="write benchmark.md and benchmark_rss.png here (default: print only)")
    p.add_argument("--log-dir", type=Path, default=None, help="server logs (default: build/bench-logs/<UTC time>/)")
    p.add_argument(
        "--before-root",
        type=Path,
        help="another tree (e.g. the main branch) served as the 'before': its verify_face on the same workloads, and "
        "(hands case) its landmark-only predict_gesture",
    )
    p.add_argument("--no-gs", action="store_true", help="skip the gs:// case even when the storage emulator is available")
    p.add_argument("--cold-timeout", type=float, default=180, help="seconds to wait for a first answer")
    args = p.parse_args(argv)
    args.python_tflite214 = python_option(args.python_tflite214, "tflite214")
    args.python_tf = python_option(args.python_tf, "tensorflow")
    args.python_face_recognition = python_option(args.python_face_recognition, "face-recognition")
    if any("=" not in e for e in args.env):
        p.error("--env takes KEY=VALUE")
    unknown = set(args.cases.split(",")) - set(CASES)
    if unknown or args.repeat < 1 or args.requests < 1:
        p.error(f"bad --cases {sorted(unknown)} or --repeat/--requests below 1")
    return args


ANALYSIS_MARK = "<!-- analysis: hand-written below this line, kept when the benchmark rewrites the file -->"


def kept_analysis(path: Path) -> str:
    """The hand-written part of an existing benchmark.md (from ANALYSIS_MARK on), or ""."""
    old = path.read_text() if path.exists() else ""
    return "\n" + old[old.index(ANALYSIS_MARK) :] if ANALYSIS_MARK in old else ""


def run(
    args: argparse.Namespace,
    cases: list[str],
    pythons: dict[str, tuple[str, dict]],
    budget: Budget,
    gs_env: dict | None,
    log_dir: Path,
    notes: list[str],
    say: Callable[[str], None],
) -> tuple[list[VariantResult], dict[str, float], list[str]]:
    """Cold starts, then warm workloads, then in-process gesture timing; servers always killed."""
    try:
        variants = [hello_variant(args.python_litert)]
        if args.env:
            notes.append("extra environment for every function: " + " ".join(args.env))
        if "verify" in cases:
            variants += verify_variants(
                pythons, budget, args.python_tf, gs_env, others=not args.no_other_embedders, before_root=args.before_root
            )
            photos = varied_photos()
            if photos is None:
                notes.append(f"varied photos skipped: ../shared/data/{'/'.join(DEEPFACE)} is not beside the repo")
            else:
                notes.append(f"varied photos: the {len(photos)} photos of ../shared/data/{'/'.join(DEEPFACE)}, as they are")
            if args.python_face_recognition:
                variants.append(peer_variant(args.python_face_recognition, budget, photos))
                notes.append(
                    "face_recognition 1.3.0 peer: tools/measure/bench/face_recognition_function.py (load_image_file, HOG "
                    "face_locations, face_encodings, tolerance 0.6), one worker thread; its varied workloads answer "
                    "verified=false where HOG finds no face; not run on 12 MP photos (seconds of HOG each)"
                )
            else:
                notes.append("face_recognition peer not measured (--python-face-recognition not given)")
            notes.append(
                "gs:// bundles: "
                + (
                    "served from a storage emulator on loopback (network time near zero: the client's own cost)"
                    if gs_env
                    else "not measured (storage emulator not available, or --no-gs)"
                )
            )
        if "gesture" in cases:
            found = gesture_variants(pythons, budget, args.python_tf)
            variants += found
            if not found:
                notes.append("predict_gesture skipped: functions/predict_gesture/main.py or ../shared/data/gesture is missing")
        if "hands" in cases:
            from tools.measure.bench.gesture import served_env
            from tools.measure.bench.hands import hands_variants

            variants += hands_variants(pythons, budget, args.before_root, served_env())
        say(f"cold starts: {len(variants)} variants x {args.repeat}")
        results = cold_starts(variants, args.repeat, log_dir, args.cold_timeout, say)
        say("warm workloads")
        run_all(results, log_dir, args.cold_timeout, say)
        model_ms, model_rows = {}, []
        if any(r.variant.name == "predict_gesture" for r in results):
            from tools.measure.bench.gesture import model_times

            model_ms, model_rows = model_times(pythons)
    finally:
        stop_all()
    return results, model_ms, model_rows


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    say = lambda text: print(text, file=sys.stderr, flush=True)  # noqa: E731 - progress on stderr, table on stdout
    atexit.register(stop_all)
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))  # unwind through the finally blocks: no orphans
    log_dir = args.log_dir or LOGS / "bench-logs" / time.strftime("%Y%m%d-%H%M%S", time.gmtime())
    say(f"server logs: {log_dir}")
    extra = dict(e.split("=", 1) for e in args.env)
    pythons = {"ai-edge-litert": (args.python_litert, {**extra, "TFLITE_RUNTIME": "ai_edge_litert"})}
    if args.python_tflite214:
        pythons["tflite-runtime 2.14"] = (args.python_tflite214, {**extra, "TFLITE_RUNTIME": "tflite_runtime"})
    versions = {name: runtime_versions(py) for name, (py, _) in pythons.items()}
    if args.python_tf:
        versions["tensorflow (before)"] = runtime_versions(args.python_tf)
    if args.python_face_recognition:
        versions["face_recognition 1.3.0"] = runtime_versions(args.python_face_recognition)
    budget = Budget(args.requests, args.gesture_requests, args.leak_requests, args.peer_requests)
    cases = args.cases.split(",")
    notes: list[str] = []
    with contextlib.ExitStack() as stack:
        gs_env = None
        if "verify" in cases and not args.no_gs:
            gs_env = stack.enter_context(gs.gs_bundles(gs.VERIFY_BUNDLES, "bench-bundles", say, log_dir))
        results, model_ms, model_rows = run(args, cases, pythons, budget, gs_env, log_dir, notes, say)
    given = argv if argv is not None else sys.argv[1:]
    command = "python tools/measure/benchmark.py " + " ".join(shlex.quote(repo_relative(a)) for a in given)
    rows = report.targets(results, "ai-edge-litert", model_ms)
    text = report.markdown(command, report.machine(), versions, results, rows, model_rows, notes)
    print(text)
    if args.out:
        args.out.mkdir(parents=True, exist_ok=True)
        (args.out / "benchmark.md").write_text(text + kept_analysis(args.out / "benchmark.md"))
        if not report.plot(results, args.out / "benchmark_rss.png"):
            say("matplotlib is not installed: no plot written (pip install -r tools/requirements/bench.txt)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
