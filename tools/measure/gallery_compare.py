#!/usr/bin/env python3
"""Index builds compared in one interleaved run (issue 28): the same lfw-dev probes through
the store's own identification (`GalleryStore.nearest`, top_k 5) on databases that
tools/measure/gallery.py kept (--keep), each at its ef_search, one probe of each variant in
turn, so a busy machine slows every variant alike. Per variant: p50 and p95 ms, recall@1
against exact search over the same rows, and the median per-probe time ratio to the first.

    python tools/measure/gallery.py --sizes 100000 --keep                     # m 16, ef_construction 64
    python tools/measure/gallery.py --sizes 100000 --keep --m 32 --ef-construction 128
    python tools/measure/gallery_compare.py --size 100000 --variants gallery_bench_100000:400,gallery_bench_100000_m32_efc128:200
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

from tools.measure.gallery import LFW, OUT, embed_lfw, exact_top1, percentiles, split, synthetic_draw, unit


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--size", type=int, required=True, help="the kept databases' size (their rows are drawn again for exact search)")
    parser.add_argument("--variants", required=True, help="database:ef_search pairs, comma-separated")
    parser.add_argument("--probes", type=int, default=200)
    parser.add_argument("--seed", type=int, default=28, help="gallery.py's --seed")
    parser.add_argument("--pgdata", type=Path, default=OUT / "pgdata")
    args = parser.parse_args(argv)
    from shared.gallery.options import GalleryOptions
    from shared.gallery.store import GalleryStore, Tag
    from tools.measure.postgres_server import PostgresServer

    lfw = embed_lfw(LFW, OUT / "lfw-embeddings.npz")
    real = unit(lfw["vectors"])
    enrolled, probes = split(lfw)
    rng = np.random.default_rng([args.seed, args.size])  # the kept gaussian rows, as gallery.py drew them
    table = np.concatenate([real[enrolled], synthetic_draw(real, "gaussian")(rng, args.size - len(enrolled))])
    subjects = [str(lfw["people"][i]) for i in enrolled] + [f"synthetic-{i:07d}" for i in range(args.size - len(enrolled))]
    vectors = real[probes[: args.probes]]
    truth = exact_top1(table, vectors)
    server = PostgresServer(args.pgdata).start()
    tag = Tag(*lfw["tag"].tolist())
    variants = [(v.rsplit(":", 1)[0], int(v.rsplit(":", 1)[1])) for v in args.variants.split(",")]
    stores = [GalleryStore(GalleryOptions(url=server.url_for(db), ef_search=ef, statement_timeout_s=60)) for db, ef in variants]
    for store in stores:
        for v in vectors[:20]:  # warm-up: connect, pages into the cache
            store.nearest("bench", tag, v, 5)
    times: list[list[float]] = [[] for _ in stores]
    hits = [0] * len(stores)
    for i, v in enumerate(vectors):
        order = range(len(stores)) if i % 2 == 0 else reversed(range(len(stores)))
        for k in order:
            started = time.perf_counter()
            found = stores[k].nearest("bench", tag, v, 5)
            times[k].append((time.perf_counter() - started) * 1000)
            hits[k] += bool(found) and found[0][0] == subjects[truth[i]]
    for (db, ef), t, h in zip(variants, times, hits, strict=True):
        ratio = statistics.median(np.array(t) / np.array(times[0]))
        p50, p95 = percentiles(t)
        recall = round(h / len(vectors), 4)
        print(json.dumps({"database": db, "ef_search": ef, "p50_ms": p50, "p95_ms": p95, "recall_at_1": recall, "ratio": round(ratio, 3)}))
    print(json.dumps({"probes": len(vectors), "load_avg": round(os.getloadavg()[0], 1)}))
    return 0


if __name__ == "__main__":
    sys.exit(main())
