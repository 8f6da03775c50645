"""What the benchmark runs: variants (a function on one Python/runtime), the serving
processes each gets, and the workloads sent to each process."""

from __future__ import annotations

import json
import subprocess
from dataclasses import dataclass, field
from pathlib import Path

from shared.settings import DEFAULT_FACE_EMBEDDER
from tools import ROOT
from tools.measure.harness import Request

from .inputs import disjoint_pairs, face_photo_pairs, gesture_available, hello_request, varied_pairs, varied_photos, verify_request

HERE = Path(__file__).resolve().parent


@dataclass(frozen=True)
class Workload:
    """`total` requests cycling through `requests` from `concurrency` client threads."""

    name: str
    requests: list[Request]
    total: int
    concurrency: int


@dataclass(frozen=True)
class Plan:
    """One serving process: its extra environment, its workloads in order, and an optional
    leak check (RSS after the 50th request of `leak` vs after its last)."""

    label: str
    env: dict[str, str]
    workloads: list[Workload]
    leak: Workload | None = None
    leak_first: int = 50  # the leak check's first reading, after this many requests


@dataclass(frozen=True)
class Variant:
    name: str
    runtime: str
    python: str
    source: Path
    target: str
    env: dict[str, str]
    cold_request: Request
    plans: list[Plan] = field(default_factory=list)
    floor: bool = False


@dataclass(frozen=True)
class Budget:
    requests: int = 50  # per warm verify_face workload
    gesture_requests: int = 500  # per warm predict_gesture workload (they are cheap)
    leak_requests: int = 500  # 0 = no leak check; verify_face over varied photos: photos (two a request)
    peer_requests: int = 10  # per workload of the face_recognition peer (seconds a request)


def runtime_versions(python: str) -> dict:
    """Python and package versions as seen by one interpreter."""
    code = (
        "import json, sys\nfrom importlib import metadata\nout = {'python': sys.version.split()[0]}\n"
        "for name in ('ai-edge-litert', 'tflite-runtime', 'tensorflow', 'face-recognition', 'dlib-bin', 'functions-framework',"
        " 'numpy', 'pillow'):\n"
        "    try: out[name] = metadata.version(name)\n"
        "    except metadata.PackageNotFoundError: pass\nprint(json.dumps(out))"
    )
    return json.loads(subprocess.run([python, "-c", code], capture_output=True, text=True, check=True, timeout=60).stdout)


def hello_variant(python: str) -> Variant:
    return Variant("hello-world (floor)", "-", python, HERE / "hello_function.py", "hello", {}, hello_request(), floor=True)


VARIED_JSON, VARIED_MULTIPART, DISJOINT = "varied photos, JSON base64", "varied photos, multipart", "disjoint varied pairs"


