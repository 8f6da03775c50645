"""Bundles under ``gs://bucket/prefix``: `bundle.json` then `model.tflite`, straight into memory.

Each object is read at one pinned *generation*: its metadata is fetched first, then that
exact generation is downloaded, so an upload landing mid-read cannot mix two versions.
If the model's bytes do not match the manifest and the manifest has meanwhile changed
(a publisher replaced the bundle between our two reads), the read starts over. Transient
faults (connection refused, timeouts, 429/5xx, a pinned generation that vanished) are
retried with exponential backoff, bounded in attempts and by an overall deadline; a
missing object or a refused permission fails at once. A reader arriving between a
publisher's two uploads (new model, old manifest) is refused by the sha256 check, gets a
503, and heals at its next retry (shared/runtime/lazy.py). Nothing is written to /tmp (it is
RAM on Cloud Run and counts against the instance's memory).

`google.cloud.storage` is imported inside functions only: it costs ~0.5 s and ~17 MB,
paid only when a gs:// bundle is configured. With `anonymous` (settings: an emulator
host is set) the client is anonymous; otherwise it uses the default credentials.

Errors carry two texts (shared.errors.BundleError): the detail for the log, with URIs,
and a reason for clients, which never names the bucket or the object path.
"""

from __future__ import annotations

import json
import logging
import threading
import time
from dataclasses import dataclass
from typing import Any

from shared.logs import event
from shared.runtime.bundle import MANIFEST, MODEL_FILE, BundleError, BundleFiles, sha256_hex

log = logging.getLogger(__name__)

MAX_ATTEMPTS = 4
BACKOFF_S = 0.25  # first pause; doubled after each failed attempt
MAX_BACKOFF_S = 4.0
CONNECT_TIMEOUT_S = 10.0


@dataclass(frozen=True)
class GsUri:
    """A parsed ``gs://bucket/prefix``. Attributes: bucket; prefix (no slashes at either end, may be "")."""

    bucket: str
    prefix: str

    def object_name(self, filename: str) -> str:
        return f"{self.prefix}/{filename}" if self.prefix else filename

    def uri(self, filename: str | None = None) -> str:
        path = self.object_name(filename) if filename else self.prefix
        return f"gs://{self.bucket}/{path}".rstrip("/")


def parse_gs_uri(uri: str) -> GsUri:
    """``gs://bucket/some/prefix`` -> GsUri; BundleError when it is not one."""
    if not uri.startswith("gs://"):
        raise BundleError(f"expected a gs://bucket/prefix URI, got {uri!r}", reason="not a gs://bucket/prefix URI")
    bucket, _, prefix = uri[len("gs://") :].partition("/")
    if not bucket or any(c in bucket for c in " #?"):
        raise BundleError(f"{uri!r} does not name a bucket (expected gs://bucket/prefix)", reason="the gs:// URI names no bucket")
    return GsUri(bucket, prefix.strip("/"))


