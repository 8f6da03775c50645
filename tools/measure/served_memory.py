#!/usr/bin/env python3
"""PSS and private memory of a served function's gunicorn master and worker, each read on
its own, and the crash recovery's cost, interleaved across trees (issue 25, round five).

Each round serves every tree's function once, in turn, as the benchmark does
(functions/serve.py, one worker, THREADS=1, EMBEDDING_CACHE_SIZE=0): its cold request
(verify_face: the 1 MP pair; predict_gesture: the first gesture row), then verify_face the
benchmark's varied photos one at a time (`varied_pairs`, JSON base64: the deepface photos,
each with the next; predict_gesture the cold request again), `--requests` of them. Read
from /proc/<pid>/smaps_rollup every ~20 ms and after every answer: PSS and private (clean +
dirty) of the master and of the worker. Reported: both at the first answer, at the peak
of their summed PSS (the benchmark's "peak PSS one at a time") and after the last answer,
and each tree's summed PSS paired with the first tree's in the same round. With `--kill`, the
worker is then killed (SIGKILL) and the cold request sent until answered: the arbiter's
restart, its wall time and the process tree's CPU from the kill to that answer (the
master's and the new worker's), and the summed PSS after it.

    .venv/bin/python tools/measure/served_memory.py --root build/m5-base --also lazy=build/m5-lazy --rounds 3 --kill
"""

from __future__ import annotations

import argparse
import http.client
import os
import signal
import statistics
import sys
import threading
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))

from tools.measure.bench.gesture import gesture_requests, served_env  # noqa: E402
from tools.measure.bench.inputs import face_photo_pairs, varied_pairs, varied_photos, verify_request  # noqa: E402
from tools.measure.bench.monitor import _schedstat_s  # noqa: E402
from tools.measure.harness import Request, Server, send  # noqa: E402

MB = 2**20
FIELDS = ("master_pss", "master_private", "worker_pss", "worker_private")


def rollup(pid: int) -> tuple[float, float]:
    """(PSS, private clean + dirty) of `pid` in MiB, from /proc/<pid>/smaps_rollup."""
    values: dict[str, int] = {}
    for line in Path(f"/proc/{pid}/smaps_rollup").read_text().splitlines()[1:]:
        key, _, rest = line.partition(":")
        values[key] = int(rest.split()[0])
    return values["Pss"] / 1024, (values["Private_Clean"] + values["Private_Dirty"]) / 1024


def reading(server: Server) -> dict[str, float] | None:
    """Master's and worker's PSS and private now; None while there is no single worker."""
    workers = server.worker_pids()
    if len(workers) != 1:
        return None
    try:
        m, w = rollup(server.process.pid), rollup(workers[0])
    except (FileNotFoundError, ProcessLookupError, ValueError):
        return None
    return dict(zip(FIELDS, (*m, *w), strict=True))


def total(r: dict[str, float]) -> float:
    return r["master_pss"] + r["worker_pss"]


class Sampler:
    """Readings every ~20 ms in a thread; `peak` the one with the highest summed PSS."""

    def __init__(self, server: Server):
        self.server, self.peak = server, None
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._loop, daemon=True)
        self._thread.start()

    def note(self, r: dict[str, float] | None) -> None:
        if r is not None and (self.peak is None or total(r) > total(self.peak)):
            self.peak = r

    def _loop(self) -> None:
        while not self._stop.wait(0.02):
            self.note(reading(self.server))

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(2)


def tree_cpu_s(pids: list[int]) -> float:
    spent = 0.0
    for pid in pids:
        try:
            spent += _schedstat_s(pid)
        except OSError:
            continue
    return spent


