"""Checks a converted model must pass before a bundle is written: it loads, it matches
Keras on sample inputs (max abs difference, top-1 agreement), in TensorFlow's interpreter
here and, through the project's own runtime code, in every other Python given.
"""

from __future__ import annotations

import json
import subprocess
import tempfile
from pathlib import Path

import numpy as np
import tensorflow as tf

from tools import ROOT

# Runs in a runtime venv: the bundle through shared.gesture exactly as predict_gesture
# serves it (normalisation, reset of LSTM state, labels), features form.
RUNTIME_SNIPPET = """
import json, sys
sys.path.insert(0, sys.argv[1])
import numpy as np
from shared.gesture.classifier import Frames, GestureClassifier
from shared.runtime.bundle import LoadOptions, load_bundle
from shared.runtime.tflite import runtime_info
from shared.settings import get_settings
runtime = get_settings().tflite_runtime
clf = GestureClassifier(load_bundle(sys.argv[2], LoadOptions(runtime=runtime), task="gesture-classification"))
x = np.load(sys.argv[3])
n = len(clf.labels)
out = np.zeros((len(x), n))
for i, sample in enumerate(x):
    p = clf.predict(Frames("features", sample.astype(np.float64)), top_k=n)
    probs = dict(p.top_k)
    out[i] = [probs[label] for label in clf.labels]
np.save(sys.argv[4], out)
print(json.dumps(runtime_info(runtime)))
"""


def softmax(x: np.ndarray) -> np.ndarray:
    e = np.exp(x - x.max(axis=-1, keepdims=True))
    return e / e.sum(axis=-1, keepdims=True)


def keras_probabilities(model: tf.keras.Model, x: np.ndarray, is_softmax: bool) -> np.ndarray:
    """(N, T, F) model-ready inputs -> (N, C) probabilities, one sample at a time (batch 1)."""
    out = np.concatenate([model(x[i : i + 1], training=False).numpy().reshape(1, -1) for i in range(len(x))])
    return out if is_softmax else softmax(out.astype(np.float64))


def interpreter_outputs(tflite: bytes, x: np.ndarray, reset: bool = True) -> np.ndarray:
    """(N, T, F) -> (N, C) raw outputs from TensorFlow's own TFLite interpreter."""
    interp = tf.lite.Interpreter(model_content=tflite, num_threads=1)
    interp.allocate_tensors()
    inp, out = interp.get_input_details()[0], interp.get_output_details()[0]
    rows = []
    for sample in x:
        if reset:
            interp.reset_all_variables()
        interp.set_tensor(inp["index"], sample.reshape(inp["shape"]).astype(np.float32))
        interp.invoke()
        rows.append(interp.get_tensor(out["index"]).reshape(-1))
    return np.array(rows)


def state_carries_over(tflite: bytes, sample: np.ndarray) -> float:
    """Max abs difference between two invocations on the same input without a variable
    reset: > 0 means the model keeps state (fused LSTM) and the runtime reset matters."""
    twice = interpreter_outputs(tflite, np.stack([sample, sample]), reset=False)
    return float(np.abs(twice[0] - twice[1]).max())


def runtime_probabilities(python: str, bundle_dir: Path, raw: np.ndarray) -> tuple[dict, np.ndarray]:
    """(runtime info, (N, C) probabilities) from the bundle served by shared.gesture in `python`."""
    with tempfile.TemporaryDirectory(prefix="bundle-check-") as tmp:
        src, dst = Path(tmp, "x.npy"), Path(tmp, "y.npy")
        np.save(src, raw.astype(np.float64))
        done = subprocess.run(
            [python, "-c", RUNTIME_SNIPPET, str(ROOT), str(bundle_dir), str(src), str(dst)], capture_output=True, text=True, timeout=900
        )
        if done.returncode != 0:
            raise SystemExit(f"the bundle does not run in {python}:\n{done.stderr[-2000:]}")
        return json.loads(done.stdout.strip().splitlines()[-1]), np.load(dst)


def compare(reference: np.ndarray, got: np.ndarray) -> dict:
    """Max abs difference and top-1 agreement of two (N, C) probability arrays."""
    agree = reference.argmax(axis=1) == got.argmax(axis=1)
    top2 = np.sort(reference, axis=1)[:, -2:]
    return {
        "samples": len(reference),
        "max_abs_diff": float(np.abs(reference - got).max()),
        "top1_agreement": float(agree.mean()),
        "disagreeing_samples": [int(i) for i in np.flatnonzero(~agree)][:20],
        "min_top1_margin": float((top2[:, 1] - top2[:, 0]).min()),
    }


def passes(result: dict, max_abs_diff: float, min_top1: float) -> list[str]:
    """Why a comparison fails (empty when it passes)."""
    problems = []
    if not result["max_abs_diff"] <= max_abs_diff:
        problems.append(f"max abs difference {result['max_abs_diff']:.3g} > {max_abs_diff:g}")
    if result["top1_agreement"] < min_top1:
        problems.append(f"top-1 agreement {result['top1_agreement']:.4f} < {min_top1:g} (samples {result['disagreeing_samples']})")
    return problems
