"""A local bundle's model verified once, when the image is built, instead of at every start.

Every local bundle's `model.tflite` is hashed when it loads and compared with bundle.json's
`sha256` (runtime/bundle.py): SFace's 12.9 MB cost ~7.5 ms of a cold verify_face's CPU on
every start of every instance. The image's bundles cannot change after `docker build`, so
the Dockerfile verifies them there (`python -m shared.runtime.seal models/*`, the build fails
on a mismatch) and leaves beside each model a stamp, `verified.json`:

    {"model_sha256": ..., "manifest_sha256": ..., "size": ..., "mtime_ns": ...}

At load, a stamp stands in for the hash only when it still describes the files: the model's
size and modification time, and the sha256 of the bundle.json bytes just read. Sealing sets
the model's modification time to a whole second (an image layer keeps no finer time, and
the final stage's COPY keeps file times: the stamp is meant to hold through build, push and
pull; a builder that rewrites file times only costs the hash again), so any later write,
which stamps the file with the current time to the nanosecond, voids it. Otherwise, or without a stamp, the
model is hashed as before; a stamp never refuses a bundle, it only spares a hash. gs://
bundles are always hashed (read as bytes, never stamped). The inode is not part of the key:
every copy of the image's layers (build stage to final stage, pull) gives a new one.

What is still caught: a model replaced or rewritten, a truncated or half-copied file, a
bundle.json edited or from another build, a folder mounted over the image's (no stamp, or
another time), the developer's own models/ (never stamped). What is accepted: a model
changed in place with its size kept and its modification time set back to the stamp's
(only by a writer who could as well rewrite bundle.json, so the hash never guarded against
it), and bytes corrupted below the filesystem after the image was pulled (image layers are
checked against their digests when pulled; nothing reads them again).
"""

from __future__ import annotations

import hashlib
import json
import os
import sys
from pathlib import Path
from typing import Any

STAMP = "verified.json"
_MODEL, _MANIFEST = "model.tflite", "bundle.json"  # runtime/bundle.py's MODEL_FILE and MANIFEST
_KEYS = ("model_sha256", "manifest_sha256", "size", "mtime_ns")
SECOND_NS = 1_000_000_000


def _key(stat: os.stat_result, manifest: bytes) -> dict[str, Any]:
    """What a stamp must still match: the model's size and modification time, bundle.json's digest."""
    return {"manifest_sha256": hashlib.sha256(manifest).hexdigest(), "size": stat.st_size, "mtime_ns": stat.st_mtime_ns}


def stamped_digest(folder: str | os.PathLike[str], manifest: bytes, stat: os.stat_result) -> str:
    """The model's sha256 as the folder's stamp records it when the stamp still matches the
    model's `stat` and the bundle.json bytes `manifest`; "" otherwise (no stamp, a stale or
    unreadable one): then the caller hashes the model."""
    try:
        stamp = json.loads((Path(folder) / STAMP).read_bytes())
    except (OSError, ValueError):
        return ""
    if not isinstance(stamp, dict) or any(k not in stamp for k in _KEYS) or not isinstance(stamp["model_sha256"], str):
        return ""
    if any(stamp[k] != v for k, v in _key(stat, manifest).items()):
        return ""
    return stamp["model_sha256"]


def seal(folder: str | os.PathLike[str]) -> str:
    """Hash a bundle's model, check it against bundle.json's `sha256`, set the model's
    modification time to its whole second and write the stamp. Returns the digest;
    ValueError when the model is not the one bundle.json names."""
    folder = Path(folder)
    manifest = (folder / _MANIFEST).read_bytes()
    meta = json.loads(manifest)
    expected = meta.get("sha256") if isinstance(meta, dict) else None
    with open(folder / _MODEL, "rb") as model:
        digest = hashlib.file_digest(model, "sha256").hexdigest()
        stat = os.fstat(model.fileno())
    if digest != expected:
        raise ValueError(f"{folder / _MODEL} has sha256 {digest[:12]}..., {_MANIFEST} says {str(expected)[:12]}...: not sealed")
    whole = stat.st_mtime_ns - stat.st_mtime_ns % SECOND_NS
    os.utime(folder / _MODEL, ns=(whole, whole))
    stamp = {"model_sha256": digest, **_key(os.stat(folder / _MODEL), manifest)}
    partial = folder / (STAMP + ".partial")
    partial.write_text(json.dumps(stamp, indent=1) + "\n")
    partial.replace(folder / STAMP)
    return digest


def main(argv: list[str]) -> int:
    """python -m shared.runtime.seal BUNDLE_FOLDER...: verify and stamp each (the image's build)."""
    if not argv or argv[0] in ("-h", "--help"):
        print(__doc__.split("\n\n")[0] + "\n\nusage: python -m shared.runtime.seal BUNDLE_FOLDER...")
        return 0 if argv else 2
    failed = 0
    for folder in argv:
        try:
            print(f"sealed {folder}: sha256 {seal(folder)[:12]}...")
        except (OSError, ValueError) as exc:
            print(f"not sealed {folder}: {exc}", file=sys.stderr)
            failed = 1
    return failed


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
