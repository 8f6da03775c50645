"""Behaviour replay: send a fixed set of requests to both functions and record the answers.

The request cases are data (tests/replay/requests.json by default). Photos are referred to
by file name in face-recognition 1.3.0's test image folder (fetched by tools/testdata.py
into ~/.cache/tflite-functions-testdata); every derived input (crops, re-encodings,
truncations, base64, data URIs, gesture tracks) is built here, deterministically, by the
small `$op` language below, so nothing binary is stored in the repository.

Each answer is recorded as status code, Content-Type and the JSON body with every
`time_ms` key removed (recursively); tests/functions/test_replay.py replays the cases
against the current tree and compares canonical JSON byte for byte. A sha256 of every
built request is recorded too, so a changed request is told apart from a changed answer.

Self-contained on purpose: it imports nothing from the project (only functions-framework
and Pillow), serves whichever tree `--root` names, and can live anywhere.

    python tests/replay/recorder.py --root /path/to/tree --out tests/replay/answers.json

Value language (a JSON value; a dict with one key starting with "$" is an operation):
    {"$photo": "obama.jpg"}              bytes of a photo in the photos folder
    {"$example": "hand-open"}            docs/examples/<name>.json of the served tree
    {"$text": "..."}                     UTF-8 bytes;  {"$latin1": "..."} latin-1 bytes
    {"$json": X}                         json.dumps(X) as UTF-8 bytes
    {"$b64": X}                          base64 text of bytes X
    {"$data_uri": [mime, X]}             "data:<mime>;base64,..." of bytes X
    {"$head": [X, n]}                    first n bytes of X (n < 0: all but the last -n)
    {"$crop": [X, [l, t, r, b], fmt]}    image X cropped, saved as fmt (JPEG quality 90)
    {"$reencode": [X, fmt]}              image X saved as fmt
    {"$resize": [X, [w, h], fmt]}        image X resized (bilinear), saved as fmt
    {"$animated_gif": [size, frames]}    a small animated GIF
    {"$png_header": [w, h]}              a valid PNG whose header claims w x h (tiny IDAT)
    {"$merge": [dict, overrides]}        dict with keys replaced / added
    {"$without": [dict, [keys]]}         dict without keys
    {"$get": [X, key]}                   X[key] (key: str or int)
    {"$slice": [X, start, stop]}         X[start:stop] (null for an open end)
    {"$reverse": X}                      list reversed
    {"$repeat": [X, n]}                  [X] * n
    {"$null_frames": [X, [i, ...]]}      list with items i set to null
    {"$points_as_dicts": [X, extra]}     landmark frames with each [x, y(, z)] as
                                         {"x", "y"(, "z")} plus the extra keys
    {"$fingertip_track": X}              landmark frames -> [[dx, dy], ...] of point 8
                                         relative to the first frame (point_history row)
    {"$hand_row": X}                     one landmark frame -> 42 numbers relative to the
                                         wrist, divided by the largest absolute value

A case: {"name", "function", "method" (default POST), and one of
    "json": X                  body json.dumps(X), Content-Type application/json
    "multipart": {field: X}    files (bytes) in a multipart body with a fixed boundary
    "raw": X                   body bytes (or text) as given
 optional "content_type" (overrides; null = no Content-Type header)}.
"""

from __future__ import annotations

import argparse
import base64
import hashlib
import io
import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

FUNCTIONS = {
    "verify_face": "functions/verify_face/main.py",
    "predict_gesture": "functions/predict_gesture/main.py",
}

# The environment both functions are served with while replaying. The embedding cache is
# off (a cache hit only shows in time_ms, but nothing should depend on request order), the
# memory tier is large (so the process's own RSS cannot turn an answer into a 503), and
# every other setting is unset, i.e. at its default.
REPLAY_ENV = {"EMBEDDING_CACHE_SIZE": "0", "MEMORY_LIMIT_MB": "65536"}
UNSET_ENV = (
    "FACE_DETECTOR_MODEL",
    "FACE_DETECTOR_FALLBACK_MODEL",
    "FACE_EMBEDDER_MODEL",
    "VERIFY_THRESHOLD",
    "GESTURE_MODEL",
    "MAX_REQUEST_BYTES",
    "MAX_IMAGE_PIXELS",
    "MAX_FULL_DECODE_PIXELS",
    "MAX_IMAGE_SIDE",
    "MAX_FRAMES",
    "INTERPRETER_THREADS",
    "MEMORY_WARN_FRACTION",
    "MEMORY_CRITICAL_FRACTION",
    "EMBEDDING_CACHE_TTL_S",
    "MODEL_RETRY_S",
    "MODEL_LOAD_TIMEOUT_S",
    "API_KEY",
)

