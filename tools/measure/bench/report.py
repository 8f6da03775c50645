"""The benchmark's output: machine description, tables, targets, and the RSS plot."""

from __future__ import annotations

import datetime
import math
import os
import platform
from pathlib import Path

import psutil

from .runner import VariantResult

# Targets from issue 15 (this machine): the 128 MiB and 256 MiB tiers.
VERIFY_PEAK_MB = 110  # one request at a time
VERIFY_PEAK_CONC_MB = 160  # THREADS=4, 12 MP
VERIFY_GROWTH_MB = 5  # after the first 50 photos, over 500
VERIFY_CPU_MS = 45  # median per pair, disjoint varied photos
VERIFY_CPU_12MP_MS = 60
VERIFY_COLD_RATIO = 1.5
GESTURE_COLD_RATIO = 1.3
GESTURE_MODEL_MS = 1.0
GESTURE_PEAK_MB = 90
PHOTO_PEAK_MB = 130  # predict_gesture with the hand models, one 12 MP photo at a time
PHOTO_PEAK4_MB = 200  # the same, four at once (THREADS=4)
PHOTO_CPU_MS = 35  # server CPU per 1 MP hand photo


def machine() -> dict:
    cpu = "unknown"
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    return {
        "cpu": cpu,
        "cores": os.cpu_count(),
        "ram_gb": round(psutil.virtual_memory().total / 2**30, 1),
        "os": f"{platform.system()} {platform.release()}",
        "date": datetime.datetime.now().strftime("%Y-%m-%d %H:%M"),
        "load": " / ".join(f"{x:.2f}" for x in os.getloadavg()),
    }


def _f(x: float | None, digits: int = 1) -> str:
    return "-" if x is None or (isinstance(x, float) and math.isnan(x)) else f"{x:.{digits}f}"


def floor_of(results: list[VariantResult]) -> float:
    return next((r.cold_median_s for r in results if r.variant.floor), float("nan"))


