#!/usr/bin/env python3
"""verify_face's memory with and without a gallery (issue 28): peak and idle RSS of the
serving worker, served as deployed (functions-framework under gunicorn, harness.start).

Three instances, one after the other, each sent the same pair verifications (the face
photos of the face-recognition sdist, tools/testdata.py) `--rounds` times:

    without      no GALLERY_URL
    configured   GALLERY_URL set (the embedded Postgres), no gallery call: nothing imported
    used         GALLERY_URL set, and between the pairs: enrol, identify, verify a subject, erase

The worker's peak is the kernel's high-water mark (VmHWM) over its whole life; idle is its
RSS after the last answer. The gallery database is the embedded one
(tools/measure/postgres_server.py) in build/gallery-bench/pgdata-memory/.

    python tools/measure/gallery_memory.py   # JSON lines; build/gallery-bench/memory.json
"""

from __future__ import annotations

import argparse
import base64
import http.client
import json
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

from tools import LOGS
from tools.measure import harness
from tools.measure.postgres_server import PostgresServer
from tools.testdata import face_photos

OUT = LOGS / "gallery-bench"


def vm_mb(pid: int, field: str) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1]) / 1024
    raise KeyError(field)


def post_json(server: harness.Server, body: dict) -> tuple[int, dict]:
    conn = http.client.HTTPConnection("127.0.0.1", server.port, timeout=120)
    try:
        conn.request("POST", "/", json.dumps(body), {"Content-Type": "application/json"})
        response = conn.getresponse()
        return response.status, json.loads(response.read())
    finally:
        conn.close()


def measure(name: str, env: dict[str, str], photos: dict[str, str], rounds: int, use_gallery: bool) -> dict:
    server = harness.start("verify_face", env=env)
    try:
        pairs = [("obama", "obama2"), ("biden", "obama3"), ("obama3", "obama")]
        for i in range(rounds):
            for a, b in pairs:
                status, answer = post_json(server, {"img1": photos[a], "img2": photos[b]})
                assert status == 200, answer
            if use_gallery:
                calls = [
                    {"gallery": "memory", "enroll": {"id": f"s{i}"}, "img1": photos["obama"]},
                    {"gallery": "memory", "img1": photos["obama2"], "top_k": 5},
                    {"gallery": "memory", "subject": f"s{i}", "img1": photos["obama3"]},
                    {"gallery": "memory", "delete": {"id": f"s{i}"}},
                ]
                for body in calls:
                    status, answer = post_json(server, body)
                    assert status == 200, answer
        pid = server.serving_pid()
        return {"instance": name, "peak_mb": round(vm_mb(pid, "VmHWM"), 1), "idle_rss_mb": round(vm_mb(pid, "VmRSS"), 1)}
    finally:
        server.stop()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rounds", type=int, default=10, help="rounds of the workload per instance")
    parser.add_argument("--repeat", type=int, default=2, help="instances of each kind (the figures are their median)")
    args = parser.parse_args(argv)
    folder = face_photos()
    photos = {p.stem: base64.b64encode(p.read_bytes()).decode() for p in folder.glob("*.jpg")}
    db = PostgresServer(OUT / "pgdata-memory").start()
    url = db.create_database("gallery_memory")
    rows = []
    try:
        for _ in range(args.repeat):
            for name, env, use in (
                ("without", {}, False),
                ("configured", {"GALLERY_URL": url}, False),
                ("used", {"GALLERY_URL": url}, True),
            ):
                row = measure(name, env, photos, args.rounds, use)
                print(json.dumps(row), flush=True)
                rows.append(row)
    finally:
        db.stop()
    OUT.mkdir(parents=True, exist_ok=True)
    (OUT / "memory.json").write_text(json.dumps(rows, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
