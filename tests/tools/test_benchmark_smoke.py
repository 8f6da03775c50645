"""Smoke test of tools/measure/benchmark.py on a tiny budget: the hello-world floor and
predict_gesture served by real functions-framework processes, one repetition each.

The benchmark itself stays out of the test suite; this only checks the tool runs end to
end and prints its tables (and writes the plot when matplotlib is installed).
"""

import importlib.util
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]


def test_benchmark_runs_on_a_tiny_budget(tmp_path):
    if not (ROOT / "models" / "hand-sign" / "bundle.json").exists():
        pytest.skip("gesture bundles are not built yet (models/hand-sign)")
    cmd = [
        sys.executable,
        str(ROOT / "tools" / "measure" / "benchmark.py"),
        "--repeat",
        "1",
        "--gesture-requests",
        "5",
        "--leak-requests",
        "0",
        "--cases",
        "gesture",
        "--out",
        str(tmp_path),
        "--log-dir",
        str(tmp_path / "logs"),
        *("--python-tflite214", "", "--python-tf", "", "--python-face-recognition", ""),  # no reference venvs (.venvs/)
    ]
    done = subprocess.run(cmd, capture_output=True, text=True, timeout=120, cwd=ROOT)
    assert done.returncode == 0, done.stderr[-2000:]
    out = done.stdout
    assert "| hello-world (floor) | - |" in out
    assert "| predict_gesture | ai-edge-litert |" in out
    assert "## Targets" in out and "predict_gesture model time per prediction" in out
    assert "failed" not in out, out
    written = (tmp_path / "benchmark.md").read_text()
    assert written.startswith("# Benchmark") and "python tools/measure/benchmark.py --repeat 1" in written
    if importlib.util.find_spec("matplotlib") is None:
        return  # the plot is optional: dev-only dependency
    png = tmp_path / "benchmark_rss.png"
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
