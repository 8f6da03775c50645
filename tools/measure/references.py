#!/usr/bin/env python3
"""Benchmark rows for one probe against many references (issue 14): time and memory per request.

verify_face is served as deployed (functions-framework, one gunicorn worker, harness.start)
with MAX_REFERENCES raised to the largest count measured. One probe photo (obama2.jpg) is
sent with N reference templates (one real, from obama.jpg; the rest synthetic unit vectors
with the served embedder's tag), as JSON number lists (`values`), as base64 float32
(`values_b64`), and as one packed gallery (`{ids, tag, values_b64}`). The probe's embedding
is cached after the first request (EMBEDDING_CACHE_SIZE is left at its default), so the
time beyond the pair's is what the N references cost:
reading the body, checking each template, one matrix product, ranking and the answer.

Per row: body size, client-side median and p95 latency over --requests requests, the
server's own `compare` stage (median), the serving process's RSS after the row and its
peak (VmHWM) growth over the run so far. In-process rows add the memory the parsed body
and the checked references take (tracemalloc: Python objects and numpy arrays). A first
row, N = 0, is a pair request (photo + one template) as the baseline. Also printed: in-process timings of the parts (no HTTP).

    nice python tools/measure/references.py --requests 20 --counts 1,100,1000,5000
"""

from __future__ import annotations

import argparse
import base64
import http.client
import json
import statistics
import sys
import time
import tracemalloc
from pathlib import Path

import numpy as np
import psutil

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))  # the repo root, also when run as a file

from tools import LOGS
from tools.measure import harness
from tools.testdata import face_photos

MB = 2**20