DROP_KEYS = ("time_ms",)
BOUNDARY = "replay-boundary-6f1c0d2e"
INDEX_TIP = 8

HERE = Path(__file__).resolve().parent
DEFAULT_REQUESTS = "tests/replay/requests.json"  # relative to --root unless absolute


def default_requests(root: Path) -> Path:
    candidates = [HERE / "requests.json", HERE.parent / DEFAULT_REQUESTS, Path(root) / DEFAULT_REQUESTS]
    return next((p for p in candidates if p.is_file()), candidates[-1])


def default_photos() -> Path:
    cache = Path(os.environ.get("TEST_DATA_CACHE", Path.home() / ".cache" / "tflite-functions-testdata"))
    return cache / "face_recognition-1.3.0-test_images"


# ---- building requests --------------------------------------------------------------------


class Builder:
    """Resolves the `$op` value language against a photos folder and a served tree."""

    def __init__(self, photos: Path, root: Path):
        self.photos = Path(photos)
        self.root = Path(root)

    def value(self, spec: Any) -> Any:
        if isinstance(spec, list):
            return [self.value(v) for v in spec]
        if isinstance(spec, dict):
            if len(spec) == 1:
                ((key, arg),) = spec.items()
                if key.startswith("$"):
                    op = getattr(self, "op_" + key[1:], None)
                    if op is None:
                        raise ValueError(f"unknown operation {key}")
                    return op(arg)
            return {k: self.value(v) for k, v in spec.items()}
        return spec

    def bytes_of(self, spec: Any) -> bytes:
        value = self.value(spec)
        if isinstance(value, str):
            return value.encode()
        if not isinstance(value, bytes):
            raise TypeError(f"expected bytes, got {type(value).__name__} from {str(spec)[:80]}")
        return value

    # -- sources
    def op_photo(self, name: str) -> bytes:
        path = self.photos / name
        if not path.is_file():
            raise FileNotFoundError(f"{path}: face photos missing (run the tests once, or pass --photos)")
        return path.read_bytes()

    def op_example(self, name: str) -> Any:
        return json.loads((self.root / "docs" / "examples" / f"{name}.json").read_text())

    def op_text(self, text: str) -> bytes:
        return text.encode("utf-8")

    def op_latin1(self, text: str) -> bytes:
        return text.encode("latin-1")

    def op_json(self, spec: Any) -> bytes:
        return json.dumps(self.value(spec)).encode()

    # -- bytes
    def op_b64(self, spec: Any) -> str:
        return base64.b64encode(self.bytes_of(spec)).decode()

    def op_data_uri(self, arg: list) -> str:
        mime, spec = arg
        return f"data:{mime};base64," + base64.b64encode(self.bytes_of(spec)).decode()

    def op_head(self, arg: list) -> bytes:
        spec, n = arg
        return self.bytes_of(spec)[:n]

    # -- images (Pillow, imported only when a case needs it)
    @staticmethod
    def _save(image, fmt: str, **options) -> bytes:
        out = io.BytesIO()
        if fmt.upper() == "JPEG":
            image = image.convert("RGB")
            options.setdefault("quality", 90)
        image.save(out, fmt, **options)
        return out.getvalue()

    def _open(self, spec: Any):
        from PIL import Image

        image = Image.open(io.BytesIO(self.bytes_of(spec)))
        image.load()
        return image

    def op_crop(self, arg: list) -> bytes:
        spec, box, fmt = arg
        return self._save(self._open(spec).crop(tuple(box)), fmt)

    def op_reencode(self, arg: list) -> bytes:
        spec, fmt = arg
        return self._save(self._open(spec), fmt)

    def op_resize(self, arg: list) -> bytes:
        from PIL import Image

        spec, size, fmt = arg
        return self._save(self._open(spec).convert("RGB").resize(tuple(size), Image.BILINEAR), fmt)

    def op_animated_gif(self, arg: list) -> bytes:
        from PIL import Image

        size, frames = arg
        images = [Image.new("RGB", (size, size), (80 * i % 256, 40, (200 - 60 * i) % 256)) for i in range(frames)]
        out = io.BytesIO()
        images[0].save(out, "GIF", save_all=True, append_images=images[1:], duration=100, loop=0)
        return out.getvalue()

    def op_png_header(self, arg: list) -> bytes:
        import struct
        import zlib

        width, height = arg

        def chunk(kind: bytes, data: bytes) -> bytes:
            return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

        ihdr = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
        return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + chunk(b"IDAT", zlib.compress(b"\0" * 1024)) + chunk(b"IEND", b"")

    # -- JSON structures
    def op_merge(self, arg: list) -> dict:
        base, overrides = (self.value(a) for a in arg)
        return {**base, **overrides}

    def op_without(self, arg: list) -> dict:
        base, keys = self.value(arg[0]), arg[1]
        return {k: v for k, v in base.items() if k not in keys}

    def op_get(self, arg: list) -> Any:
        return self.value(arg[0])[arg[1]]

    def op_slice(self, arg: list) -> list:
        return self.value(arg[0])[arg[1] : arg[2]]

    def op_reverse(self, spec: Any) -> list:
        return list(reversed(self.value(spec)))

    def op_repeat(self, arg: list) -> list:
        return [self.value(arg[0])] * arg[1]

    def op_null_frames(self, arg: list) -> list:
        frames, nulls = list(self.value(arg[0])), set(arg[1])
        return [None if i in nulls else f for i, f in enumerate(frames)]

    def op_points_as_dicts(self, arg: list) -> list:
        frames, extra = self.value(arg[0]), self.value(arg[1])
        keys = ("x", "y", "z")
        return [[{**dict(zip(keys, p, strict=False)), **extra} for p in frame] for frame in frames]

    def op_fingertip_track(self, spec: Any) -> list:
        tip = [frame[INDEX_TIP][:2] for frame in self.value(spec)]
        x0, y0 = tip[0]
        return [[x - x0, y - y0] for x, y in tip]

    def op_hand_row(self, spec: Any) -> list:
        points = self.value(spec)
        x0, y0 = points[0][:2]
        rel = [v for p in points for v in (p[0] - x0, p[1] - y0)]
        top = max(abs(v) for v in rel) or 1.0
        return [v / top for v in rel]

    # -- whole requests
    def request(self, case: dict) -> dict:
        """{"method", "content_type", "body"} for client.open, fully deterministic bytes."""
        forms = [k for k in ("json", "multipart", "raw") if k in case]
        if len(forms) != 1:
            raise ValueError(f"{case.get('name')}: give exactly one of json, multipart, raw")
        form = forms[0]
        if form == "json":
            body, content_type = json.dumps(self.value(case["json"])).encode(), "application/json"
        elif form == "multipart":
            parts = []
            for field, spec in case["multipart"].items():
                data = self.bytes_of(spec)
                parts.append(
                    f'--{BOUNDARY}\r\nContent-Disposition: form-data; name="{field}"; filename="{field}.bin"\r\n'
                    f"Content-Type: application/octet-stream\r\n\r\n".encode()
                    + data
                    + b"\r\n"
                )
            body = b"".join(parts) + f"--{BOUNDARY}--\r\n".encode()
            content_type = f"multipart/form-data; boundary={BOUNDARY}"
        else:
            body, content_type = self.bytes_of(case["raw"]), None
        if "content_type" in case:
            content_type = case["content_type"]
        return {"method": case.get("method", "POST"), "content_type": content_type, "body": body}