class DownloadStats:
    """Process-wide counters of what this module fetched (health answers and tests read them)."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self.reset()

    def reset(self) -> None:
        with self._lock:
            self.counts = {"manifest_downloads": 0, "model_downloads": 0, "bytes": 0, "retries": 0, "reads_ok": 0, "reads_failed": 0}

    def add(self, **deltas: int) -> None:
        with self._lock:
            for key, value in deltas.items():
                self.counts[key] += value

    def to_dict(self) -> dict[str, Any]:
        """The counters (origins and errors name buckets: they go to the log only)."""
        with self._lock:
            return dict(self.counts)


stats = DownloadStats()


class _Transient(Exception):
    """A fault worth another attempt (network, 429/5xx, the bundle changing under us)."""


def make_client(project: str | None = None, *, anonymous: bool = False) -> Any:
    """A storage client: anonymous (an emulator), or with the default credentials."""
    from google.cloud import storage  # heavy import: only when a gs:// bundle is used

    if anonymous:
        if project:
            from google.auth.credentials import AnonymousCredentials

            return storage.Client(project=project, credentials=AnonymousCredentials())
        return storage.Client.create_anonymous_client()
    return storage.Client(project=project)


def _classify(exc: Exception, what: str) -> Exception:
    """Map a client exception to _Transient (retry) or BundleError (give up now)."""
    import requests
    from google.api_core import exceptions as api
    from google.auth import exceptions as auth
    from google.cloud.storage.exceptions import DataCorruption  # checksum mismatch while downloading

    retryable = (
        api.TooManyRequests,
        api.ServerError,
        requests.RequestException,
        auth.TransportError,
        DataCorruption,
        ConnectionError,
        TimeoutError,
    )
    if isinstance(exc, retryable):
        return _Transient(f"{what}: {_short(exc)}")
    if isinstance(exc, (api.Forbidden, api.Unauthorized)):
        return BundleError(f"{what}: access refused ({_short(exc)})", reason="object storage refused access")
    if isinstance(exc, auth.DefaultCredentialsError):
        return BundleError(f"{what}: no Google credentials found ({_short(exc)})", reason="no credentials for object storage")
    return BundleError(f"{what}: {_short(exc)}", reason=f"object storage answered {type(exc).__name__}")


def _short(exc: Exception) -> str:
    text = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
    return f"{type(exc).__name__}: {text[:300]}"


def _remaining(deadline: float) -> tuple[float, float]:
    """(connect, read) timeouts in seconds for one request: what is left of the overall
    deadline, the connect part capped so an unanswering host still leaves time to retry."""
    left = deadline - time.monotonic()
    if left <= 0:
        raise _Transient("overall timeout reached")
    return min(left, CONNECT_TIMEOUT_S), left


def _generation(bucket: Any, uri: GsUri, filename: str, deadline: float) -> int:
    """The live generation of one object (one metadata request); BundleError when it is missing."""
    where = uri.uri(filename)
    try:
        blob = bucket.get_blob(uri.object_name(filename), timeout=_remaining(deadline), retry=None)
    except Exception as exc:
        raise _classify(exc, f"cannot read metadata of {where}") from None
    if blob is None:
        raise BundleError(f"{where} not found (no such object or bucket)", reason=f"{filename} not found in object storage")
    return int(blob.generation)


def _download(bucket: Any, uri: GsUri, filename: str, generation: int, deadline: float) -> bytes:
    """The bytes of exactly `generation` of one object, in memory (checksummed by the client)."""
    from google.api_core import exceptions as api

    where = f"{uri.uri(filename)}#{generation}"
    blob = bucket.blob(uri.object_name(filename), generation=generation)
    try:
        data = blob.download_as_bytes(timeout=_remaining(deadline), retry=None)
    except api.NotFound:
        # The pinned generation was replaced between metadata and download: read again.
        raise _Transient(f"{where} was replaced while being read") from None
    except Exception as exc:
        raise _classify(exc, f"cannot download {where}") from None
    stats.add(**{"manifest_downloads" if filename == MANIFEST else "model_downloads": 1, "bytes": len(data)})
    return data


def _declared_sha256(manifest: bytes) -> str | None:
    try:
        value = json.loads(manifest).get("sha256")
    except (ValueError, AttributeError):
        return None  # not our job here: load_bundle reports a bad manifest
    return value if isinstance(value, str) else None


def _read_once(bucket: Any, uri: GsUri, deadline: float) -> tuple[BundleFiles, dict]:
    """One attempt: manifest (pinned), then model (pinned); restart if the bundle changed meanwhile."""
    manifest_gen = _generation(bucket, uri, MANIFEST, deadline)
    manifest = _download(bucket, uri, MANIFEST, manifest_gen, deadline)
    model_gen = _generation(bucket, uri, MODEL_FILE, deadline)
    model = _download(bucket, uri, MODEL_FILE, model_gen, deadline)
    declared = _declared_sha256(manifest)
    # A publisher may have replaced model and manifest between our two reads: if the
    # manifest moved on, read the new pair; if not, the bundle itself is wrong and
    # load_bundle refuses it.
    mismatch = declared is not None and sha256_hex(model) != declared
    if mismatch and _generation(bucket, uri, MANIFEST, deadline) != manifest_gen:
        raise _Transient(f"{uri.uri()} was republished while being read")
    generations = {"manifest_generation": manifest_gen, "model_generation": model_gen}
    origin = f"{uri.uri()} ({MANIFEST}#{manifest_gen}, {MODEL_FILE}#{model_gen})"
    return BundleFiles(manifest, model, origin), generations


def read_bundle_files(
    source: str, timeout_s: float = 60.0, *, attempts: int = MAX_ATTEMPTS, client: Any = None, anonymous: bool = False
) -> BundleFiles:
    """Read a bundle's `bundle.json` and `model.tflite` from ``gs://bucket/prefix``.

    Up to `attempts` tries with exponential backoff (0.25 s, 0.5 s, ... capped at 4 s),
    all within `timeout_s` seconds. Raises BundleError naming the bundle and object.
    """
    uri = parse_gs_uri(source)
    started = time.monotonic()
    deadline = started + timeout_s
    last = "no attempt made"
    for attempt in range(1, attempts + 1):
        try:
            if client is None:
                client = make_client(anonymous=anonymous)
            files, generations = _read_once(client.bucket(uri.bucket), uri, deadline)
        except _Transient as exc:
            last = str(exc)
        except Exception as exc:  # BundleError, client construction (credentials), anything unforeseen
            error = exc if isinstance(exc, BundleError) else _classify(exc, f"cannot read bundle {source}")
            if not isinstance(error, _Transient):
                stats.add(reads_failed=1)
                raise error from None
            last = str(error)
        else:
            stats.add(reads_ok=1)
            size, ms = len(files.manifest) + len(files.model), round((time.monotonic() - started) * 1000, 1)
            event(
                log,
                logging.INFO,
                f"read bundle files from {files.origin}",
                source=source,
                attempts=attempt,
                bytes=size,
                ms=ms,
                **generations,
            )
            return files
        pause = min(BACKOFF_S * 2 ** (attempt - 1), MAX_BACKOFF_S)
        if attempt == attempts or time.monotonic() + pause >= deadline:
            break
        stats.add(retries=1)
        event(log, logging.WARNING, f"retrying bundle {source} in {pause:.2f} s", source=source, attempt=attempt, error=last)
        time.sleep(pause)
    message = f"cannot read bundle {source} after {attempt} attempt(s) in {time.monotonic() - started:.1f} s: {last}"
    stats.add(reads_failed=1)
    raise BundleError(message, reason=f"object storage unreachable after {attempt} attempt(s)")


def download_stats() -> dict[str, Any]:
    """Counters since process start: downloads, bytes, retries, reads ok and failed."""
    return stats.to_dict()
