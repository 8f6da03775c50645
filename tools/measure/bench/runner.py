"""Run the variants: cold starts interleaved across variants (so drift hits all alike),
then one serving process per plan with its workloads, memory sampled throughout."""

from __future__ import annotations

import contextlib
import statistics
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

from tools.measure.harness import Outcome, Request, Server, drive, percentile

from .cases import Plan, Variant, Workload
from .monitor import Monitor, Sample


@dataclass
class LoadResult:
    """Attributes: latencies_ms (client side, of the correct answers); cpu_ms_per_request
    (server process tree CPU delta / requests); errors (wrong answers) and the first one."""

    requests: int
    concurrency: int
    latencies_ms: list[float] = field(default_factory=list)
    cpu_ms_per_request: float = 0.0
    cpu_ms: list[float] = field(default_factory=list)  # each request's, when sent one at a time
    wall_s: float = 0.0
    errors: int = 0
    first_error: str = ""

    def percentile(self, q: float) -> float:
        return percentile(self.latencies_ms, q)

    @property
    def cpu_ms_median(self) -> float:
        """Median server CPU per request (sequential loads), else the mean."""
        return statistics.median(self.cpu_ms) if self.cpu_ms else self.cpu_ms_per_request


def run_load(
    monitor: Monitor, requests: list[Request], total: int, concurrency: int, on_outcome: Callable[[Outcome], None] | None = None
) -> LoadResult:
    """Send `total` requests (cycling through `requests`) from `concurrency` threads."""
    cpu_before = monitor.cpu_s()
    per_request: list[float] = []
    last = [cpu_before]

    def note(outcome: Outcome) -> None:
        if concurrency == 1:  # one request in flight: the tree's CPU delta is that request's
            now = monitor.cpu_s()
            per_request.append(max(now - last[0], 0.0) * 1000)
            last[0] = now
        if on_outcome is not None:
            on_outcome(outcome)

    started = time.perf_counter()
    outcomes = drive(monitor.server.url, [requests[i % len(requests)] for i in range(total)], concurrency, on_outcome=note)
    result = LoadResult(total, concurrency, wall_s=time.perf_counter() - started, cpu_ms=per_request)
    result.cpu_ms_per_request = (monitor.cpu_s() - cpu_before) * 1000 / max(total, 1)
    result.latencies_ms = [o.ms for o in outcomes if not o.problem]
    problems = [o.problem for o in outcomes if o.problem]
    result.errors, result.first_error = len(problems), (problems[0] if problems else "")
    return result


@dataclass
class WorkloadResult:
    workload: Workload
    load: LoadResult
    peak: Sample | None


@dataclass
class PlanResult:
    plan: Plan
    monitor: Monitor | None = None  # of its serving process, once started
    workloads: list[WorkloadResult] = field(default_factory=list)
    leak: tuple[Sample, Sample] | None = None
    error: str = ""


@dataclass
class VariantResult:
    variant: Variant
    cold_s: list[float] = field(default_factory=list)
    cold_memory: list[Sample] = field(default_factory=list)
    plans: list[PlanResult] = field(default_factory=list)
    cold_trace: list[Sample] = field(default_factory=list)
    error: str = ""

    @property
    def cold_median_s(self) -> float:
        return statistics.median(self.cold_s) if self.cold_s else float("nan")

    def all_samples(self) -> list[Sample]:
        """Every memory sample of every serving process of this variant (cold starts' first traces included)."""
        return [*self.cold_trace, *self.cold_memory, *(s for p in self.plans if p.monitor for s in p.monitor.samples)]

    def peak(self) -> Sample | None:
        peaks = [p.monitor.peak() for p in self.plans if p.monitor] + list(self.cold_memory)
        peaks = [p for p in peaks if p is not None]
        return max(peaks, key=lambda s: s.pss_mb) if peaks else None


