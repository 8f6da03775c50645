"""The memory budget and the idle watchdog, with a scripted RSS; giving memory back for real."""

from __future__ import annotations

import subprocess
import sys
import threading
import time

import numpy as np
import pytest

from shared.edge.admission import MemoryGuard
from shared.errors import ServiceUnavailable
from shared.state.memory import MB, MemoryBudget, give_back, rss_mb
from tools import ROOT


def test_reservations_add_up_against_the_critical_level():
    budget = MemoryBudget(critical_mb=200, wait_s=0.2, read_rss=lambda: 100.0)
    with budget.reserve(60 * MB, "img1"):
        assert budget.reserved_mb == 60
        with pytest.raises(ServiceUnavailable, match="img2 needs about 50 MiB") as refused, budget.reserve(50 * MB, "img2"):
            pass
        assert refused.value.code == "memory_budget" and refused.value.retry_after
    assert budget.reserved_mb == 0 and budget.refused == 1
    with budget.reserve(90 * MB, "img3"):  # released: the budget is whole again
        pass


def test_a_waiting_request_goes_on_when_another_releases():
    budget = MemoryBudget(critical_mb=200, wait_s=5.0, read_rss=lambda: 100.0)
    order = []
    first_in = threading.Event()

    def first():
        with budget.reserve(80 * MB, "first"):
            first_in.set()
            time.sleep(0.3)
            order.append("first done")

    thread = threading.Thread(target=first)
    thread.start()
    first_in.wait()
    started = time.monotonic()
    with budget.reserve(80 * MB, "second"):
        order.append("second in")
    thread.join()
    assert order == ["first done", "second in"] and time.monotonic() - started < 2


def test_a_request_larger_than_the_whole_budget_is_refused_at_once():
    budget = MemoryBudget(critical_mb=200, wait_s=5.0, read_rss=lambda: 150.0)
    started = time.monotonic()
    with pytest.raises(ServiceUnavailable), budget.reserve(60 * MB, "img1"):
        pass
    assert time.monotonic() - started < 1  # nobody holds a reservation: waiting cannot help


def test_watchdog_replaces_a_worker_stuck_over_critical_while_idle():
    rss = [100.0]
    guard = MemoryGuard(limit_mb=200, warn_fraction=0.7, critical_fraction=0.85, read_rss=lambda: rss[0])
    guard.admit()
    guard.done()  # idle baseline 100 MB, under critical (170)
    recycled = threading.Event()
    guard.watch(recycle=recycled.set, interval_s=0.05)
    rss[0] = 180  # freed memory that never came back
    assert recycled.wait(2)


def test_watchdog_leaves_a_busy_or_recovering_worker_alone():
    rss = [100.0]
    guard = MemoryGuard(limit_mb=200, warn_fraction=0.7, critical_fraction=0.85, read_rss=lambda: rss[0])
    guard.admit()
    guard.done()
    recycled = threading.Event()
    guard.on_pressure(lambda: rss.__setitem__(0, 120.0))  # dropping caches brings it back
    guard.watch(recycle=recycled.set, interval_s=0.05)
    rss[0] = 180
    assert not recycled.wait(0.5)
    guard.admit()  # busy: never recycled mid-request
    rss[0] = 180
    assert not recycled.wait(0.3)


def test_memory_given_back_shows_in_rss():
    """malloc_trim returns freed heap pages that free() cannot: 60 MB of small blocks with
    every tenth kept (so the heap's top stays in use) stay resident until given back."""
    before = rss_mb()
    blocks = [np.ones(100_000, np.uint8) for _ in range(600)]  # heap blocks, under mmap's threshold
    kept = blocks[::10]
    del blocks
    held = rss_mb()
    give_back()
    after = rss_mb()
    assert held - before > 40, (before, held)  # the freed 54 MB were still resident
    assert after < held - 30, (before, held, after)
    del kept


def test_rss_reads_what_psutil_reads():
    """rss_mb reads /proc/self/statm (no psutil import on the cold-start path); it must give
    psutil's figure, the one the benchmark and the tools read, to within a page or two of drift."""
    import psutil

    held = np.ones(20 * MB, np.uint8)  # resident, so a wrong unit (pages, KiB) cannot pass
    ours, theirs = rss_mb(), psutil.Process().memory_info().rss / MB
    assert abs(ours - theirs) < 1.0, (ours, theirs)
    assert ours > 20, ours
    del held


CHURN = """
import resource, sys
import numpy as np
from shared.state.memory import tune_malloc
assert tune_malloc(2, 1024 * 1024)
for _ in range(5):
    np.ones(700_000, np.uint8)  # a decoded frame's size: on the heap, under the mmap threshold
start = resource.getrusage(resource.RUSAGE_SELF).ru_minflt
for _ in range(50):
    np.ones(700_000, np.uint8)
print(resource.getrusage(resource.RUSAGE_SELF).ru_minflt - start)
"""


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="glibc's mallopt")
def test_a_block_freed_and_allocated_again_is_not_faulted_in_each_time():
    """With the mmap threshold fixed, glibc's trim threshold stays at 128 KiB unless set: a
    700 KB block freed at the heap's top went back to the system and its ~170 pages were
    faulted in again by the next (every frame of a clip). tune_malloc keeps it."""
    done = subprocess.run([sys.executable, "-c", CHURN], cwd=ROOT, capture_output=True, text=True, timeout=60, check=True)
    faults = int(done.stdout.strip())
    assert faults < 50 * 20, faults  # ~170 per block when returned each time
