#!/usr/bin/env python3
"""Convert a Keras gesture model (+ optional labels and normaliser) into a bundle folder
that predict_gesture serves with no TensorFlow, no scikit-learn and no pickle at run time.

In:  a Keras `.keras` / `.h5` file or a SavedModel folder taking (frames, features) or
     (features,); labels as text (one per line), JSON, or a pickled LabelEncoder;
     a normaliser as a pickled StandardScaler / MinMaxScaler or mean/scale JSON.
Out: OUT/model.tflite + OUT/bundle.json (shapes, labels, normalisation statistics,
     frame fitting and missing-value rules, sha256, provenance, op versions, checks).

The model is rebuilt on a fixed batch of 1 (RNNs otherwise need Flex ops), converted with
builtin ops only, loaded in TensorFlow's interpreter and in every --verify-python runtime
through the project's own serving code, and compared with Keras on sample inputs. If any
check fails, nothing is written. Pickles are read only from the paths you give.

Example (tools venv; see tools/requirements/convert.txt):
    python tools/convert/convert_keras.py model.h5 --out models/my-signs --labels labels.txt \\
        --normalizer scaler.pkl --frame-fit resample --missing fill \\
        --verify-python .venv/bin/python
"""

from __future__ import annotations

import argparse
import hashlib
import json
import shlex
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))  # the repo root, also when run as a file

import numpy as np

from shared.gesture.recipes import HOLISTIC_RECIPES, RECIPES
from tools.convert.keras_bundle import load, samples, sidecars
from tools.convert.keras_bundle.bundle import BundleSpec, Checks, write_bundle
from tools.convert.keras_bundle.convert import QUANTIZATIONS, to_tflite

# ---- settings -------------------------------------------------------------------------
DEFAULT_SAMPLES = 16  # random sample inputs when --samples is not given
DEFAULT_MAX_DIFF = {"none": 1e-4, "dynamic": 5e-2, "float16": 1e-2}  # probabilities, by quantization
TOOL = "tools/convert/convert_keras.py"


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("model", type=Path, help="Keras .keras / .h5 file or SavedModel folder")
    p.add_argument("--out", type=Path, required=True, help="bundle folder to write (replaced if it exists)")
    p.add_argument("--name", help="bundle name (default: the --out folder's name)")
    p.add_argument("--version", default="1.0.0")
    p.add_argument("--description", default="")
    g = p.add_argument_group("labels and normalisation")
    g.add_argument(
        "--labels",
        type=Path,
        help="labels in output order: .txt (one per line), .json, or a pickled "
        "LabelEncoder (.pkl/.pickle/.joblib: unpickled, so only files you trust)",
    )
    g.add_argument(
        "--normalizer",
        type=Path,
        help="pickled StandardScaler / MinMaxScaler, or JSON {mean, scale} / {min, scale}; statistics per frame feature or per position",
    )
    g = p.add_argument_group("input contract (written to bundle.json preprocessing)")
    g.add_argument("--frames", type=int, help="frame count for a model with a variable one")
    g.add_argument(
        "--frame-fit",
        choices=("pad_trim", "resample", "exact"),
        default="pad_trim",
        help="how requests with another frame count are fitted (default pad_trim)",
    )
    g.add_argument(
        "--keep",
        choices=("last", "first"),
        default="last",
        help="pad_trim: keep the last (most recent) or first frames when there are too many; pad on the other side",
    )
    g.add_argument("--pad", choices=("edge", "value"), default="edge", help="pad by repeating the nearest frame, or with --pad-value")
    g.add_argument("--pad-value", type=float, default=0.0)
    g.add_argument(
        "--missing",
        choices=("previous", "fill", "refuse"),
        default="fill",
        help="NaN/null values: carry the previous value, put --fill-value, or refuse (422)",
    )
    g.add_argument("--fill-value", type=float, default=0.0, help="(MediaPipe feature extractors write 0 for an undetected part)")
    g.add_argument(
        "--recipe",
        choices=RECIPES,
        help="the features' layout, stamped into preprocessing.landmarks so pixels reach the model (shared/gesture/recipes.py): "
        "holistic_1662 (MediaPipe Holistic as lsvtest's extract_keypoints), pose_hands (258), two_hands (126), "
        "hand_keypoints (42), fingertip_history (2)",
    )
    g = p.add_argument_group("conversion and checks")
    g.add_argument("--quantize", choices=QUANTIZATIONS, default="none")
    g.add_argument(
        "--samples",
        type=Path,
        help=".npy of sample inputs (N, frames, features) as clients send them (before normalisation); default: random ones",
    )
    g.add_argument("--random-samples", type=int, default=DEFAULT_SAMPLES, help="random sample inputs (default %(default)s)")
    g.add_argument(
        "--targeted-per-class",
        type=int,
        default=2,
        help="sample inputs made for each class by gradient ascent on the Keras model (default %(default)s; 0 = none)",
    )
    g.add_argument("--save-samples", type=Path, help="save the sample inputs used (.npy, N x frames x features)")
    g.add_argument("--seed", type=int, default=0, help="seed of the generated sample inputs")
    g.add_argument(
        "--max-abs-diff",
        type=float,
        help="largest allowed probability difference vs Keras (default by --quantize: none 1e-4, dynamic 0.05, float16 0.01)",
    )
    g.add_argument("--min-top1", type=float, default=1.0, help="least top-1 agreement with Keras (default 1.0)")
    g.add_argument(
        "--verify-python",
        action="append",
        default=[],
        metavar="PYTHON",
        help="also serve the bundle with this interpreter's runtime (repeatable; set TFLITE_RUNTIME to force one)",
    )
    g.add_argument("--report", type=Path, help="write the check report (with Keras probabilities per sample) here")
    g = p.add_argument_group("provenance (bundle.json source)")
    for key in ("package", "package-version", "registry", "file", "file-sha256", "licence", "path-in-package", "url"):
        g.add_argument(f"--source-{key}")
    return p.parse_args(argv)