def peak_mb(pid: int) -> float:
    """VmHWM (peak resident) of a process, MiB."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def filler(n: int, tag: dict, packed: bool, seed: int = 14) -> list[dict]:
    """n synthetic references: random unit vectors with the served tag."""
    rows = np.random.default_rng(seed).standard_normal((n, tag["dims"])).astype("<f4")
    rows /= np.linalg.norm(rows, axis=1, keepdims=True)
    if packed:
        return [{"id": f"ref-{i}", "template": {**tag, "values_b64": base64.b64encode(r.tobytes()).decode()}} for i, r in enumerate(rows)]
    return [{"id": f"ref-{i}", "template": {**tag, "values": [float(str(v)) for v in r]}} for i, r in enumerate(rows)]


def post(conn: http.client.HTTPConnection, body: bytes) -> tuple[int, dict, float]:
    """One POST on a keep-alive connection; reconnects once when the server dropped it."""
    for attempt in (1, 2):
        started = time.perf_counter()
        try:
            status, raw = harness.send(conn, harness.Request("bench", body))
            return status, json.loads(raw), (time.perf_counter() - started) * 1000
        except (BrokenPipeError, ConnectionResetError, http.client.RemoteDisconnected):
            conn.close()
            if attempt == 2:
                raise
    raise AssertionError("unreachable")


def in_process(tag: dict, probe: np.ndarray, n: int) -> dict[str, float]:
    """Milliseconds of each part for n references, without HTTP: JSON parsing, template checks,
    the distances (one matrix product), ranking."""
    from shared.edge.requests import parse_json
    from shared.face.embed import distances_to
    from shared.face.templates import TemplateTag, read_references

    body = json.dumps(filler(n, tag, packed=False)).encode()
    out = {}
    t = time.perf_counter()
    refs = parse_json(body, 10**8, float32_floats=False)  # as the verify reader parses
    out["parse"] = (time.perf_counter() - t) * 1000
    t = time.perf_counter()
    gallery = read_references(refs, TemplateTag(**tag), n)
    out["check"] = (time.perf_counter() - t) * 1000
    t = time.perf_counter()
    d = distances_to(probe, gallery.vectors, "cosine")
    out["distances"] = (time.perf_counter() - t) * 1000
    t = time.perf_counter()
    np.argsort(d, kind="stable")
    out["rank"] = (time.perf_counter() - t) * 1000
    rows = np.asarray([r["template"]["values"] for r in refs], "<f4")
    packed = {"ids": [r["id"] for r in refs], **tag, "values_b64": base64.b64encode(rows.tobytes()).decode()}
    packed_body = json.dumps(packed).encode()
    t = time.perf_counter()
    read_references(parse_json(packed_body, 10**8, float32_floats=False), TemplateTag(**tag), n)
    out["packed parse+check"] = (time.perf_counter() - t) * 1000
    del refs, gallery
    tracemalloc.start()
    refs = parse_json(body, 10**8, float32_floats=False)
    parsed = tracemalloc.get_traced_memory()[0]
    gallery = read_references(refs, TemplateTag(**tag), n)
    distances_to(probe, gallery.vectors, "cosine")
    out["MiB parsed"] = parsed / MB
    out["MiB peak"] = tracemalloc.get_traced_memory()[1] / MB
    del refs, gallery
    tracemalloc.reset_peak()
    base = tracemalloc.get_traced_memory()[0]
    gallery = read_references(parse_json(packed_body, 10**8, float32_floats=False), TemplateTag(**tag), n)
    distances_to(probe, gallery.vectors, "cosine")
    out["packed MiB peak"] = (tracemalloc.get_traced_memory()[1] - base) / MB
    tracemalloc.stop()
    return out


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0], formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--requests", type=int, default=20, help="requests per row (default 20)")
    parser.add_argument("--counts", default="1,100,1000,5000", help="reference counts, comma-separated")
    args = parser.parse_args(argv)
    harness.keep_logs_in(LOGS / "references-logs")
    counts = [int(c) for c in args.counts.split(",")]
    photos = face_photos()
    probe_b64 = base64.b64encode((photos / "obama2.jpg").read_bytes()).decode()
    server = harness.start("verify_face", env={"MAX_REFERENCES": str(max(counts))})
    try:
        conn = http.client.HTTPConnection(server.host, server.port, timeout=120)
        pid = server.serving_pid()
        status, real, _ = post(conn, json.dumps({"img1": base64.b64encode((photos / "obama.jpg").read_bytes()).decode()}).encode())
        assert status == 200, real
        template = real["faces"][0]["embedding"]
        tag = {k: v for k, v in template.items() if k != "values"}
        status, answer, _ = post(conn, json.dumps({"img1": probe_b64, "img2": template}).encode())  # the probe is cached from here on
        assert status == 200, answer
        rss0 = psutil.Process(pid).memory_info().rss / MB
        print(f"warm RSS before the rows: {rss0:.1f} MiB (peak so far {peak_mb(pid):.1f} MiB)\n")
        print("| references | encoding | body | median ms | p95 ms | server compare ms | RSS after MiB | peak growth MiB |")
        print("|---:|---|---:|---:|---:|---:|---:|---:|")
        rows = [(0, "values")] + [(n, enc) for n in counts for enc in ("values", "values_b64", "packed")]
        for n, encoding in rows:
            if n == 0:
                body = json.dumps({"img1": probe_b64, "img2": template}).encode()
            elif encoding == "packed":  # one tag and one base64 string for the whole gallery
                vectors = [template["values"]] + [r["template"]["values"] for r in filler(n - 1, tag, False)]
                gallery = {"ids": ["obama"] + [f"ref-{i}" for i in range(n - 1)], **tag}
                gallery["values_b64"] = base64.b64encode(np.asarray(vectors, "<f4").tobytes()).decode()
                body = json.dumps({"img1": probe_b64, "references": gallery}).encode()
            else:
                references = [{"id": "obama", "template": template}, *filler(n - 1, tag, encoding == "values_b64")]
                body = json.dumps({"img1": probe_b64, "references": references}).encode()
            times, compares = [], []
            for _ in range(args.requests):
                status, answer, ms = post(conn, body)
                assert status == 200, answer
                assert n == 0 or answer["best"]["id"] == "obama", answer["best"]
                times.append(ms)
                compares.append(answer["time_ms"].get("compare", 0.0))
            rss = psutil.Process(pid).memory_info().rss / MB
            p95 = sorted(times)[max(0, int(len(times) * 0.95) - 1)]
            label = "pair (photo + template)" if n == 0 else f"{n:,}"
            print(
                f"| {label} | {encoding if n else 'values'} | {len(body) / 1024:,.0f} KiB | {statistics.median(times):.1f} | {p95:.1f} | "
                f"{statistics.median(compares):.2f} | {rss:.1f} | {peak_mb(pid) - rss0:+.1f} |"
            )
        probe = np.asarray(template["values"], np.float32)
        print("\nin process (no HTTP), ms:")
        for n in counts:
            parts = in_process(tag, probe, n)
            print(f"  {n:>6,} references: " + ", ".join(f"{k} {v:.2f}" for k, v in parts.items()))
    except Exception:
        print(server.log_tail(3000), file=sys.stderr)
        raise
    finally:
        server.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main())
