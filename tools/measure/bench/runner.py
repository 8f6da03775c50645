"""Run the variants: cold starts interleaved across variants (so drift hits all alike),
then one serving process per plan with its workloads, memory sampled throughout."""
from __future__ import annotations

import statistics
from dataclasses import dataclass, field
from pathlib import Path

from .cases import Plan, Variant, Workload
from .client import LoadResult, run_load
from .server import Sample, Server

LEAK_FIRST = 50


@dataclass
class WorkloadResult:
    workload: Workload
    load: LoadResult
    peak: Sample | None


@dataclass
class PlanResult:
    plan: Plan
    server: Server
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

    def peak(self) -> Sample | None:
        peaks = [p.server.peak() for p in self.plans] + list(self.cold_memory)
        peaks = [p for p in peaks if p is not None]
        return max(peaks, key=lambda s: s.pss_mb) if peaks else None


def _label(variant: Variant, what: str) -> str:
    raw = f"{variant.name}-{variant.runtime}-{what}"
    return "".join(c if c.isalnum() or c in "-_" else "_" for c in raw)


def cold_starts(variants: list[Variant], repeat: int, log_dir: Path, timeout_s: float, say) -> list[VariantResult]:
    results = [VariantResult(v) for v in variants]
    for rep in range(repeat):
        for result in results:
            v = result.variant
            if result.error:
                continue
            server = Server(_label(v, f"cold{rep}"), v.python, v.source, v.target, {"THREADS": "1", **v.env}, log_dir)
            try:
                server.start()
                result.cold_s.append(server.wait_first_answer(v.cold_request, timeout_s))
                result.cold_memory.append(server.memory())
                if rep == 0:
                    result.cold_trace = list(server.samples)
                say(f"  cold {rep + 1}/{repeat} {v.name} [{v.runtime}]: {result.cold_s[-1]:.2f} s, {result.cold_memory[-1].pss_mb:.0f} MB PSS")
            except Exception as exc:
                result.error = f"cold start failed: {exc}"[:600]
                say(f"  {v.name} [{v.runtime}]: {result.error}")
            finally:
                server.stop()
    return results


def run_plan(variant: Variant, plan: Plan, log_dir: Path, timeout_s: float, say) -> PlanResult:
    server = Server(_label(variant, plan.label), variant.python, variant.source, variant.target, {**variant.env, **plan.env}, log_dir)
    result = PlanResult(plan, server)
    try:
        server.start()
        server.wait_first_answer(variant.cold_request, timeout_s)
        for workload in plan.workloads:
            start = server.mark(workload.name)
            load = run_load(server, workload.requests, workload.total, workload.concurrency)
            result.workloads.append(WorkloadResult(workload, load, server.peak(start, server.elapsed())))
            say(f"  {variant.name} [{variant.runtime}] {plan.label} {workload.name} x{workload.concurrency}: "
                f"p50 {load.percentile(50):.1f} ms, p95 {load.percentile(95):.1f} ms, CPU {load.cpu_ms_per_request:.1f} ms/req, errors {load.errors}")
        if plan.leak is not None:
            server.mark("leak check")
            early: list[Sample] = []
            run_load(server, plan.leak.requests, plan.leak.total, 1,
                     on_progress=lambda n: early.append(server.memory()) if n == LEAK_FIRST else None)
            result.leak = (early[0], server.memory()) if early else None
            if result.leak:
                say(f"  leak check: {result.leak[0].pss_mb:.1f} MB after {LEAK_FIRST}, {result.leak[1].pss_mb:.1f} MB after {plan.leak.total}")
    except Exception as exc:
        result.error = str(exc)[:600]
        say(f"  {variant.name} [{variant.runtime}] {plan.label}: FAILED {result.error}")
    finally:
        server.stop()
    return result


def run_all(results: list[VariantResult], log_dir: Path, timeout_s: float, say) -> None:
    for result in results:
        if result.error:
            continue
        for plan in result.variant.plans:
            result.plans.append(run_plan(result.variant, plan, log_dir, timeout_s, say))