def cold_table(results: list[VariantResult]) -> list[str]:
    floor = floor_of(results)
    lines = [
        "| function | runtime | cold start, median s (min-max, n) | x floor | PSS at first answer MB | peak PSS MB "
        "| peak worker RSS MB | peak container MB | USS growth check: after warm-up -> end MB |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    for r in results:
        if r.error and not r.cold_s:
            lines.append(f"| {r.variant.name} | {r.variant.runtime} | failed: {r.error[:120]} | | | | | | |")
            continue
        first = sorted(s.pss_mb for s in r.cold_memory)
        peak = r.peak()
        leak = next((p.leak for p in r.plans if p.leak), None)
        leak_text = f"{leak[0].uss_mb:.1f} -> {leak[1].uss_mb:.1f} ({leak[1].uss_mb - leak[0].uss_mb:+.1f})" if leak else "-"
        cold = f"{r.cold_median_s:.2f} ({min(r.cold_s):.2f}-{max(r.cold_s):.2f}, {len(r.cold_s)})"
        lines.append(
            f"| {r.variant.name} | {r.variant.runtime} | {cold} | {r.cold_median_s / floor:.2f} | {_f(first[len(first) // 2])} "
            f"| {_f(peak.pss_mb if peak else None)} | {_f(peak.worker_rss_mb if peak else None)} "
            f"| {_f(max(s.container_mb for s in r.all_samples()) if r.all_samples() else None)} | {leak_text} |"
        )
    return lines


def warm_table(results: list[VariantResult]) -> list[str]:
    lines = [
        "| function | runtime | workload | clients = THREADS | requests | p50 ms | p95 ms | CPU ms/req mean | CPU ms/req median "
        "| peak PSS MB | peak worker RSS MB | container MB at the peak | errors |",
        "|---|---|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    for r in results:
        for p in r.plans:
            if p.error:
                lines.append(f"| {r.variant.name} | {r.variant.runtime} | {p.plan.label}: failed: {p.error[:150]} | | | | | | | | | | |")
            for w in p.workloads:
                load = w.load
                lines.append(
                    f"| {r.variant.name} | {r.variant.runtime} | {w.workload.name} | {w.workload.concurrency} | {load.requests} "
                    f"| {_f(load.percentile(50))} | {_f(load.percentile(95))} | {_f(load.cpu_ms_per_request)} "
                    f"| {_f(load.cpu_ms_median) if load.cpu_ms else '-'} "
                    f"| {_f(w.peak.pss_mb if w.peak else None)} | {_f(w.peak.worker_rss_mb if w.peak else None)} "
                    f"| {_f(w.peak.container_mb if w.peak else None)} "
                    f"| {load.errors}{' (' + load.first_error[:80] + ')' if load.errors else ''} |"
                )
    return lines


def _find(results, name, runtime=None):
    return next((r for r in results if r.variant.name == name and (runtime is None or r.variant.runtime == runtime)), None)


def _workload(result, plan, prefix):
    if result is None:
        return None
    for p in result.plans:
        if p.plan.label == plan:
            for w in p.workloads:
                if w.workload.name.startswith(prefix):
                    return w
    return None


def targets(results: list[VariantResult], primary: str, model_ms: dict[str, float]) -> list[tuple[str, float | None, float, str]]:
    """[(target, measured, limit, unit)]; measured None when the case did not run."""
    floor = floor_of(results)
    verify, gesture = _find(results, "verify_face", primary), _find(results, "predict_gesture", primary)
    out: list[tuple[str, float | None, float, str]] = []

    def peak(plan: str, prefix: str) -> float | None:
        w = _workload(verify, plan, prefix)
        return w.peak.pss_mb if w and w.peak else None

    out.append(("verify_face peak PSS, varied photos JSON base64, one at a time", peak("seq", "varied photos, JSON"), VERIFY_PEAK_MB, "MB"))
    out.append(
        ("verify_face peak PSS, varied photos multipart, one at a time", peak("seq", "varied photos, multipart"), VERIFY_PEAK_MB, "MB")
    )
    out.append(("verify_face peak PSS, 12 MP pair, one at a time", peak("seq", "12 MP"), VERIFY_PEAK_MB, "MB"))
    out.append(("verify_face peak PSS, 12 MP, THREADS=4", peak("conc4", "12 MP"), VERIFY_PEAK_CONC_MB, "MB"))
    leak = next((p.leak for p in verify.plans if p.leak), None) if verify else None
    growth_name = next((p.plan.leak.name for p in verify.plans if p.plan.leak), "growth") if verify else "growth"
    out.append(
        (
            f"verify_face USS growth after the first 50 photos ({growth_name})",
            leak[1].uss_mb - leak[0].uss_mb if leak else None,
            VERIFY_GROWTH_MB,
            "MB",
        )
    )
    w = _workload(verify, "seq", "disjoint")
    out.append(
        ("verify_face CPU per pair, median, disjoint varied photos, cache off", w.load.cpu_ms_median if w else None, VERIFY_CPU_MS, "ms")
    )
    w = _workload(verify, "seq", "12 MP")
    out.append(("verify_face CPU per 12 MP pair, median, cache off", w.load.cpu_ms_median if w else None, VERIFY_CPU_12MP_MS, "ms"))
    for r, limit in ((verify, VERIFY_COLD_RATIO), (gesture, GESTURE_COLD_RATIO)):
        if r is not None:
            out.append((f"{r.variant.name} cold start / floor", r.cold_median_s / floor if r.cold_s else None, limit, "x"))
    for name, ms in model_ms.items():
        out.append((f"predict_gesture model time per prediction [{name}]", ms, GESTURE_MODEL_MS, "ms"))
    if gesture is not None:
        g = gesture.peak()
        out.append(("predict_gesture peak PSS (all its processes)", g.pss_mb if g else None, GESTURE_PEAK_MB, "MB"))
    photos, before = _find(results, "predict_gesture [photos]", primary), _find(results, "predict_gesture [landmarks, before]", primary)
    if photos is not None:
        w = _workload(photos, "seq", "12 MP")
        out.append(("predict_gesture [photos] peak PSS, 12 MP, one at once", w.peak.pss_mb if w and w.peak else None, PHOTO_PEAK_MB, "MB"))
        w = _workload(photos, "conc4", "12 MP")
        out.append(("predict_gesture [photos] peak PSS, 12 MP, THREADS=4", w.peak.pss_mb if w and w.peak else None, PHOTO_PEAK4_MB, "MB"))
        w = _workload(photos, "seq", "1 MP")
        out.append(("predict_gesture [photos] server CPU per 1 MP photo", w.load.cpu_ms_per_request if w else None, PHOTO_CPU_MS, "ms"))
    if before is not None and gesture is not None and before.cold_s and gesture.cold_s:
        out.append(("landmark-only cold start, after / before", gesture.cold_median_s / before.cold_median_s, GESTURE_COLD_RATIO, "x"))
        a, b = gesture.peak(), before.peak()
        if a is not None and b is not None:
            out.append(("landmark-only peak PSS, after - before", a.pss_mb - b.pss_mb, 5.0, "MB"))
    return out


def targets_table(rows) -> list[str]:
    lines = ["| target | measured | limit | met? |", "|---|---|---|---|"]
    for name, measured, limit, unit in rows:
        if measured is None:
            verdict = "not measured"
        elif measured <= limit:
            verdict = f"met ({measured / limit:.0%} of limit)"
        else:
            verdict = f"**missed** by {measured - limit:.2f} {unit} ({measured / limit:.2f}x)"
        lines.append(f"| {name} | {_f(measured, 2)} {unit} | {limit} {unit} | {verdict} |")
    return lines


def markdown(command: str, info: dict, versions: dict[str, dict], results, target_rows, model_rows: list[str], notes: list[str]) -> str:
    out = [
        "# Benchmark",
        "",
        "Command (from the repo root):",
        "",
        "```",
        command,
        "```",
        "",
        f"Machine: {info['cpu']}, {info['cores']} cores, {info['ram_gb']} GB RAM, {info['os']}; run {info['date']}; "
        f"load average at the end (1/5/15 min): {info['load']} (other work on the machine inflates latencies).",
        "",
    ]
    for runtime, v in versions.items():
        out.append(f"- {runtime}: " + ", ".join(f"{k} {val}" for k, val in v.items()))
    out += ["", "## Targets", "", *targets_table(target_rows)]
    out += [
        "",
        "## Cold start and memory",
        "",
        "Cold start = process spawn -> first successful POST answer (models load lazily on it), "
        "median over fresh processes, interleaved with the floor in the same run. "
        "PSS is summed over the gunicorn master and its worker (pages shared after fork counted once: "
        "what the container is charged); worker RSS is the serving process alone. Sampled every 20 ms. "
        "PSS also splits library pages with every other process on the machine that maps the same files "
        "(other servers from the same venv): it moves by several MB with what else runs, so the growth "
        "check reads USS (private pages only), and the container column counts the tree alone: USS summed plus the "
        "largest process's shared pages (libraries in full), what a container holding only it is charged.",
        "",
    ]
    out += cold_table(results)
    out += [
        "",
        "## Warm requests",
        "",
        "Latency measured by the client over loopback; CPU = the server's process-tree CPU time (threads' schedstat, ns) "
        "/ requests; the median is over each request's own CPU when they are sent one at a time.",
        "",
    ]
    out += warm_table(results)
    if model_rows:
        out += ["", "## predict_gesture in-process model time", "", *model_rows]
    if notes:
        out += ["", "## Notes", ""] + [f"- {n}" for n in notes]
    out += ["", "![RSS over time](benchmark_rss.png)", ""]
    return "\n".join(out)


def plot(results: list[VariantResult], path: Path) -> bool:
    """PSS over time for every serving process, one panel per variant; False without matplotlib."""
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        return False
    shown = [r for r in results if r.plans or r.cold_trace]
    cols = 2
    rows = max(1, math.ceil(len(shown) / cols))
    fig, axes = plt.subplots(rows, cols, figsize=(12, 3.2 * rows), squeeze=False)
    for ax, r in zip(axes.flat, shown, strict=False):
        traces = [("cold start 1", r.cold_trace, [])] + [(p.plan.label, p.monitor.samples, p.monitor.marks) for p in r.plans if p.monitor]
        for label, samples, marks in traces:
            if samples:
                (line,) = ax.plot([s.t for s in samples], [s.pss_mb for s in samples], label=label, linewidth=1)
                for t, _ in marks:
                    ax.axvline(t, color=line.get_color(), alpha=0.25, linewidth=0.8)
        ax.set_title(f"{r.variant.name} [{r.variant.runtime}]", fontsize=9)
        ax.set_xlabel("s since spawn")
        ax.set_ylabel("PSS MB")
        ax.legend(fontsize=7)
        ax.grid(alpha=0.3)
    for ax in list(axes.flat)[len(shown) :]:
        ax.axis("off")
    fig.tight_layout()
    fig.savefig(path, dpi=90)
    plt.close(fig)
    return True
