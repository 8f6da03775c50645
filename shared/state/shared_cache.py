"""The embedding cache shared by the instances through Redis, behind TTLCache's interface.

`make_cache(size, ttl_s, store, codec, namespace)` is what a pipeline builds: a TTLCache
alone without a store; with one, a `TieredCache`: this instance's TTLCache first, then
Redis. A value travels as a `RecordCodec` writes it: a small JSON header and one float32
array's raw bytes (never pickle), so reading back runs no code; the codec's `check` then
refuses a record no pipeline would have made (wrong shape, NaN). Redis keeps each key
`ttl_s` seconds (SET EX); what bounds the whole is that time-to-live and the server's
`maxmemory` with an eviction policy (`allkeys-lru` suits a cache).

Sealed with the key's own parts (`seal`/`unseal`): the Redis key is a hash of the parts,
and the value is encrypted and authenticated with a secret derived from them (SHAKE-256
keystream, HMAC-SHA256 tag). For face embeddings a part is the photo's sha256, so what
Redis holds (biometric templates) reads as noise to anyone without the photo itself, who
could compute the embedding anyway; and a value forged or altered in Redis is a miss.

Every Redis call fails open: an error or a timeout is a miss (get) or nothing (put), the
store's breaker opens, and the instance answers from its own cache meanwhile.
"""

from __future__ import annotations

import dataclasses
import hashlib
import hmac
import json
import struct
import threading
from collections.abc import Callable, Hashable, Mapping
from typing import Any

import numpy as np

from shared.state.cache import TTLCache
from shared.state.store import SharedStore, key

_HEADER = struct.Struct(">I")  # length of the JSON header that precedes the array bytes
SEAL_VERSION = b"\x01"
TAG_BYTES = 16


def _secret(parts: Hashable, purpose: bytes) -> bytes:
    items = parts if isinstance(parts, tuple) else (parts,)
    return hashlib.sha256(purpose + b"\0" + "\0".join(str(p) for p in items).encode()).digest()


def seal(parts: Hashable, data: bytes) -> bytes:
    """`data` encrypted and authenticated under a secret derived from `parts` (the cache key)."""
    secret = _secret(parts, b"tflite-fn seal")
    stream = hashlib.shake_256(secret + b"stream").digest(len(data))
    body = SEAL_VERSION + (int.from_bytes(data, "big") ^ int.from_bytes(stream, "big")).to_bytes(len(data), "big")
    return body + hmac.new(secret, body, hashlib.sha256).digest()[:TAG_BYTES]


def unseal(parts: Hashable, sealed: bytes) -> bytes:
    """What `seal(parts, ...)` sealed; ValueError for anything else (another key's value, a
    forged or altered one)."""
    secret = _secret(parts, b"tflite-fn seal")
    body, tag = sealed[:-TAG_BYTES], sealed[-TAG_BYTES:]
    if (
        len(sealed) < 1 + TAG_BYTES
        or body[:1] != SEAL_VERSION
        or not hmac.compare_digest(tag, hmac.new(secret, body, hashlib.sha256).digest()[:TAG_BYTES])
    ):
        raise ValueError("not a value sealed under this key")
    data = body[1:]
    stream = hashlib.shake_256(secret + b"stream").digest(len(data))
    return (int.from_bytes(data, "big") ^ int.from_bytes(stream, "big")).to_bytes(len(data), "big")


class RecordCodec:
    """A frozen dataclass with one float32 array field and JSON-ready other fields <-> bytes.

    Layout: 4-byte big-endian header length, UTF-8 JSON header (the other fields, plus
    the array's shape under "_shape"), then the array as little-endian float32. A field
    holding a dataclass of JSON-ready fields is written as `dataclasses.asdict` writes it
    and read back by its entry in `readers` (field name -> JSON value -> the field's value).
    `check` (optional) raises ValueError for a decoded value its pipeline could not have made."""

    def __init__(
        self,
        cls: type,
        array_field: str,
        readers: Mapping[str, Callable[[Any], Any]] | None = None,
        check: Callable[[Any], None] | None = None,
    ):
        self.cls = cls
        self.array_field = array_field
        self.check = check
        self.fields = [f.name for f in dataclasses.fields(cls) if f.name != array_field]
        self.readers = dict(readers or {})

    def encode(self, value: Any) -> bytes:
        array = np.ascontiguousarray(getattr(value, self.array_field), dtype="<f4")
        header = {name: getattr(value, name) for name in self.fields}
        header["_shape"] = list(array.shape)
        text = json.dumps(header, separators=(",", ":"), allow_nan=False, default=_as_json).encode()
        return _HEADER.pack(len(text)) + text + array.tobytes()

    def decode(self, data: bytes) -> Any:
        """The value; ValueError when `data` is not one this codec wrote."""
        try:
            (size,) = _HEADER.unpack_from(data)
            header = json.loads(data[_HEADER.size : _HEADER.size + size], parse_constant=_no_constant)
            shape = tuple(int(n) for n in header.pop("_shape"))
            array = np.frombuffer(data, dtype="<f4", offset=_HEADER.size + size).astype(np.float32)
            values = {name: self.readers.get(name, _same)(header[name]) for name in self.fields}
        except (struct.error, UnicodeDecodeError, json.JSONDecodeError, KeyError, TypeError, ValueError) as exc:
            raise ValueError(f"not a cached {self.cls.__name__}: {type(exc).__name__}") from None
        if array.size != int(np.prod(shape)):
            raise ValueError(f"not a cached {self.cls.__name__}: {array.size} values for shape {shape}")
        value = self.cls(**{self.array_field: array.reshape(shape)}, **values)
        if self.check is not None:
            self.check(value)
        return value


