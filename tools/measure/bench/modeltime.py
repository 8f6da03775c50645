"""In-process timing of the gesture bundles (run by tools/measure/benchmark.py in each Python).

Loads the bundles the way predict_gesture does (settings -> GestureService), then times,
per bundle, `model.run` alone and the full `predict` (preprocessing + model + top-k) on
keypoint rows (tools/testdata.py), after a warm-up. Prints one JSON line:
{bundle: {run_p50, run_p95, predict_p50, predict_p95}} in milliseconds.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[3]))  # the repo root: this runs as a file in each Python

from tools.testdata import gesture_rows

ROUNDS = 2000
WARMUP = 50


def stats(times: list[float]) -> tuple[float, float]:
    ms = sorted(t * 1000 for t in times)
    return statistics.median(ms), ms[int(len(ms) * 0.95)]


def main() -> None:
    argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter).parse_args()
    import numpy as np

    from shared.gesture.classifier import Frames
    from shared.gesture.service import GestureOptions, GestureService
    from shared.settings import get_settings

    service = GestureService.load(GestureOptions.from_settings(get_settings()))
    data = [gesture_rows("keypoint.csv", 200), gesture_rows("point_history.csv", 200)]
    out = {}
    for name, clf in service.classifiers.items():
        c = clf.contract
        source = next(d for d in data if len(d[0]) == c.frames * c.features_per_frame)
        frames = [Frames("features", np.asarray(r, dtype=np.float64).reshape(c.frames, c.features_per_frame)) for r in source]
        inputs = [clf.features(f)[0].reshape(clf.input_shape) for f in frames]
        run_t, predict_t = [], []
        for i in range(WARMUP + ROUNDS):
            x, f = inputs[i % len(inputs)], frames[i % len(frames)]
            t0 = time.perf_counter()
            clf.bundle.model.run(x)
            t1 = time.perf_counter()
            clf.predict(f)
            t2 = time.perf_counter()
            if i >= WARMUP:
                run_t.append(t1 - t0)
                predict_t.append(t2 - t1)
        (r50, r95), (p50, p95) = stats(run_t), stats(predict_t)
        out[name] = {"run_p50": r50, "run_p95": r95, "predict_p50": p50, "predict_p95": p95}
    print(json.dumps(out))


if __name__ == "__main__":
    main()
