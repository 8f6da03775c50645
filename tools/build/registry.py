"""Pinned packages from the package registries, fetched with the ordinary clients and checked."""

from __future__ import annotations

import argparse
import hashlib
import subprocess
import sys
import tempfile
import zipfile
from collections.abc import Callable, Sequence
from email.parser import Parser
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from shared.runtime.tflite import Model

EXTRACTED = "no conversion: extracted byte for byte"


def sha256_hex(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def pip_wheel(requirement: str, filename: str, sha256: str, download_dir: Path | None = None, platform: Sequence[str] = ()) -> bytes:
    """The bytes of `filename` (a wheel) for `requirement` ("name==version"), checked against
    `sha256`: from download_dir when it holds a verified copy, else `pip download` (the copy
    is stored in download_dir when one is given). `platform`: pip's --python-version /
    --platform / --abi options, for a wheel built for another machine than this one."""
    cached = download_dir / filename if download_dir is not None else None
    if cached is not None and cached.exists():
        data = cached.read_bytes()
        if sha256_hex(data) == sha256:
            return data
        print(f"{cached} has the wrong sha256; downloading again", file=sys.stderr)
    with tempfile.TemporaryDirectory(prefix="wheel-") as tmp:
        command = [sys.executable, "-m", "pip", "download", "--no-deps", "--only-binary", ":all:", "--disable-pip-version-check", "-q"]
        subprocess.run([*command, *platform, "-d", tmp, requirement], check=True, timeout=900)
        data = (Path(tmp) / filename).read_bytes()
    digest = sha256_hex(data)
    if digest != sha256:
        raise SystemExit(f"{filename}: sha256 {digest} does not match the pinned {sha256}")
    if cached is not None:
        cached.parent.mkdir(parents=True, exist_ok=True)
        cached.write_bytes(data)
    return data


def wheel_licence(wheel: zipfile.ZipFile, dist_info: str) -> str:
    """The `License:` field of a wheel's METADATA (`dist_info`: the folder's name before
    `.dist-info`, e.g. "mediapipe-0.10.21")."""
    meta = wheel.read(f"{dist_info}.dist-info/METADATA").decode()
    return Parser().parsestr(meta).get("License", "UNKNOWN")


def manifest_head(name: str, version: str, task: str | None, description: str, loaded: Model) -> dict:
    """bundle.json's opening fields: name, version, task (left out when None: the caller
    places it), description, and the loaded model's own inputs and outputs."""
    head = {"name": name, "version": version, "task": task, "description": description}
    if task is None:
        del head["task"]
    return {**head, "inputs": [t.to_dict() for t in loaded.inputs], "outputs": [t.to_dict() for t in loaded.outputs]}


def extracted_tail(model: bytes, source: dict, tool: str, command: str, runtimes: dict, note: str = EXTRACTED) -> dict:
    """bundle.json's closing fields for a model taken unchanged from a package: its sha256
    and size, where it came from, how (`tool`, `command`, `note`), the runtimes checked."""
    return {
        "sha256": sha256_hex(model),
        "size_bytes": len(model),
        "source": source,
        "conversion": {"tool": tool, "command": command, "note": note},
        "runtimes_checked": runtimes,
    }


def check_files(files: dict[Path, bytes], root: Path) -> list[str]:
    """Files under root that are missing or differ from what a builder would write."""
    bad = []
    for rel, content in files.items():
        path = root / rel
        if not path.exists():
            bad.append(f"{rel}: missing")
        elif path.read_bytes() != content:
            bad.append(f"{rel}: differs (sha256 {sha256_hex(path.read_bytes())[:12]}..., expected {sha256_hex(content)[:12]}...)")
    return bad


def write_or_check(files: dict[Path, bytes], root: Path, check: bool, command: str) -> int:
    """--check: report what differs from `files` under root (exit status 1 if anything);
    otherwise write them. The exit status for the builder's main()."""
    if check:
        bad = check_files(files, root)
        for line in bad:
            print(line, file=sys.stderr)
        if bad:
            return 1
        print(f"{len(files)} files match what {command} writes")
        return 0
    for rel, content in files.items():
        (root / rel).parent.mkdir(parents=True, exist_ok=True)
        (root / rel).write_bytes(content)
        print(f"wrote {rel} ({len(content)} bytes, sha256 {sha256_hex(content)})")
    return 0


def verify_bundles(root: Path, names: Sequence[str]) -> None:
    """Load each written bundle under root/models/ and run it once on zeros, printing what
    it ran on (the runtime) and the output shapes."""
    import json

    import numpy as np

    from shared.runtime.bundle import LoadOptions, load_bundle
    from shared.runtime.tflite import runtime_info

    for name in names:
        b = load_bundle(str(root / "models" / name), LoadOptions())
        outs = b.model.run(np.zeros(b.model.inputs[0].shape, np.float32))
        print(json.dumps({"bundle": b.name, **runtime_info(), "sha256": b.sha256, "outputs": [list(o.shape) for o in outs]}))


def wheel_arguments(doc: str | None, root: Path) -> argparse.ArgumentParser:
    """The command line every wheel-extracting builder takes: --download-dir, --root, --check."""
    parser = argparse.ArgumentParser(description=doc, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument(
        "--download-dir", type=Path, help="cache folder for the wheel (used if it holds a verified copy; a fresh download is stored there)"
    )
    parser.add_argument("--root", type=Path, default=root, help="repo root to write models/ under (default: this repo)")
    parser.add_argument("--check", action="store_true", help="write nothing; fail if the committed files differ")
    return parser


def bundle_files(models: dict[str, bytes], manifest: Callable[[str, bytes], dict]) -> dict[Path, bytes]:
    """models/<name>/model.tflite and bundle.json (`manifest(name, model)`, indented JSON)
    for each model, relative to the repo root."""
    import json

    files: dict[Path, bytes] = {}
    for name, model in models.items():
        files[Path("models") / name / "model.tflite"] = model
        files[Path("models") / name / "bundle.json"] = (json.dumps(manifest(name, model), indent=2) + "\n").encode()
    return files


def wheel_main(argv: list[str] | None, doc: str | None, root: Path, build: Callable[[Path | None], dict[Path, bytes]], command: str) -> int:
    """A wheel-extracting builder's command: build (from the wheel cached in --download-dir),
    write or --check under --root, then run each written bundle once."""
    args = wheel_arguments(doc, root).parse_args(argv)
    files = build(args.download_dir)
    status = write_or_check(files, args.root, args.check, command)
    if status == 0:
        verify_bundles(args.root, sorted({path.parts[1] for path in files}))
    return status
