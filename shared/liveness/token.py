"""The liveness challenge: issued and checked without server state, used once with Redis.

A token is `v1.<payload>.<signature>`: the payload is base64url JSON {"n": a 128-bit random
nonce, "a": the actions in order, "x": the expiry (Unix seconds)}; the signature is
base64url HMAC-SHA256 under LIVENESS_SECRET of "v1.<payload>". Any instance holding the
secret checks it; none needs to remember what it issued. Used once: the nonce is claimed in
Redis (SET NX with the token's remaining life) when REDIS_URL is set, else in this
instance's memory only (a token replayed to another instance is then not caught: deploy
Redis where that matters). Each refusal is a 4xx naming the problem.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import json
import math
import secrets
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass

from shared.errors import BadRequest, Forbidden, ServiceError, ServiceUnavailable
from shared.liveness.options import ACTIONS, LivenessOptions
from shared.state.store import SharedStore, key, shared_store

VERSION = "v1"
MAX_TOKEN_CHARS = 512


class ReusedToken(ServiceError, status=409, code="reused_token"):
    """409: this challenge was already answered once."""


@dataclass(frozen=True)
class Challenge:
    """Attributes: token (what the client sends back), actions (in order), expires_at (Unix s), nonce,
    issued_at (when `issue` made it: its answer counts the seconds left from there)."""

    token: str
    actions: tuple[str, ...]
    expires_at: int
    nonce: str
    issued_at: float = 0.0  # the clock's reading the expiry was computed from (issue only)

    def to_dict(self, now: float) -> dict:
        return {"challenge": {"token": self.token, "actions": list(self.actions), "expires_in_s": max(0, int(self.expires_at - now))}}


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


class Challenges:
    """Issue (`issue`) and redeem (`redeem`) challenges under one secret; thread-safe."""

    def __init__(self, options: LivenessOptions, clock: Callable[[], float] = time.time):
        self.options = options
        self.clock = clock
        self._store: SharedStore | None = shared_store(options.store)
        self._seen: dict[str, float] = {}  # nonce -> expiry, without Redis
        self._lock = threading.Lock()

    def _sign(self, body: str) -> str:
        return _b64(hmac.new(self.options.secret, body.encode(), hashlib.sha256).digest())

    def issue(self, actions: tuple[str, ...] = ()) -> Challenge:
        """2 or 3 different actions in a random order (or `actions`, for tools and tests),
        a fresh nonce, expiring in ttl_s."""
        rng = secrets.SystemRandom()
        actions = actions or tuple(rng.sample(ACTIONS, rng.choice((2, 3))))
        nonce = secrets.token_hex(16)
        now = self.clock()
        expires = math.ceil(now + self.options.ttl_s)
        payload = _b64(json.dumps({"n": nonce, "a": list(actions), "x": expires}, separators=(",", ":")).encode())
        body = f"{VERSION}.{payload}"
        return Challenge(f"{body}.{self._sign(body)}", actions, expires, nonce, now)

    def read(self, token: object) -> Challenge:
        """The challenge a token carries, checked: 400 `bad_token` (not a token), 403
        `forged_token` (signature), 403 `expired_token`. Does not claim it (see `redeem`)."""
        if not isinstance(token, str) or not 0 < len(token) <= MAX_TOKEN_CHARS:
            raise BadRequest(
                f"challenge must be the token string a challenge request answered (at most {MAX_TOKEN_CHARS} characters)", code="bad_token"
            )
        parts = token.split(".")
        if len(parts) != 3 or parts[0] != VERSION:
            raise BadRequest(f"challenge is not a {VERSION} liveness token (expected three dot-separated parts)", code="bad_token")
        if not hmac.compare_digest(self._sign(f"{parts[0]}.{parts[1]}"), parts[2]):
            raise Forbidden(
                "challenge token's signature does not match: it was not issued by this service or was altered", code="forged_token"
            )
        try:
            data = json.loads(_unb64(parts[1]))
            nonce, actions, expires = data["n"], tuple(data["a"]), data["x"]
        except (ValueError, KeyError, TypeError, binascii.Error) as exc:  # signed yet unreadable: another format
            raise BadRequest("challenge token's payload is not readable", code="bad_token") from exc
        if not (isinstance(nonce, str) and isinstance(expires, int) and actions and all(a in ACTIONS for a in actions)):
            raise BadRequest("challenge token's payload is not readable", code="bad_token")
        now = self.clock()
        if now > expires:
            raise Forbidden(f"challenge token expired {now - expires:.0f} s ago: ask for a new challenge", code="expired_token")
        return Challenge(token, actions, expires, nonce)

    def redeem(self, token: object) -> Challenge:
        """`read`, then claim its nonce once: 409 `reused_token` when it was claimed before;
        503 when Redis is configured and cannot say (a replay must not pass on an outage)."""
        challenge = self.read(token)
        ttl_ms = max(1, int((challenge.expires_at - self.clock()) * 1000) + 1000)
        if self._store is not None:
            try:
                claimed = self._store.client().set(key("liveness", challenge.nonce), b"1", nx=True, px=ttl_ms)
            except Exception as exc:  # redis-py's errors: any of them means "cannot tell"
                self._store.failed(exc, "liveness tokens")
                raise ServiceUnavailable("cannot check the challenge token's one-time use now; try again", retry_after=5) from exc
        else:
            claimed = self._claim_here(challenge)
        if not claimed:
            raise ReusedToken("challenge token was already used: ask for a new challenge")
        return challenge

    def _claim_here(self, challenge: Challenge) -> bool:
        now = self.clock()
        with self._lock:
            for nonce in [n for n, until in self._seen.items() if until < now]:
                del self._seen[nonce]
            if challenge.nonce in self._seen:
                return False
            self._seen[challenge.nonce] = challenge.expires_at
            return True
