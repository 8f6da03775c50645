"""The memory guard: warn, drop caches, then refuse when critical."""

import pytest

from shared.edge.admission import MemoryGuard
from shared.errors import ServiceUnavailable


def test_memory_guard_warns_drops_caches_then_refuses_when_critical():
    rss = [100.0]
    dropped = []
    guard = MemoryGuard(limit_mb=200, warn_fraction=0.7, critical_fraction=0.85, read_rss=lambda: rss[0])
    guard.on_pressure(lambda: dropped.append(1))
    guard.admit()
    assert guard.status()["state"] == "ok" and not dropped and guard.in_flight == 1
    guard.done()
    assert guard.in_flight == 0 and guard.idle_low_mb == 100
    rss[0] = 150  # over 140 (warn), under 170 (critical)
    guard.admit()
    assert guard.status()["state"] == "warning" and dropped
    guard.done()
    rss[0] = 180
    with pytest.raises(ServiceUnavailable, match="memory is critical") as refused:
        guard.admit()
    assert refused.value.status == 503 and refused.value.retry_after and guard.status()["state"] == "critical"
    assert guard.in_flight == 0  # a refused request is not counted
    rss[0] = 100
    assert guard.status()["state"] == "ok"  # health reads the live figure, not the last admission
    guard.admit()
    assert guard.status()["refused"] == 1