def answer(server: Server, request: Request, timeout_s: float = 120.0) -> None:
    """Send `request` until answered (refused or reset connections retried)."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        conn = http.client.HTTPConnection(server.host, server.port, timeout=timeout_s)
        try:
            status, body = send(conn, request)
        except (ConnectionError, http.client.HTTPException, TimeoutError):
            time.sleep(0.005)
            continue
        finally:
            conn.close()
        if request.problem(status, body):
            raise RuntimeError(f"{request.name}: {request.problem(status, body)}")
        return
    raise RuntimeError(f"{request.name}: no answer in {timeout_s} s")


def recovery(server: Server, request: Request) -> dict[str, float]:
    """SIGKILL the worker; wall and tree CPU from then until the cold request is answered."""
    master, (worker,) = server.process.pid, server.worker_pids()
    before = tree_cpu_s([master])
    t0 = time.perf_counter()
    os.kill(worker, signal.SIGKILL)
    answer(server, request)
    wall = time.perf_counter() - t0
    new = server.worker_pids()
    if new == [worker] or len(new) != 1:
        raise RuntimeError(f"no new worker after the kill: {new}")
    after = reading(server) or {}
    return {"restart_wall_s": wall, "restart_cpu_s": tree_cpu_s([master, *new]) - before, "restart_pss": total(after) if after else 0.0}


def run_one(function: str, root: Path, cold: Request, workload: list[Request], kill: bool, log: Path) -> dict[str, object]:
    env = {"THREADS": "1", "EMBEDDING_CACHE_SIZE": "0"}
    if function == "predict_gesture":
        env["GESTURE_MODEL"] = served_env()["GESTURE_MODEL"].replace(str(ROOT / "models"), str(root / "models"))
    server = Server(function, root / "functions" / function / "main.py", sys.executable, env, log=log).start()
    try:
        server.wait_first_answer(cold, 120.0)
        first = reading(server)
        sampler = Sampler(server)
        sampler.note(first)
        conn = http.client.HTTPConnection(server.host, server.port, timeout=120)
        for request in workload:
            status, body = send(conn, request)
            if request.problem(status, body):
                raise RuntimeError(f"{request.name}: {request.problem(status, body)}")
            sampler.note(reading(server))
        conn.close()
        sampler.stop()
        out: dict[str, object] = {"first": first, "peak": sampler.peak, "last": reading(server)}
        if kill:
            out.update(recovery(server, cold))
        return out
    finally:
        server.stop()


def fmt(values: list[float]) -> str:
    return f"{statistics.median(values):.1f}"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--root", type=Path, default=ROOT, help="the first tree (default: the one holding this tool)")
    parser.add_argument("--also", action="append", default=[], metavar="NAME=TREE", help="one more tree")
    parser.add_argument("--function", choices=("verify_face", "predict_gesture"), default="verify_face")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--requests", type=int, default=50, help="requests after the cold one (the benchmark's 50)")
    parser.add_argument("--kill", action="store_true", help="then kill the worker and time the restart")
    parser.add_argument("--log-dir", type=Path, default=ROOT / "build" / "served-memory")
    args = parser.parse_args()
    trees = {"this tree": args.root.resolve()}
    trees.update({name: Path(tree).resolve() for name, _, tree in (item.partition("=") for item in args.also)})
    if args.function == "verify_face":
        photos = varied_photos()
        if not photos:
            sys.exit("the varied photos (../shared/data/faces/deepface) are not beside the repo")
        cold, workload = verify_request(face_photo_pairs()["1mp"], "1mp"), varied_pairs(photos, args.requests, as_json=True)
    else:
        cold = next(iter(gesture_requests().values()))[0]
        workload = [cold] * args.requests
    args.log_dir.mkdir(parents=True, exist_ok=True)
    results: dict[str, list[dict[str, object]]] = {name: [] for name in trees}
    for r in range(args.rounds):
        for name, root in trees.items():
            log = args.log_dir / f"{args.function}-{name.replace(' ', '_')}-{r}.log"
            results[name].append(run_one(args.function, root, cold, workload, args.kill, log))
            peak = results[name][-1]["peak"]
            print(f"round {r + 1} {name}: peak {total(peak):.1f} MB; load {os.getloadavg()[0]:.1f}", file=sys.stderr)
    print(f"{args.function}, {args.rounds} rounds, {args.requests} requests after the cold one; medians, MiB")
    print(f"load average at the end {' / '.join(f'{x:.2f}' for x in os.getloadavg())}\n")
    print("| tree | at | master PSS | master private | worker PSS | worker private | summed PSS |")
    print("|---|---|---|---|---|---|---|")
    for name, runs in results.items():
        for at, label in (("first", "first answer"), ("peak", "peak"), ("last", "after the last answer")):
            cells = " | ".join(fmt([run[at][f] for run in runs]) for f in FIELDS)
            print(f"| {name} | {label} | {cells} | {fmt([total(run[at]) for run in runs])} |")
    first = next(iter(results))
    print(f"\nPaired with {first} in the same round (median of the rounds' differences, MiB):\n")
    print("| tree | summed PSS, first answer | peak | after the last answer |\n|---|---|---|---|")
    for name, runs in list(results.items())[1:]:
        cells = [
            statistics.median(total(a[at]) - total(b[at]) for a, b in zip(runs, results[first], strict=True))
            for at in ("first", "peak", "last")
        ]
        print(f"| {name} | " + " | ".join(f"{c:+.1f}" for c in cells) + " |")
    if args.kill:
        print("\n| tree | restart wall, median s | restart CPU, median ms | summed PSS after it |\n|---|---|---|---|")
        for name, runs in results.items():
            wall = statistics.median(run["restart_wall_s"] for run in runs)
            cpu = statistics.median(run["restart_cpu_s"] for run in runs) * 1000
            print(f"| {name} | {wall:.3f} | {cpu:.0f} | {fmt([run['restart_pss'] for run in runs])} |")


if __name__ == "__main__":
    main()