def _no_constant(name: str) -> None:
    raise ValueError(f"{name} in a cached record")


def _as_json(value: Any) -> Any:
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return dataclasses.asdict(value)
    raise TypeError(f"{type(value).__name__} is not JSON serialisable")


def _same(value: Any) -> Any:
    return value


class RedisCache:
    """get/put over Redis with a time-to-live; fails open (see the module's docstring)."""

    def __init__(self, store: SharedStore, ttl_s: float, codec: RecordCodec, namespace: str):
        self.store = store
        self.ttl_s = ttl_s
        self.codec = codec
        self.namespace = namespace
        self._lock = threading.Lock()
        self.hits = self.misses = self.skipped = 0

    def redis_key(self, parts: Hashable) -> str:
        """The key's parts never reach Redis: a hash of them (a part may be a photo's sha256,
        which is also what the value is sealed with)."""
        return key(self.namespace, _secret(parts, b"tflite-fn key").hex())

    def get(self, parts: Hashable) -> Any:
        """The value, or None when absent, expired, unreadable or Redis is unavailable."""
        value = None
        if self.store.available():
            try:
                data: Any = self.store.client().get(self.redis_key(parts))  # bytes (no decode_responses)
                value = None if data is None else self.codec.decode(unseal(parts, data))
            except ValueError:
                value = None  # written by something else: a miss, overwritten by the next put
            except Exception as exc:  # any client or network error: fail open
                self.store.failed(exc, "embedding cache")
        self._count(value is not None, self.store.available())
        return value

    def put(self, parts: Hashable, value: object) -> None:
        if self.ttl_s <= 0 or not self.store.available():
            return
        try:
            self.store.client().set(self.redis_key(parts), seal(parts, self.codec.encode(value)), ex=max(1, round(self.ttl_s)))
        except Exception as exc:  # fail open: the answer does not depend on the cache
            self.store.failed(exc, "embedding cache")

    def clear(self) -> None:
        """Nothing: memory pressure on one instance does not empty the others' cache."""

    def _count(self, hit: bool, reached: bool) -> None:
        with self._lock:
            if hit:
                self.hits += 1
            elif reached:
                self.misses += 1
            else:
                self.skipped += 1

    def stats(self) -> dict[str, Any]:
        return {**self.store.status(), "ttl_s": self.ttl_s, "hits": self.hits, "misses": self.misses, "skipped": self.skipped}


class TieredCache:
    """This instance's TTLCache, then the shared RedisCache; a shared hit is kept locally."""

    def __init__(self, local: TTLCache, shared: RedisCache):
        self.local = local
        self.shared = shared

    def get(self, parts: Hashable) -> Any:
        value = self.local.get(parts)
        if value is None:
            value = self.shared.get(parts)
            if value is not None:
                self.local.put(parts, value)
        return value

    def put(self, parts: Hashable, value: object) -> None:
        self.local.put(parts, value)
        self.shared.put(parts, value)

    def clear(self) -> None:
        self.local.clear()

    def __len__(self) -> int:
        return len(self.local)

    def stats(self) -> dict[str, Any]:
        return {"backend": "redis", "local": self.local.stats(), "shared": self.shared.stats()}


def make_cache(size: int, ttl_s: float, store: SharedStore | None, codec: RecordCodec, namespace: str) -> TTLCache | TieredCache:
    """The cache a pipeline uses: per instance without a store; tiered with one. size 0
    turns caching off (both tiers)."""
    local = TTLCache(size, ttl_s)
    if store is None or size <= 0:
        return local
    return TieredCache(local, RedisCache(store, ttl_s, codec, namespace))