def sample_inputs(args, model, is_softmax: bool, n_out: int, frames: int, features: int, norm: dict | None) -> np.ndarray:
    """(N, T, F) sample inputs in the client's feature space: --samples, or random ones plus
    inputs Keras assigns to each class (see keras_bundle/samples.py)."""
    if args.samples:
        x = np.load(args.samples).astype(np.float32)
        if x.ndim == 2 and frames == 1:
            x = x[:, None, :]
        if x.shape[1:] != (frames, features):
            raise SystemExit(f"--samples has shape {x.shape}; expected (N, {frames}, {features})")
        return x
    import tensorflow as tf

    low, high = samples.box(norm, frames, features)
    parts = [samples.random_samples(args.random_samples, low, high, args.seed)]
    if args.targeted_per_class:
        factor, offset = sidecars.affine(norm, frames, features)
        shape = (-1, *tuple(model.inputs[0].shape[1:]))
        parts.append(
            samples.targeted(
                model, is_softmax, n_out, args.targeted_per_class, low, high, lambda x: tf.reshape(x * factor + offset, shape), args.seed
            )
        )
    return np.concatenate(parts).astype(np.float32)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    notes: list[str] = []
    model = load.load_keras(args.model, notes)
    frames, features = load.sequence_shape(model, args.frames)
    fixed = load.fixed_batch(model, frames, features)
    is_softmax = load.ends_in_softmax(model)
    n_out = int(np.prod(fixed.outputs[0].shape[1:]))
    labels = sidecars.read_labels(args.labels) if args.labels else [str(i) for i in range(n_out)]
    if len(labels) != n_out:
        raise SystemExit(f"{len(labels)} labels for {n_out} model outputs")
    norm = sidecars.read_normalizer(args.normalizer) if args.normalizer else None
    per_frame = {**HOLISTIC_RECIPES, "hand_keypoints": 42, "fingertip_history": 2}
    if args.recipe and per_frame[args.recipe] != features:
        raise SystemExit(f"--recipe {args.recipe} makes {per_frame[args.recipe]} features per frame; the model takes {features}")
    if norm and len(norm["scale"]) not in (features, frames * features):
        raise SystemExit(f"normaliser has {len(norm['scale'])} statistics; expected {features} or {frames * features}")
    tflite = to_tflite(fixed, args.quantize)
    raw = sample_inputs(args, model, is_softmax, n_out, frames, features, norm)
    if args.save_samples:
        np.save(args.save_samples, raw)
    ready = sidecars.apply_normalizer(raw, norm).reshape((len(raw), *tuple(fixed.inputs[0].shape[1:])))
    source = {k: getattr(args, f"source_{k.replace('-', '_')}") for k in ("package", "registry", "file", "licence", "url")}
    source.update(version=args.source_package_version, file_sha256=args.source_file_sha256, path_in_package=args.source_path_in_package)
    source = {k: v for k, v in source.items() if v} or {"file": args.model.name}
    if args.model.is_file():
        source.setdefault("file_sha256", hashlib.sha256(args.model.read_bytes()).hexdigest())
    spec = BundleSpec(
        name=args.name or args.out.name,
        version=args.version,
        description=args.description,
        labels=labels,
        preprocessing={
            "frames": frames,
            "features_per_frame": features,
            "frame_fit": {"method": args.frame_fit, "keep": args.keep, "pad": args.pad, "pad_value": args.pad_value},
            "missing": {"policy": args.missing, "fill_value": args.fill_value},
            "normalization": norm,
            "landmarks": {"recipe": args.recipe} if args.recipe else None,
        },
        softmax_in_model=is_softmax,
        source=source,
        conversion={
            "tool": TOOL,
            "command": "python " + TOOL + " " + shlex.join(sys.argv[1:] if argv is None else argv),
            "quantize": args.quantize,
            "fixed_batch": 1,
            "notes": notes,
            "normalizer_from": args.normalizer.name if args.normalizer else None,
        },
    )
    checks = Checks(
        args.max_abs_diff if args.max_abs_diff is not None else DEFAULT_MAX_DIFF[args.quantize], args.min_top1, args.verify_python
    )
    report = write_bundle(args.out, spec, fixed, tflite, raw, ready, checks)
    if args.report:
        args.report.write_text(json.dumps(report, indent=2) + "\n")
    summary = {k: v for k, v in report.items() if k != "keras_probabilities"}
    print(json.dumps({"bundle": str(args.out), "size_bytes": len(tflite), "notes": notes, **summary}, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
