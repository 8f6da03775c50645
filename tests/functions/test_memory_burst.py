"""Four 10.5 MP RGBA PNGs at once against verify_face served at MEMORY_LIMIT_MB=256 with
THREADS=4 (the red team's burst): the worker stays under the tier (some answers may be 503
from the memory budget; none is killed), a valid pair is served again within 10 s, and RSS
comes back within 10% of its warm baseline within 30 s of idling.

Warm means after a pair and a photo without a face (tools/measure/burst.py): the latter
loads the full-range detector the faceless bombs need, which then stays for the instance's
life. So warmed, the budget admits no 12 MP RGBA PNG at all (103 MB + ~112 MB estimated
passes its 218 MB line); 10.5 MP is the size at which it decodes three of the four."""

from __future__ import annotations

import pytest

from tools.measure import burst

TIER_MB = 256


@pytest.fixture(scope="module")
def outcome(face_photos) -> dict:
    return burst.run(limit_mb=TIER_MB, threads=4, concurrent=4, size=(3500, 3000), idle_s=30.0)


def test_the_burst_stays_under_the_tier(outcome):
    assert outcome["alive"], outcome
    assert outcome["peak_rss_mb"] < TIER_MB, outcome
    assert set(outcome["statuses"]) <= {422, 503}, outcome  # decoded (no face) or refused by the memory budget


def test_a_valid_request_is_served_soon_after(outcome):
    assert outcome["valid_pair_served_after_s"] is not None and outcome["valid_pair_served_after_s"] < 10, outcome


def test_memory_comes_back_while_idle(outcome):
    assert outcome["rss_within_10pct_after_idle_s"] is not None and outcome["rss_within_10pct_after_idle_s"] <= 30, outcome
