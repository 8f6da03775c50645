"""Memory and CPU time of a served function's process tree (gunicorn master + worker),
read on demand and sampled every ~20 ms in a thread while the benchmark runs."""

from __future__ import annotations

import threading
from dataclasses import dataclass
from pathlib import Path

import psutil

from tools.measure.harness import Server

MB = 2**20
SAMPLE_S = 0.02


@dataclass(frozen=True)
class Sample:
    """Attributes: t (s since spawn); pss_mb (PSS summed over master + worker: pages shared
    after fork counted once, close to what the container is charged); rss_mb (RSS summed,
    shared pages counted twice: an upper bound); worker_rss_mb (largest single process);
    uss_mb (pages private to one process, summed: unlike PSS, not moved by other processes
    on the machine that map the same library files, so the growth check reads it);
    container_mb (USS summed plus the largest shared part of one process, RSS - USS: the
    libraries and the pages master and worker share after fork counted once and in full,
    as a container holding only this tree is charged; PSS undercounts it by the library
    pages other processes on this machine map too)."""

    t: float
    pss_mb: float
    rss_mb: float
    worker_rss_mb: float
    uss_mb: float = 0.0  # private pages summed: what a leak grows, whoever else maps the same libraries
    container_mb: float = 0.0  # USS summed + the largest process's shared pages: the tree alone in a container


def _schedstat_s(pid: int) -> float:
    """Seconds on a CPU of every live thread of `pid` (Linux schedstat); OSError elsewhere."""
    tasks = Path(f"/proc/{pid}/task")
    total = 0
    for task in tasks.iterdir():
        try:
            total += int((task / "schedstat").read_text().split()[0])
        except FileNotFoundError:  # the thread ended between listing and reading
            continue
    return total / 1e9


class Monitor:
    """Watches one started Server: `samples` (every SAMPLE_S until stop()), `marks`
    (phase boundaries, for the plot), `memory()` and `cpu_s()` now."""

    def __init__(self, server: Server):
        self.server = server
        self.samples: list[Sample] = []
        self.marks: list[tuple[float, str]] = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._loop, daemon=True)
        self._thread.start()

    def _tree(self) -> list[psutil.Process]:
        root = psutil.Process(self.server.process.pid)
        return [root, *root.children(recursive=True)]

    def memory(self) -> Sample:
        pss = rss = worker = uss = shared = 0.0
        for p in self._tree():
            try:
                info = p.memory_full_info()
            except (psutil.NoSuchProcess, psutil.AccessDenied):
                continue
            pss += info.pss / MB
            uss += info.uss / MB
            shared = max(shared, (info.rss - info.uss) / MB)
            rss += info.rss / MB
            worker = max(worker, info.rss / MB)
        return Sample(self.server.elapsed(), pss, rss, worker, uss, uss + shared)

    def cpu_s(self) -> float:
        """CPU seconds used so far by the process tree: the sum of its threads' time on a CPU
        from /proc/<pid>/task/<tid>/schedstat (nanoseconds: fine enough for one request),
        else user + system time from psutil (clock ticks, 10 ms)."""
        total = 0.0
        for p in self._tree():
            try:
                total += _schedstat_s(p.pid)
            except OSError:
                try:
                    t = p.cpu_times()
                except psutil.NoSuchProcess:
                    continue
                total += t.user + t.system
        return total

    def _loop(self) -> None:
        while not self._stop.is_set() and self.server.alive():
            try:
                sample = self.memory()
            except psutil.NoSuchProcess:
                break
            if sample.rss_mb > 0:  # nothing readable: the tree is being torn down
                self.samples.append(sample)
            self._stop.wait(SAMPLE_S)

    def mark(self, what: str) -> float:
        """Note a phase boundary; returns its time since spawn."""
        self.marks.append((self.server.elapsed(), what))
        return self.marks[-1][0]

    def peak(self, start: float = 0.0, end: float = float("inf")) -> Sample | None:
        """The sample with the highest PSS between `start` and `end` (s since spawn)."""
        window = [s for s in list(self.samples) if start <= s.t <= end]
        return max(window, key=lambda s: s.pss_mb) if window else None

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(2)