def fingerprint(request: dict) -> str:
    h = hashlib.sha256()
    h.update(f"{request['method']}\n{request['content_type']}\n".encode())
    h.update(request["body"])
    return h.hexdigest()


# ---- answers --------------------------------------------------------------------------------


def strip_keys(value: Any, keys: tuple[str, ...] = DROP_KEYS) -> Any:
    """The value with every dict key in `keys` removed, at any depth."""
    if isinstance(value, dict):
        return {k: strip_keys(v, keys) for k, v in value.items() if k not in keys}
    if isinstance(value, list):
        return [strip_keys(v, keys) for v in value]
    return value


def canonical(answer: dict) -> str:
    """The comparable form of one answer: canonical JSON of status, content type and body."""
    return json.dumps({"status": answer["status"], "content_type": answer["content_type"], "body": answer["body"]}, sort_keys=True)


def send(client, request: dict) -> dict:
    kwargs = {"method": request["method"], "data": request["body"]}
    if request["content_type"] is not None:
        kwargs["content_type"] = request["content_type"]
    response = client.open("/", **kwargs)
    raw = response.get_data()
    try:
        body = strip_keys(json.loads(raw))
    except ValueError:
        body = {"$not_json": raw.decode("utf-8", "replace")[:2000]}
    return {"status": response.status_code, "content_type": response.headers.get("Content-Type"), "body": body}


