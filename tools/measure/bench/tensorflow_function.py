"""The "before" for the benchmark: our functions served with full TensorFlow.

This is what the seeds ran: `import tensorflow` when the instance starts, then the same
.tflite models through TensorFlow's own `tf.lite.Interpreter`. To compare like with like,
the very same handlers (functions/*/main.py) and library serve the requests; only the
interpreter class comes from TensorFlow, handed to shared/runtime/tflite.py as if it were the
`tflite_runtime` package (run with TFLITE_RUNTIME=tflite_runtime). Tools only: needs a
Python with tensorflow, functions-framework and the runtime requirements: .venvs/tensorflow
(`make venv-tensorflow`).

Targets: verify_face, predict_gesture.
"""

from __future__ import annotations

import importlib.util
import os
import sys
import types
from pathlib import Path

import tensorflow as tf  # the cost being measured: ~0.5 GB and seconds, at import

ROOT = Path(__file__).resolve().parents[3]


def _shim_tflite_runtime() -> None:
    """Expose tf.lite.Interpreter as `tflite_runtime.interpreter.Interpreter`."""
    package = types.ModuleType("tflite_runtime")
    package.__version__ = f"tensorflow {tf.__version__}"
    module = types.ModuleType("tflite_runtime.interpreter")
    module.Interpreter = tf.lite.Interpreter
    package.interpreter = module
    sys.modules["tflite_runtime"] = package
    sys.modules["tflite_runtime.interpreter"] = module
    os.environ["TFLITE_RUNTIME"] = "tflite_runtime"


def _load_handler(function: str):
    path = ROOT / "functions" / function / "main.py"
    spec = importlib.util.spec_from_file_location(f"bench_tf_{function}", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return getattr(module, function)


_shim_tflite_runtime()
_wanted = os.environ.get("BENCH_TF_FUNCTION", "verify_face")
if _wanted == "verify_face":
    verify_face = _load_handler("verify_face")
elif _wanted == "predict_gesture":
    predict_gesture = _load_handler("predict_gesture")
else:
    raise ValueError(f"BENCH_TF_FUNCTION must be verify_face or predict_gesture, got {_wanted!r}")
