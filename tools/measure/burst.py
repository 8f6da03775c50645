"""A memory burst against a served verify_face, and what follows it.

Serves verify_face (gunicorn, THREADS request threads) at a small MEMORY_LIMIT_MB, warms
it with one real pair, then sends `--concurrent` requests at once whose img1 is a large
flat RGBA PNG (a few hundred KB that decode to width x height x 4 bytes). It reports:
the statuses (200/422 decoded, 503 refused by the memory budget), the worker's peak RSS
against the tier, the seconds until a valid pair is served again, and how RSS comes back
while idle (seconds until within 10% of the warm baseline).

    python tools/measure/burst.py --limit-mb 256 --threads 4 --concurrent 4 --size 3500x3000
"""

from __future__ import annotations

import argparse
import base64
import http.client
import json
import sys
import threading
import time
from pathlib import Path

if __package__ in (None, ""):
    sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

from tools import LOGS, testdata
from tools.measure import harness, hostile


def _post(port: int, payload: dict[str, str]) -> int:
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=120)
    try:
        conn.request("POST", "/", body=json.dumps(payload), headers={"Content-Type": "application/json"})
        response = conn.getresponse()
        response.read()
        return response.status
    finally:
        conn.close()


def _vm_kb(pid: int, field: str) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return float(line.split()[1])
    raise KeyError(field)


def run(limit_mb: int, threads: int, concurrent: int, size: tuple[int, int], idle_s: float) -> dict:
    photos = testdata.face_photos()
    pair = {name: base64.b64encode((photos / f).read_bytes()).decode() for name, f in (("img1", "obama.jpg"), ("img2", "obama2.jpg"))}
    bomb = base64.b64encode(hostile.png_flat(*size, alpha=True)).decode()
    env = {"MEMORY_LIMIT_MB": str(limit_mb), "THREADS": str(threads), "EMBEDDING_CACHE_SIZE": "0"}
    server = harness.start("verify_face", env=env)
    try:
        assert _post(server.port, pair) == 200, "the warm-up pair was not verified"
        # A photo without a face loads what only such photos need (the full-range detector,
        # the fallbacks' buffers): kept for the instance's life, so part of the baseline.
        faceless = base64.b64encode(hostile.png_flat(640, 480, alpha=False)).decode()
        assert _post(server.port, {"img1": faceless, "img2": pair["img2"]}) == 422, "the faceless warm-up found a face"
        time.sleep(1.0)
        pid = server.serving_pid()
        baseline = server.rss_mb()
        Path(f"/proc/{pid}/clear_refs").write_text("5")  # VmHWM := current RSS
        statuses: list[int] = []
        barrier = threading.Barrier(concurrent)

        def one() -> None:
            barrier.wait()
            statuses.append(_post(server.port, {"img1": bomb, "img2": pair["img2"]}))

        workers = [threading.Thread(target=one) for _ in range(concurrent)]
        started = time.monotonic()
        for w in workers:
            w.start()
        for w in workers:
            w.join()
        burst_s = time.monotonic() - started
        peak = _vm_kb(pid, "VmHWM") / 1024
        served_after = None
        while time.monotonic() - started < 60:
            if _post(server.port, pair) == 200:
                served_after = time.monotonic() - started
                break
            time.sleep(0.5)
        idle_started, back_after, trace = time.monotonic(), None, []
        while time.monotonic() - idle_started < idle_s:
            rss = server.rss_mb()
            trace.append(round(rss, 1))
            if back_after is None and rss <= baseline * 1.10:
                back_after = time.monotonic() - idle_started
            time.sleep(1.0)
        return {
            "limit_mb": limit_mb,
            "threads": threads,
            "concurrent": concurrent,
            "image": f"{size[0]}x{size[1]} RGBA PNG",
            "statuses": sorted(statuses),
            "alive": server.alive() and server.serving_pid() == pid,
            "baseline_mb": round(baseline, 1),
            "peak_rss_mb": round(peak, 1),
            "burst_s": round(burst_s, 2),
            "valid_pair_served_after_s": None if served_after is None else round(served_after, 2),
            "rss_within_10pct_after_idle_s": None if back_after is None else round(back_after, 1),
            "rss_trace_mb": trace,
        }
    finally:
        server.stop()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0], formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--limit-mb", type=int, default=256, help="MEMORY_LIMIT_MB of the served function (default 256)")
    parser.add_argument("--threads", type=int, default=4, help="gunicorn request threads (default 4)")
    parser.add_argument("--concurrent", type=int, default=4, help="requests sent at once (default 4)")
    parser.add_argument("--size", default="3500x3000", help="width x height of the PNG bomb (default 3500x3000, 10.5 MP)")
    parser.add_argument("--idle-s", type=float, default=30.0, help="seconds of idle RSS sampling after the burst (default 30)")
    args = parser.parse_args()
    harness.keep_logs_in(LOGS / "burst-logs")
    width, height = (int(v) for v in args.size.lower().split("x"))
    print(json.dumps(run(args.limit_mb, args.threads, args.concurrent, (width, height), args.idle_s), indent=1))


if __name__ == "__main__":
    main()
