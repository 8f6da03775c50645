#!/usr/bin/env python3
"""Validate a model bundle folder, then publish it to ``gs://bucket/prefix``.

Checks before anything is uploaded: bundle.json parses and has the required keys, the
model's sha256 (and size_bytes, when given) match it, the model loads in this venv's
TFLite runtime, and its input/output shapes match the ones bundle.json declares.

Upload order: model.tflite first, bundle.json last, so a reader never finds a manifest
naming a model that is not there yet (readers pin both generations; see shared/runtime/gcs.py).
Prints a JSON report with the new object generations.

Credentials: the default Google credentials, or none when STORAGE_EMULATOR_HOST points
at an emulator. Example:
  python tools/publish/publish_bundle.py models/face-detector-short gs://my-models/face-detector-short/1.0.0
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))  # the repo root, also when run as a file

from shared.runtime.bundle import MANIFEST, MODEL_FILE, BundleError, LoadOptions, load_bundle
from shared.runtime.gcs import make_client, parse_gs_uri
from shared.settings import get_settings

SCHEMA_KEYS = ("name", "version", "task", "sha256", "inputs", "outputs")
TASKS = ("face-detection", "face-embedding", "gesture-classification")


def validate(folder: Path) -> dict:
    """The bundle's manifest, after every check passed; BundleError naming the first failure."""
    if not (folder / MANIFEST).is_file() or not (folder / MODEL_FILE).is_file():
        raise BundleError(f"{folder} must hold {MANIFEST} and {MODEL_FILE}")
    # parses, checks required keys and sha256, builds the interpreter (TFLITE_RUNTIME's, else the first that imports)
    bundle = load_bundle(str(folder), LoadOptions.from_settings(get_settings()))
    meta = bundle.meta
    missing = [k for k in SCHEMA_KEYS if k not in meta]
    if missing:
        raise BundleError(f"{folder}/{MANIFEST} lacks {', '.join(missing)}")
    if meta["task"] not in TASKS:
        raise BundleError(f"{folder}/{MANIFEST} task is {meta['task']!r}; expected one of {', '.join(TASKS)}")
    size = (folder / MODEL_FILE).stat().st_size
    if "size_bytes" in meta and meta["size_bytes"] != size:
        raise BundleError(f"{folder}/{MANIFEST} says size_bytes {meta['size_bytes']}, {MODEL_FILE} has {size}")
    for kind, tensors in (("inputs", bundle.model.inputs), ("outputs", bundle.model.outputs)):
        declared = [list(t.get("shape", [])) for t in meta[kind]]
        actual = [list(t.shape) for t in tensors]
        if declared != actual:
            raise BundleError(f"{folder}/{MANIFEST} declares {kind} shapes {declared}, the model has {actual}")
    return meta


def publish(folder: Path, uri: str, *, create_bucket: bool = False, project: str | None = None) -> dict:
    """Upload a validated bundle (model first, manifest last); return the uploaded generations."""
    target = parse_gs_uri(uri)
    client = make_client(project=project, anonymous=bool(get_settings().storage_emulator_host))
    bucket = client.bucket(target.bucket)
    if create_bucket and not bucket.exists():
        bucket = client.create_bucket(target.bucket)
    generations = {}
    for filename, content_type in ((MODEL_FILE, "application/octet-stream"), (MANIFEST, "application/json")):
        blob = bucket.blob(target.object_name(filename))
        blob.upload_from_filename(str(folder / filename), content_type=content_type)
        generations[filename] = int(blob.generation)
    return {"uri": target.uri(), "generations": generations}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("folder", type=Path, help="bundle folder holding bundle.json and model.tflite")
    parser.add_argument("uri", help="destination gs://bucket/prefix (the bundle's files go right under it)")
    parser.add_argument("--create-bucket", action="store_true", help="create the bucket when it does not exist")
    parser.add_argument("--project", help="Google Cloud project (default: from the credentials)")
    parser.add_argument("--dry-run", action="store_true", help="validate only; upload nothing")
    args = parser.parse_args(argv)
    try:
        parse_gs_uri(args.uri)
        meta = validate(args.folder)
    except BundleError as exc:
        print(f"invalid bundle: {exc}", file=sys.stderr)
        return 2
    if args.dry_run:
        print(json.dumps({"valid": True, "name": meta["name"], "version": meta["version"], "sha256": meta["sha256"]}))
        return 0
    try:
        report = publish(args.folder, args.uri, create_bucket=args.create_bucket, project=args.project)
    except Exception as exc:  # a CLI: say what failed, no traceback
        print(f"upload to {args.uri} failed: {type(exc).__name__}: {str(exc).splitlines()[0] if str(exc) else ''}", file=sys.stderr)
        return 1
    print(json.dumps({**report, "name": meta["name"], "version": meta["version"], "sha256": meta["sha256"]}))
    return 0


if __name__ == "__main__":
    sys.exit(main())
