"""The runtime stays light: nothing under functions/ or shared/ imports TensorFlow, Keras,
scikit-learn or pickle (checked on the AST of every file, so lazy imports inside
functions count too)."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
FORBIDDEN = {"tensorflow", "tf_keras", "keras", "sklearn", "pickle", "cPickle", "_pickle", "dill", "joblib", "cloudpickle"}


def imported_modules(path: Path) -> set[str]:
    tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
    names = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names.add(node.module)
        elif (
            isinstance(node, ast.Call)
            and getattr(node.func, "attr", getattr(node.func, "id", "")) in ("import_module", "__import__")
            and node.args
            and isinstance(node.args[0], ast.Constant)
            and isinstance(node.args[0].value, str)
        ):
            names.add(node.args[0].value)
    return {n.split(".")[0] for n in names}


def test_runtime_code_imports_no_heavy_or_unsafe_modules():
    files = sorted(p for d in ("functions", "shared") for p in (ROOT / d).rglob("*.py"))
    assert len(files) > 10
    offenders = {str(p.relative_to(ROOT)): sorted(imported_modules(p) & FORBIDDEN) for p in files}
    assert {k: v for k, v in offenders.items() if v} == {}


def test_the_checker_sees_every_import_form(tmp_path):
    sample = tmp_path / "x.py"
    sample.write_text(
        "import os\ndef f():\n    import pickle\n    from sklearn.preprocessing import StandardScaler\n"
        "    import importlib; importlib.import_module('tensorflow.lite')\nfrom . import keras\n"
    )
    assert imported_modules(sample) & FORBIDDEN == {"pickle", "sklearn", "tensorflow"}


def test_predict_gesture_starts_without_pillow_or_the_hand_pipeline():
    """Landmark-only instances keep their cold start: Pillow (~100 ms to import) and the hand
    pipeline come in with the first photo, not with the function."""
    import subprocess
    import sys

    code = (
        "import sys; import functions.predict_gesture.main\n"
        "late = sorted(m for m in sys.modules if m == 'PIL' or m.startswith(\n"
        "    ('shared.hands.finder', 'shared.gesture.pixels', 'shared.images.decode')))\n"
        "print('LATE=' + ','.join(late))"
    )
    out = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, check=True, timeout=120)
    assert "LATE=\n" in out.stdout, out.stdout[-300:]


@pytest.mark.parametrize("function", ["verify_face", "predict_gesture"])
def test_functions_start_without_what_the_first_answer_does_not_need(function):
    """Importing a function's main.py (gunicorn's master does, before it forks) loads neither
    psutil (RSS is read from /proc on Linux: issue 25's cold-start profile) nor numpy, Pillow,
    a TFLite runtime or the face pipeline, which the worker imports on its first request."""
    import subprocess
    import sys

    code = (
        f"import sys; import functions.{function}.main\n"
        "early = sorted(m for m in sys.modules if m.split('.')[0] in ('psutil', 'numpy', 'PIL', 'ai_edge_litert', 'tflite_runtime')\n"
        "    or m.startswith('shared.face.verify'))\n"
        "print('EARLY=' + ','.join(early))"
    )
    out = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, check=True, timeout=120)
    assert "EARLY=\n" in out.stdout, out.stdout[-300:]


# What a cold verify_face's first answer (a plain pair) must not load: the liveness burst's
# face mesh, measures and tokens come in with the first liveness request (issue 25, item 4).
LIVENESS_ONLY = ("shared.facemesh", "shared.liveness.burst", "shared.liveness.judge", "shared.liveness.measures", "shared.liveness.token")


def test_verify_face_first_answer_loads_nothing_of_liveness(face_photos):
    import subprocess
    import sys

    code = (
        "import io, sys, functions_framework\n"
        "app = functions_framework.create_app('verify_face', 'functions/verify_face/main.py')\n"
        "pair = (('img1', 'obama.jpg'), ('img2', 'obama2.jpg'))\n"
        "files = {k: (io.BytesIO(open(sys.argv[1] + '/' + n, 'rb').read()), n) for k, n in pair}\n"
        "answer = app.test_client().post('/', data=files, content_type='multipart/form-data')\n"
        "assert answer.status_code == 200 and answer.get_json()['verified'] is True, answer.data[:300]\n"
        f"late = sorted(m for m in sys.modules if m.startswith({LIVENESS_ONLY!r}))\n"
        "print('LIVENESS=' + ','.join(late))"
    )
    env = {k: v for k, v in __import__("os").environ.items() if k != "LIVENESS_SECRET"}
    out = subprocess.run(
        [sys.executable, "-c", code, str(face_photos)], cwd=ROOT, capture_output=True, text=True, timeout=180, env=env, check=False
    )
    assert out.returncode == 0, out.stderr[-1500:]
    assert "LIVENESS=\n" in out.stdout, out.stdout[-300:]