def load_cases(path: Path) -> list[dict]:
    cases = json.loads(Path(path).read_text())["cases"]
    names = [c["name"] for c in cases]
    dupes = sorted({n for n in names if names.count(n) > 1})
    if dupes:
        raise ValueError(f"duplicate case names: {dupes}")
    unknown = sorted({c["function"] for c in cases} - set(FUNCTIONS))
    if unknown:
        raise ValueError(f"unknown functions: {unknown}")
    return cases


def make_clients(root: Path) -> dict:
    """A functions-framework test client per function, serving the tree at `root`.

    Call with REPLAY_ENV in effect and any cached settings forgotten: each main.py reads
    its settings when it is loaded here."""
    from functions_framework import create_app

    return {name: create_app(name, str(Path(root) / source)).test_client() for name, source in FUNCTIONS.items()}


def replay(cases: list[dict], clients: dict, builder: Builder) -> list[dict]:
    """Send every case; one record per case (name, function, request_sha256, status,
    content_type, body)."""
    out = []
    for case in cases:
        request = builder.request(case)
        answer = send(clients[case["function"]], request)
        out.append({"name": case["name"], "function": case["function"], "request_sha256": fingerprint(request), **answer})
    return out


def _describe_tree(root: Path) -> str:
    try:
        head = subprocess.run(
            ["git", "-C", str(root), "rev-parse", "--short", "HEAD"], capture_output=True, text=True, timeout=30
        ).stdout.strip()
        dirty = subprocess.run(
            ["git", "-C", str(root), "status", "--porcelain", "--untracked-files=no"], capture_output=True, text=True, timeout=30
        ).stdout.strip()
    except (OSError, subprocess.SubprocessError):
        return "unknown"
    return (head or "unknown") + ("+uncommitted changes" if dirty else "")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--root", required=True, type=Path, help="tree whose functions to serve")
    parser.add_argument("--out", required=True, type=Path, help="answers JSON to write")
    parser.add_argument(
        "--requests",
        type=Path,
        default=None,
        help=f"request cases (default: requests.json beside this tool, else {DEFAULT_REQUESTS} in this tool's tree, else in --root)",
    )
    parser.add_argument("--photos", type=Path, default=default_photos(), help="face-recognition 1.3.0 test images folder")
    args = parser.parse_args(argv)

    root = args.root.resolve()
    requests_path = (args.requests or default_requests(root)).resolve()
    out_path = args.out.resolve()
    cases = load_cases(requests_path)

    for name in UNSET_ENV:
        os.environ.pop(name, None)
    os.environ.update(REPLAY_ENV)
    os.chdir(root)
    # main.py puts its own tree first on sys.path; make sure no other tree's `shared` wins.
    sys.path[:] = [p for p in sys.path if Path(p or ".").resolve() != HERE]
    sys.path.insert(0, str(root))
    clients = make_clients(root)
    served = Path(sys.modules["shared"].__file__).resolve()
    if root not in served.parents:
        raise SystemExit(f"served library {served} is not under --root {root}")

    answers = replay(cases, clients, Builder(args.photos, root))
    record = {
        "about": "Answers recorded by tests/replay/recorder.py; replayed by tests/functions/test_replay.py. "
        "Bodies have every time_ms key removed.",
        "recorded_from": _describe_tree(root),
        "env": REPLAY_ENV,
        "cases": answers,
    }
    out_path.parent.mkdir(parents=True, exist_ok=True)
    out_path.write_text(json.dumps(record, indent=1, sort_keys=False) + "\n")
    counts: dict[str, int] = {}
    for a in answers:
        counts[a["function"]] = counts.get(a["function"], 0) + 1
    print(
        f"recorded {len(answers)} answers ({', '.join(f'{k}: {v}' for k, v in counts.items())}) from {root} into {out_path}",
        file=sys.stderr,
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
