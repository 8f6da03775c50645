"""tools/build/sface_net.py's PReLU rewrite for the int8 SFace: in float it is the same function
as a PReLU with the same per-channel slopes, below 1 and from 1 up (SFace has both).

Needs TensorFlow, so it runs as a subprocess in the tools interpreter: $TOOLS_PYTHON, else
<repo>/.venv-tools/bin/python (skips when neither exists).
"""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]

SCRIPT = """
import sys
import numpy as np
import tensorflow as tf
sys.path.insert(0, sys.argv[1])
from tools.build.sface_net import _split_prelu
alpha = np.array([0.0, 0.05, 0.25, 0.9, 1.0, 1.12, 2.5, 0.5], np.float32)
x = np.random.default_rng(0).normal(0, 3, (1, 5, 5, alpha.size)).astype(np.float32)
inp = tf.keras.Input((5, 5, alpha.size), batch_size=1)
split = tf.keras.Model(inp, _split_prelu(inp, alpha, 1))(x).numpy()
prelu = np.where(x > 0, x, alpha * x)
print(float(np.abs(split - prelu).max()))
"""


def test_split_prelu_is_prelu():
    python = os.environ.get("TOOLS_PYTHON") or str(ROOT / ".venv-tools" / "bin" / "python")
    if not Path(python).exists():
        pytest.skip(f"no tools interpreter with TensorFlow ({python}); set TOOLS_PYTHON")
    done = subprocess.run(
        [python, "-c", SCRIPT, str(ROOT)], capture_output=True, text=True, timeout=600, env={**os.environ, "TF_CPP_MIN_LOG_LEVEL": "2"}
    )
    assert done.returncode == 0, done.stderr[-3000:]
    assert float(done.stdout.strip().splitlines()[-1]) < 1e-5