def _verify_plans(budget: Budget, pairs: dict, full: bool, photos: list[bytes] | None) -> list[Plan]:
    """Sequential (THREADS=1) and 4 at once (THREADS=4), cache off; `full` adds the varied
    photos in both encodings, the disjoint pairs, the growth check and the cache-hit case."""
    one, twelve = verify_request(pairs["1mp"], "1mp"), verify_request(pairs["12mp"], "12mp")
    off = {"EMBEDDING_CACHE_SIZE": "0"}
    n = budget.requests
    seq = [Workload("1 MP pair, cache off", [one], n, 1), Workload("12 MP pair, cache off", [twelve], n, 1)]
    leak, leak_first = None, 50
    if photos:
        seq.append(Workload(VARIED_JSON, varied_pairs(photos, n, as_json=True), n, 1))
        if full:
            seq.append(Workload(VARIED_MULTIPART, varied_pairs(photos, n, as_json=False), n, 1))
            disjoint = disjoint_pairs(photos)
            seq.append(Workload(f"{DISJOINT} (each photo once), cache off", disjoint, len(disjoint), 1))
            if budget.leak_requests:  # photos, two a request: growth after the first 50 photos
                total = max(budget.leak_requests // 2, 26)
                leak = Workload(f"growth: {total * 2} varied photos", varied_pairs(photos, total, as_json=False), total, 1)
                leak_first = 25
    elif full and budget.leak_requests:
        leak = Workload("leak: 1 MP pair, cache off", [one], budget.leak_requests, 1)
    plans = [
        Plan("seq", {**off, "THREADS": "1"}, seq, leak, leak_first),
        Plan(
            "conc4",
            {**off, "THREADS": "4"},
            [Workload("1 MP pair, cache off", [one], n, 4), Workload("12 MP pair, cache off", [twelve], n, 4)],
        ),
    ]
    if full:
        plans.append(Plan("cache", {"THREADS": "1"}, [Workload("1 MP pair, cache hit", [one], n, 1)]))
    return plans


def peer_variant(python: str, budget: Budget, photos: list[bytes] | None) -> Variant:
    """face_recognition 1.3.0 (dlib, HOG detector) serving the same requests, one at a time."""
    pairs = face_photo_pairs()
    one = verify_request(pairs["1mp"], "1mp")
    n = budget.peer_requests
    seq = [Workload("1 MP pair", [one], n, 1)]
    if photos:
        seq.append(Workload(VARIED_JSON, varied_pairs(photos, n, as_json=True), n, 1))
        disjoint = disjoint_pairs(photos)
        seq.append(Workload(f"{DISJOINT} (each photo once)", disjoint, len(disjoint), 1))
    return Variant(
        "verify_face (face_recognition peer)",
        "face_recognition 1.3.0",
        python,
        HERE / "face_recognition_function.py",
        "verify_face",
        {},
        one,
        [Plan("seq", {"THREADS": "1"}, seq)],
    )


def verify_variants(
    pythons: dict[str, tuple[str, dict]],
    budget: Budget,
    tf_python: str | None,
    gs_env: dict | None = None,
    others: bool = True,
    before_root: Path | None = None,
) -> list[Variant]:
    """verify_face on each runtime (full plan on the first), each shipped embedder, gs://
    bundles (when `gs_env` is given), and TF."""
    pairs = face_photo_pairs()
    photos = varied_photos()
    cold = verify_request(pairs["1mp"], "1mp")
    source = ROOT / "functions/verify_face/main.py"
    out = []
    for i, (runtime, (python, env)) in enumerate(pythons.items()):
        plans = _verify_plans(budget, pairs, i == 0, photos)
        out.append(Variant("verify_face", runtime, python, source, "verify_face", env, cold, plans))
    first_runtime, (first_python, first_env) = next(iter(pythons.items()))
    if before_root is not None:  # the same workloads, one at a time and four at once, on another tree
        plans = [p for p in _verify_plans(budget, pairs, True, photos) if p.label in ("seq", "conc4")]
        plans[0] = Plan("seq", plans[0].env, plans[0].workloads)  # no growth check
        before = before_root / "functions/verify_face/main.py"
        out.append(Variant("verify_face [before]", first_runtime, first_python, before, "verify_face", first_env, cold, plans))
    default = Path(DEFAULT_FACE_EMBEDDER)
    for bundle in sorted((ROOT / "models").glob("face-embedder-*")) if others else []:
        if bundle != default and (bundle / "bundle.json").exists():
            env = {**first_env, "FACE_EMBEDDER_MODEL": str(bundle)}
            out.append(
                Variant(
                    f"verify_face [{bundle.name}]",
                    first_runtime,
                    first_python,
                    source,
                    "verify_face",
                    env,
                    cold,
                    _verify_plans(budget, pairs, False, photos),
                )
            )
    if gs_env:
        seq = [Plan("seq", {"EMBEDDING_CACHE_SIZE": "0", "THREADS": "1"}, [Workload("1 MP pair, cache off", [cold], budget.requests, 1)])]
        out.append(
            Variant("verify_face [gs:// bundles]", first_runtime, first_python, source, "verify_face", {**first_env, **gs_env}, cold, seq)
        )
    if tf_python:
        tf_env = {"BENCH_TF_FUNCTION": "verify_face", "TFLITE_RUNTIME": "tflite_runtime"}
        out.append(
            Variant(
                "verify_face",
                "tensorflow (before)",
                tf_python,
                HERE / "tensorflow_function.py",
                "verify_face",
                tf_env,
                cold,
                [
                    Plan(
                        "seq", {"EMBEDDING_CACHE_SIZE": "0", "THREADS": "1"}, [Workload("1 MP pair, cache off", [cold], budget.requests, 1)]
                    )
                ],
            )
        )
    return out


def gesture_variants(pythons: dict[str, tuple[str, dict]], budget: Budget, tf_python: str | None) -> list[Variant]:
    """predict_gesture on each runtime with both bundles (full plan on the first), and TF."""
    if not gesture_available():
        return []
    from .gesture import gesture_requests, served_env

    requests = gesture_requests()  # {bundle name: [Request, ...]}
    served = served_env()
    pythons = {runtime: (python, {**env, **served}) for runtime, (python, env) in pythons.items()}
    cold = next(iter(requests.values()))[0]
    source = ROOT / "functions/predict_gesture/main.py"
    n = budget.gesture_requests
    out = []
    for i, (runtime, (python, env)) in enumerate(pythons.items()):
        seq = [Workload(f"{name}", reqs, n, 1) for name, reqs in requests.items()]
        conc = [Workload(f"{name}", reqs, n, 4) for name, reqs in requests.items()]
        leak = (
            Workload(f"leak: {next(iter(requests))}", cold_list(requests), budget.leak_requests, 1)
            if i == 0 and budget.leak_requests
            else None
        )
        plans = [Plan("seq", {"THREADS": "1"}, seq, leak), Plan("conc4", {"THREADS": "4"}, conc)]
        out.append(Variant("predict_gesture", runtime, python, source, "predict_gesture", env, cold, plans))
    if tf_python:
        tf_env = {"BENCH_TF_FUNCTION": "predict_gesture", "TFLITE_RUNTIME": "tflite_runtime", **served}
        seq = [Workload(f"{name}", reqs, n, 1) for name, reqs in requests.items()]
        out.append(
            Variant(
                "predict_gesture",
                "tensorflow (before)",
                tf_python,
                HERE / "tensorflow_function.py",
                "predict_gesture",
                tf_env,
                cold,
                [Plan("seq", {"THREADS": "1"}, seq)],
            )
        )
    return out


def cold_list(requests: dict[str, list[Request]]) -> list[Request]:
    return next(iter(requests.values()))
