"""Schema step 4 (issue 28): the HNSW index with m 32, ef_construction 128, against the real
embedded Postgres (tests/postgres_server.py). A new database gets it; an existing database
of up to REBUILD_ROW_LIMIT rows has its index replaced by the first call's migration; a
bigger one keeps its index (no build of minutes inside a request), each instance warns
once with the operator command, and that command (tools/gallery_reindex.py) rebuilds it."""

from __future__ import annotations

import logging

import numpy as np
import psycopg
import pytest

from shared.gallery import schema
from shared.gallery.options import GalleryOptions
from shared.gallery.store import GalleryStore, Tag
from tools import gallery_reindex

TAG = Tag("face-embedder-sface", "1.1.0", "f4c1b6d9360f")
OLD = {"m": 16, "ef_construction": 64}
NEW = {"m": 32, "ef_construction": 128}
COPY = "COPY face_templates (gallery, subject, model, version, fingerprint, embedding) FROM STDIN"


def vectors(n: int, seed: int = 0) -> np.ndarray:
    v = np.random.default_rng(seed).normal(size=(n, 128)).astype(np.float32)
    return v / np.linalg.norm(v, axis=1, keepdims=True)


def database_index(url: str) -> tuple[dict[str, int] | None, str]:
    """The index's options from pg_class.reloptions and its definition from pg_indexes."""
    with psycopg.connect(url) as conn:
        (definition,) = conn.execute("SELECT indexdef FROM pg_indexes WHERE indexname = %s", (schema.INDEX,)).fetchone()
        return schema.index_options(conn), definition


def existing_database(url: str, rows: int) -> np.ndarray:
    """A database of schema version 3 (step 2's index) holding `rows` templates of gallery g."""
    v = vectors(rows, seed=rows)
    with psycopg.connect(url) as conn:
        assert schema.migrate(conn, upto=1) == [1]
        with conn.cursor() as cur, cur.copy(COPY) as copy:
            for i, row in enumerate(v):
                copy.write_row(("g", f"s{i}", *TAG, "[" + ",".join(map(str, row.tolist())) + "]"))
        conn.commit()
        assert schema.migrate(conn, upto=3) == [2, 3]
    assert database_index(url)[0] == OLD
    return v


def test_a_new_database_gets_the_m32_index(gallery_url):
    s = GalleryStore(GalleryOptions(url=gallery_url))
    v = vectors(2, seed=1)
    s.enrol("g", "alice", TAG, v[0])
    s.enrol("g", "bob", TAG, v[1])
    options, definition = database_index(gallery_url)
    assert options == NEW == schema.HNSW
    assert "USING hnsw (embedding vector_cosine_ops) WITH (m='32', ef_construction='128')" in definition
    assert s.status()["index"] == NEW  # health's gallery block
    assert s.nearest("g", TAG, v[1], 1)[0][0] == "bob"


def test_an_existing_small_database_has_its_index_replaced(gallery_url, caplog):
    v = existing_database(gallery_url, 300)
    s = GalleryStore(GalleryOptions(url=gallery_url))
    with caplog.at_level(logging.INFO, logger="shared.gallery.store"):
        assert s.nearest("g", TAG, v[7], 3)[0][0] == "s7"  # rows kept, found
    assert database_index(gallery_url)[0] == NEW and s.status()["index"] == NEW
    assert not [r for r in caplog.records if r.levelno >= logging.WARNING]
    with psycopg.connect(gallery_url) as conn:
        assert conn.execute("SELECT count(*) FROM face_templates").fetchone()[0] == 300
        assert schema.version(conn) == schema.LATEST == 4
        names = [r[0] for r in conn.execute("SELECT indexname FROM pg_indexes WHERE tablename = 'face_templates'")]
        assert sorted(names) == sorted(["face_templates_pkey", "face_templates_subject", "face_templates_enrol_key", schema.INDEX])


@pytest.mark.parametrize("rows", [schema.REBUILD_ROW_LIMIT, schema.REBUILD_ROW_LIMIT + 1])
def test_a_database_over_the_limit_keeps_its_index_and_warns_once(gallery_url, caplog, capsys, rows):
    v = existing_database(gallery_url, rows)
    over = rows > schema.REBUILD_ROW_LIMIT
    s = GalleryStore(GalleryOptions(url=gallery_url))
    with caplog.at_level(logging.INFO, logger="shared.gallery.store"):
        assert s.nearest("g", TAG, v[3], 1)[0][0] == "s3"
        assert s.nearest("g", TAG, v[5], 1)[0][0] == "s5"
    warnings = [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING]
    assert database_index(gallery_url)[0] == (OLD if over else NEW) == s.status()["index"]
    with psycopg.connect(gallery_url) as conn:
        assert schema.version(conn) == 4  # the step is applied either way: nothing retried per request
    if not over:
        assert warnings == []
        return
    assert len(warnings) == 1 and "tools/gallery_reindex.py" in warnings[0]  # once, naming the command
    assert gallery_reindex.main(["--url", gallery_url, "--check"]) == 1
    assert gallery_reindex.main(["--url", gallery_url, "--maintenance-mem", "256MB"]) == 0
    assert "CREATE INDEX CONCURRENTLY" in capsys.readouterr().out
    assert database_index(gallery_url)[0] == NEW
    assert gallery_reindex.main(["--url", gallery_url, "--check"]) == 0
    fresh = GalleryStore(GalleryOptions(url=gallery_url))  # a new instance: the rebuilt index, no warning
    caplog.clear()
    with caplog.at_level(logging.WARNING, logger="shared.gallery.store"):
        assert fresh.nearest("g", TAG, v[3], 1)[0][0] == "s3"
    assert fresh.status()["index"] == NEW and not caplog.records
