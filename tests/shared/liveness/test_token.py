"""The liveness challenge token: issued, read back, and refused when bad, forged, expired or
reused (in this instance's memory, and across instances through a real Redis)."""

from __future__ import annotations

import pytest

from shared.errors import ServiceError
from shared.liveness.options import ACTIONS, LivenessOptions
from shared.liveness.token import Challenges
from shared.state.store import StoreOptions

SECRET = b"s" * 32


class Clock:
    def __init__(self, now: float = 1_800_000_000.0):
        self.now = now

    def __call__(self) -> float:
        return self.now


def refused(call, *args) -> ServiceError:
    with pytest.raises(ServiceError) as caught:
        call(*args)
    return caught.value


def test_a_challenge_is_two_or_three_different_actions_signed_and_expiring():
    clock = Clock()
    challenges = Challenges(LivenessOptions(secret=SECRET, ttl_s=60), clock)
    seen = set()
    for _ in range(40):
        c = challenges.issue()
        assert 2 <= len(c.actions) <= 3 and len(set(c.actions)) == len(c.actions) and set(c.actions) <= set(ACTIONS)
        assert c.to_dict(clock.now) == {"challenge": {"token": c.token, "actions": list(c.actions), "expires_in_s": 60}}
        assert challenges.read(c.token).actions == c.actions
        seen.add(c.actions)
    assert len(seen) > 10  # random orders, not a fixed list


def test_a_challenge_just_issued_answers_its_whole_ttl_however_the_clock_moves():
    """The challenge answer counts the seconds left from the issue's own clock reading: read
    again a moment later (here 0.3 s, across a second), it answered ttl - 1."""
    from shared.liveness.service import answer

    class Ticking(Clock):
        def __call__(self) -> float:
            self.now += 0.3
            return self.now

    for start in (1_800_000_000.0, 1_800_000_000.6, 1_800_000_000.75):  # issued at .3, .9, .05
        challenges = Challenges(LivenessOptions(secret=SECRET, ttl_s=120), Ticking(start))
        issued = answer(None, lambda: None, challenges, {"liveness": "challenge"}).to_dict()  # type: ignore[arg-type]
        assert issued["challenge"]["expires_in_s"] == 120, start


def test_bad_tokens_are_400_bad_token():
    challenges = Challenges(LivenessOptions(secret=SECRET))
    for token in ("", "x" * 600, "v1.abc", "v2.a.b", 17, None, "a.b.c"):
        exc = refused(challenges.read, token)
        assert (exc.status, exc.code) == (400, "bad_token"), token


def test_a_token_signed_by_another_secret_or_altered_is_403_forged_token():
    ours = Challenges(LivenessOptions(secret=SECRET))
    theirs = Challenges(LivenessOptions(secret=b"t" * 32))
    exc = refused(ours.read, theirs.issue().token)
    assert (exc.status, exc.code) == (403, "forged_token")
    version, _, signature = ours.issue(("turn_left", "blink")).token.split(".")
    other_payload = ours.issue(("blink", "turn_left")).token.split(".")[1]
    exc = refused(ours.read, f"{version}.{other_payload}.{signature}")  # another payload under this signature
    assert (exc.status, exc.code) == (403, "forged_token")


def test_an_expired_token_is_403_expired_token():
    clock = Clock()
    challenges = Challenges(LivenessOptions(secret=SECRET, ttl_s=30), clock)
    token = challenges.issue().token
    clock.now += 29
    challenges.read(token)
    clock.now += 2
    exc = refused(challenges.read, token)
    assert (exc.status, exc.code) == (403, "expired_token") and "expired" in exc.message


def test_a_token_is_redeemed_once_in_an_instance_without_redis():
    challenges = Challenges(LivenessOptions(secret=SECRET))
    token = challenges.issue().token
    challenges.redeem(token)
    exc = refused(challenges.redeem, token)
    assert (exc.status, exc.code) == (409, "reused_token")
    challenges.redeem(challenges.issue().token)  # another token is fine


def test_a_token_is_redeemed_once_across_instances_with_redis(redis_server):
    options = LivenessOptions(secret=SECRET, store=StoreOptions(redis_server.url))
    first, second = Challenges(options), Challenges(options)  # two instances sharing one Redis
    token = first.issue().token
    second.redeem(token)
    exc = refused(first.redeem, token)
    assert (exc.status, exc.code) == (409, "reused_token")


def test_without_an_answer_from_redis_a_token_is_not_accepted():
    options = LivenessOptions(secret=SECRET, store=StoreOptions("redis://127.0.0.1:9", timeout_s=0.2, retry_s=0))
    challenges = Challenges(options)
    exc = refused(challenges.redeem, challenges.issue().token)
    assert exc.status == 503 and exc.retry_after
