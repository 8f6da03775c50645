"""Write a checked gesture bundle: model.tflite + bundle.json, or nothing at all.

The bundle is assembled in a temporary folder beside the target, loaded and compared
with Keras there, and only moved into place when every check passes.
"""

from __future__ import annotations

import hashlib
import json
import shutil
import sys
import tempfile
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import tensorflow as tf

from . import check
from .convert import op_versions


@dataclass
class BundleSpec:
    """What goes into bundle.json besides what is measured from the model itself."""

    name: str
    version: str
    description: str
    labels: list[str]
    preprocessing: dict  # frames, features_per_frame, frame_fit, missing, normalization, landmarks
    softmax_in_model: bool
    source: dict
    conversion: dict
    metrics: dict | None = None
    extra: dict = field(default_factory=dict)


@dataclass
class Checks:
    """Thresholds: Keras vs TFLite probabilities must differ by at most max_abs_diff and
    agree on top-1 for at least min_top1 of the samples; verify_pythons are runtime venvs."""

    max_abs_diff: float = 1e-4
    min_top1: float = 1.0
    verify_pythons: list[str] = field(default_factory=list)


def keras_version() -> str:
    from importlib import metadata

    return getattr(tf.keras, "__version__", None) or metadata.version("keras")


def _tensors(details: list[dict]) -> list[dict]:
    return [{"name": d["name"], "shape": [int(v) for v in d["shape"]], "dtype": np.dtype(d["dtype"]).name} for d in details]


def manifest(spec: BundleSpec, tflite: bytes) -> dict:
    interp = tf.lite.Interpreter(model_content=tflite)
    return {
        "name": spec.name,
        "version": spec.version,
        "task": "gesture-classification",
        "description": spec.description,
        "inputs": _tensors(interp.get_input_details()),
        "outputs": _tensors(interp.get_output_details()),
        "preprocessing": spec.preprocessing,
        "postprocessing": {
            "softmax": not spec.softmax_in_model,
            "note": "model outputs are probabilities" if spec.softmax_in_model else "model outputs are logits: apply softmax",
        },
        "labels": spec.labels,
        **({"metrics": spec.metrics} if spec.metrics else {}),
        "sha256": hashlib.sha256(tflite).hexdigest(),
        "size_bytes": len(tflite),
        "source": spec.source,
        "conversion": {**spec.conversion, "tensorflow": tf.__version__, "keras": keras_version(), "ops": op_versions(tflite)},
        **spec.extra,
    }


def write_bundle(
    out: Path, spec: BundleSpec, model: tf.keras.Model, tflite: bytes, raw: np.ndarray, ready: np.ndarray, checks: Checks
) -> dict:
    """Check and write. raw: (N, T, F) sample features as a client sends them; ready: the
    same normalised for the Keras model. Returns the report; exits without writing on failure."""
    reference = check.keras_probabilities(model, ready, spec.softmax_in_model)
    outputs = check.interpreter_outputs(tflite, ready)
    probs = outputs if spec.softmax_in_model else check.softmax(outputs.astype(np.float64))
    report = {
        "tensorflow_interpreter": check.compare(reference, probs),
        "state_carry_without_reset": check.state_carries_over(tflite, ready[0]),
        "ops": op_versions(tflite),
        "keras_probabilities": reference.round(7).tolist(),
    }
    problems = [
        f"tensorflow interpreter: {p}" for p in check.passes(report["tensorflow_interpreter"], checks.max_abs_diff, checks.min_top1)
    ]
    meta = manifest(spec, tflite)
    out.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=f".{out.name}-", dir=out.parent))
    staging.chmod(0o755)  # mkdtemp makes it private; a bundle folder is read by deploy staging and servers
    try:
        (staging / "model.tflite").write_bytes(tflite)
        (staging / "bundle.json").write_text(json.dumps(meta, indent=2) + "\n")
        runtimes = {}
        for python in checks.verify_pythons:
            info, got = check.runtime_probabilities(python, staging, raw)
            result = check.compare(reference, got)
            report[f"{info['runtime']} {info['version']}"] = result
            runtimes[info["runtime"]] = info["version"]
            problems += [f"{info['runtime']} {info['version']}: {p}" for p in check.passes(result, checks.max_abs_diff, checks.min_top1)]
        if problems:
            print(json.dumps({k: v for k, v in report.items() if k != "keras_probabilities"}, indent=2), file=sys.stderr)
            raise SystemExit("refusing to write the bundle:\n  " + "\n  ".join(problems))
        meta["conversion"]["check"] = {k: v for k, v in report.items() if k not in ("ops", "keras_probabilities")}
        meta["runtimes_checked"] = runtimes
        (staging / "bundle.json").write_text(json.dumps(meta, indent=2) + "\n")
        if out.exists():
            shutil.rmtree(out)
        staging.replace(out)
    finally:
        if staging.exists():
            shutil.rmtree(staging)
    return report