@contextlib.contextmanager
def _served(variant: Variant, what: str, env: dict[str, str], log_dir: Path, timeout_s: float) -> Iterator[Monitor]:
    """A serving process for `variant`, memory sampled from its spawn until its first
    answer to the cold request and on; log in log_dir/<variant>-<runtime>-<what>.log."""
    label = "".join(c if c.isalnum() or c in "-_" else "_" for c in f"{variant.name}-{variant.runtime}-{what}")
    log_dir.mkdir(parents=True, exist_ok=True)
    server = Server(variant.target, variant.source, variant.python, env, log=log_dir / f"{label}.log").start()
    monitor = Monitor(server)
    try:
        server.wait_first_answer(variant.cold_request, timeout_s)
        monitor.mark("first answer")
        yield monitor
    finally:
        monitor.stop()
        server.stop()


def cold_starts(variants: list[Variant], repeat: int, log_dir: Path, timeout_s: float, say) -> list[VariantResult]:
    results = [VariantResult(v) for v in variants]
    for rep in range(repeat):
        for result in results:
            v = result.variant
            if result.error:
                continue
            try:
                with _served(v, f"cold{rep}", {"THREADS": "1", **v.env}, log_dir, timeout_s) as watch:
                    result.cold_s.append(watch.marks[0][0])  # "first answer"
                    result.cold_memory.append(watch.memory())
                    if rep == 0:
                        result.cold_trace = list(watch.samples)
                say(
                    f"  cold {rep + 1}/{repeat} {v.name} [{v.runtime}]: {result.cold_s[-1]:.2f} s, "
                    f"{result.cold_memory[-1].pss_mb:.0f} MB PSS"
                )
            except Exception as exc:
                result.error = f"cold start failed: {exc}"[:600]
                say(f"  {v.name} [{v.runtime}]: {result.error}")
    return results


def run_plan(variant: Variant, plan: Plan, log_dir: Path, timeout_s: float, say) -> PlanResult:
    result = PlanResult(plan)
    try:
        with _served(variant, plan.label, {**variant.env, **plan.env}, log_dir, timeout_s) as watch:
            result.monitor = watch
            for workload in plan.workloads:
                start = watch.mark(workload.name)
                load = run_load(watch, workload.requests, workload.total, workload.concurrency)
                result.workloads.append(WorkloadResult(workload, load, watch.peak(start, watch.server.elapsed())))
                say(
                    f"  {variant.name} [{variant.runtime}] {plan.label} {workload.name} x{workload.concurrency}: "
                    f"p50 {load.percentile(50):.1f} ms, p95 {load.percentile(95):.1f} ms, "
                    f"CPU {load.cpu_ms_per_request:.1f} ms/req (median {load.cpu_ms_median:.1f}), errors {load.errors}"
                )
            if plan.leak is not None:
                watch.mark("leak check")
                early: list[Sample] = []
                run_load(
                    watch,
                    plan.leak.requests,
                    plan.leak.total,
                    1,
                    on_outcome=lambda o: early.append(watch.memory()) if o.order == plan.leak_first else None,
                )
                result.leak = (early[0], watch.memory()) if early else None
                if result.leak:
                    first, last = result.leak
                    say(
                        f"  leak check: USS {first.uss_mb:.1f} MB (PSS {first.pss_mb:.1f}) after {plan.leak_first}, "
                        f"USS {last.uss_mb:.1f} MB (PSS {last.pss_mb:.1f}) after {plan.leak.total}"
                    )
    except Exception as exc:
        result.error = str(exc)[:600]
        say(f"  {variant.name} [{variant.runtime}] {plan.label}: FAILED {result.error}")
    return result


def run_all(results: list[VariantResult], log_dir: Path, timeout_s: float, say) -> None:
    for result in results:
        if result.error:
            continue
        for plan in result.variant.plans:
            result.plans.append(run_plan(result.variant, plan, log_dir, timeout_s, say))
