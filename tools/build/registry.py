"""Pinned packages from the package registries, fetched with the ordinary clients and checked."""

from __future__ import annotations

import hashlib
import subprocess
import sys
import tempfile
from pathlib import Path


def sha256_hex(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def pip_wheel(requirement: str, filename: str, sha256: str, download_dir: Path | None = None) -> bytes:
    """The bytes of `filename` (a wheel) for `requirement` ("name==version"), checked against
    `sha256`: from download_dir when it holds a verified copy, else `pip download` (the copy
    is stored in download_dir when one is given)."""
    cached = download_dir / filename if download_dir is not None else None
    if cached is not None and cached.exists():
        data = cached.read_bytes()
        if sha256_hex(data) == sha256:
            return data
        print(f"{cached} has the wrong sha256; downloading again", file=sys.stderr)
    with tempfile.TemporaryDirectory(prefix="wheel-") as tmp:
        command = [sys.executable, "-m", "pip", "download", "--no-deps", "--only-binary", ":all:", "--disable-pip-version-check", "-q"]
        subprocess.run([*command, "-d", tmp, requirement], check=True, timeout=900)
        data = (Path(tmp) / filename).read_bytes()
    digest = sha256_hex(data)
    if digest != sha256:
        raise SystemExit(f"{filename}: sha256 {digest} does not match the pinned {sha256}")
    if cached is not None:
        cached.parent.mkdir(parents=True, exist_ok=True)
        cached.write_bytes(data)
    return data
