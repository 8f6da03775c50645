"""Behaviour replay: both functions answer a fixed set of requests exactly as recorded.

tests/replay/requests.json holds the request cases (data; photos by file name, derived
inputs built by the recorder's `$op` language), tests/replay/answers.json the answers
recorded from an earlier tree by the recorder (tests/replay/recorder.py):

    python tests/replay/recorder.py --root <tree to record> --out tests/replay/answers.json

Here every case is replayed against this tree through functions-framework and each answer
must equal the recording exactly: status code, Content-Type, and the JSON body (every
`time_ms` key removed) as canonical JSON (`json.dumps(body, sort_keys=True)`), byte for
byte, floats included. Health (GET) is not part of the recording. The embedding cache is
off (EMBEDDING_CACHE_SIZE=0) so no answer depends on request order.
"""

from __future__ import annotations

import difflib
import importlib
import importlib.util
import json
import os
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
REPLAY = ROOT / "tests" / "replay"
REQUESTS = REPLAY / "requests.json"
ANSWERS = REPLAY / "answers.json"


def _load_recorder():
    """tests/replay/recorder.py: request building, sending, time_ms stripping."""
    spec = importlib.util.spec_from_file_location("replay_recorder", REPLAY / "recorder.py")
    module = importlib.util.module_from_spec(spec)
    sys.modules.setdefault("replay_recorder", module)
    spec.loader.exec_module(module)
    return module


recorder = _load_recorder()
CASES = recorder.load_cases(REQUESTS)
RECORDING = json.loads(ANSWERS.read_text())
RECORDED = {a["name"]: a for a in RECORDING["cases"]}
RECORDED_ON = "ai_edge_litert"
RUNTIME_TOLERANCE = 2e-5
RUNTIME_RELATIVE = 5e-5


def _forget_settings() -> None:
    from shared.settings import get_settings

    get_settings.cache_clear()


@pytest.fixture(scope="module")
def replayed(face_photos) -> dict:
    """Every case sent once to apps serving this tree; {case name: answer}."""
    saved = dict(os.environ)
    try:
        for name in recorder.UNSET_ENV:
            os.environ.pop(name, None)
        os.environ.update(recorder.REPLAY_ENV)
        assert os.environ["EMBEDDING_CACHE_SIZE"] == "0"
        _forget_settings()
        clients = recorder.make_clients(ROOT)
        served = Path(sys.modules["shared"].__file__).resolve()
        assert ROOT in served.parents, f"the functions serve {served}, not this tree's library"
        answers = recorder.replay(CASES, clients, recorder.Builder(face_photos, ROOT))
    finally:
        os.environ.clear()
        os.environ.update(saved)
        _forget_settings()
    return {a["name"]: a for a in answers}


def _canonical(body) -> str:
    return json.dumps(body, sort_keys=True)


def _same(want, got, tolerance: float) -> bool:
    """Equal, except that floats (not ints, bools or strings) may differ by `tolerance`, and a
    template's `values` (an embedding) by RUNTIME_RELATIVE of its length, element by element
    (a distance or a confidence gets the absolute tolerance alone)."""
    if isinstance(want, float) and isinstance(got, (int, float)) and not isinstance(got, bool):
        return abs(want - got) <= tolerance
    if isinstance(want, dict) and isinstance(got, dict):
        return want.keys() == got.keys() and all(
            _same_vector(want[k], got[k]) if k == "values" else _same(want[k], got[k], tolerance) for k in want
        )
    if isinstance(want, list) and isinstance(got, list):
        return len(want) == len(got) and all(_same(w, g, tolerance) for w, g in zip(want, got, strict=True))
    return type(want) is type(got) and want == got


def _same_vector(want, got) -> bool:
    if not (isinstance(want, list) and isinstance(got, list) and len(want) == len(got)):
        return False
    if not all(isinstance(v, float) for v in [*want, *got]):
        return want == got
    length = sum(v * v for v in want) ** 0.5
    return max((abs(w - g) for w, g in zip(want, got, strict=True)), default=0.0) <= RUNTIME_RELATIVE * length


def _runtime() -> str:
    from shared.runtime.tflite import runtime_info

    return str(runtime_info(os.environ.get("TFLITE_RUNTIME", ""))["runtime"])


def _short_diff(want, got, limit: int = 40) -> str:
    lines = list(
        difflib.unified_diff(
            json.dumps(want, indent=1, sort_keys=True).splitlines(),
            json.dumps(got, indent=1, sort_keys=True).splitlines(),
            "recorded",
            "now",
            n=1,
            lineterm="",
        )
    )
    return "\n".join(lines[:limit] + ([f"... {len(lines) - limit} more diff lines"] if len(lines) > limit else []))


def test_every_case_has_one_recorded_answer():
    names = [c["name"] for c in CASES]
    assert names == [a["name"] for a in RECORDING["cases"]], (
        "tests/replay/requests.json and answers.json list different cases; re-record the answers from the "
        "pre-change tree: " + f"only in requests: {sorted(set(names) - set(RECORDED))}, "
        f"only in answers: {sorted(set(RECORDED) - set(names))}"
    )
    assert RECORDING["env"]["EMBEDDING_CACHE_SIZE"] == "0"
    assert not any(c.get("method", "POST") in ("GET", "HEAD") for c in CASES), "health is not part of the replay"


@pytest.mark.parametrize("name", [c["name"] for c in CASES])
def test_answer_is_unchanged(replayed, name):
    got, want = replayed[name], RECORDED[name]
    if got["request_sha256"] != want["request_sha256"]:
        pytest.fail(
            f"{name}: the request itself differs from the recorded one (requests.json, the recorder's "
            "builders, docs/examples or the face photos changed); re-record from the pre-change tree"
        )
    problems = []
    if got["status"] != want["status"]:
        problems.append(f"status {want['status']} -> {got['status']}")
    if got["content_type"] != want["content_type"]:
        problems.append(f"Content-Type {want['content_type']!r} -> {got['content_type']!r}")
    exact = _runtime() == RECORDED_ON
    if not (_canonical(got["body"]) == _canonical(want["body"]) if exact else _same(want["body"], got["body"], RUNTIME_TOLERANCE)):
        problems.append("body differs:\n" + _short_diff(want["body"], got["body"]))
    if problems:
        message = f"{name}: answer changed\n" + "\n".join(problems)
        print(message)
        pytest.fail(message, pytrace=False)


def test_numbers_across_runtimes_are_close_not_loose():
    """What the second runtime may differ in: float noise, never a verdict, a box or a field."""
    body = {"verified": True, "distance": 0.887572, "facial_areas": {"img1": {"x": 360}}, "values": [0.22015484, 12.0]}
    assert _same(body, {**body, "distance": 0.887568, "values": [0.2203, 12.0001]}, RUNTIME_TOLERANCE)
    assert not _same(body, {**body, "distance": 0.8876}, RUNTIME_TOLERANCE)
    assert not _same(body, {**body, "values": [0.2211, 12.0]}, RUNTIME_TOLERANCE)
    assert not _same(body, {**body, "values": [0.22015484]}, RUNTIME_TOLERANCE)
    assert not _same(body, {**body, "verified": False}, RUNTIME_TOLERANCE)
    assert not _same(body, {**body, "facial_areas": {"img1": {"x": 361}}}, RUNTIME_TOLERANCE)
    assert not _same(body, {**body, "extra": 1}, RUNTIME_TOLERANCE)
