"""The gallery store (shared/gallery/store.py) against a real Postgres with pgvector (the
embedded `pgserver` build, tests/postgres_server.py): enrol, identify, erase; two
instances migrating and enrolling at once; a database that goes away and comes back; a
kept connection cut while the instance idled; a migration on an existing database."""

from __future__ import annotations

import tempfile
import threading
import time
from pathlib import Path

import numpy as np
import psycopg
import pytest

from shared.errors import Conflict, ServiceUnavailable
from shared.gallery import schema
from shared.gallery.options import GalleryOptions
from shared.gallery.store import GalleryStore, Tag
from tools.measure.postgres_server import PostgresServer

TAG = Tag("face-embedder-sface", "1.1.0", "f4c1b6d9360f")
INSERT = "INSERT INTO face_templates (gallery, subject, model, version, fingerprint, embedding) VALUES (%s, %s, %s, %s, %s, %s::vector)"
OTHER = Tag("face-embedder-dlib", "1.0.0", "0123456789ab")


def vectors(n: int, seed: int = 0) -> np.ndarray:
    v = np.random.default_rng(seed).normal(size=(n, 128)).astype(np.float32)
    return v / np.linalg.norm(v, axis=1, keepdims=True)


def store(url: str, **options) -> GalleryStore:
    return GalleryStore(GalleryOptions(url=url, **options))


def test_enrol_identify_verify_and_erase(gallery_url):
    s = store(gallery_url)
    v = vectors(3)
    assert s.enrol("g", "alice", TAG, v[0])[1] == 1
    assert s.enrol("g", "alice", TAG, v[1])[1] == 2
    s.enrol("g", "bob", TAG, v[2])
    s.enrol("other-gallery", "alice", TAG, v[0])  # another tenant's alice
    s.enrol("g", "dave", OTHER, v[0])  # another embedder's row: never compared
    nearest = s.nearest("g", TAG, v[0], 5)
    assert [subject for subject, _ in nearest] == ["alice", "bob"]  # one row per subject: its nearest template
    assert nearest[0][1] == pytest.approx(0.0, abs=1e-6)
    assert nearest[1][1] == pytest.approx(1 - float(v[0] @ v[2]), abs=1e-5)
    assert s.subject_distance("g", "alice", TAG, v[1]) == (pytest.approx(0.0, abs=1e-6), 2)
    assert s.subject_distance("g", "carol", TAG, v[0]) is None  # nobody of that name in g
    assert s.subject_distance("g", "dave", TAG, v[0]) is None  # dave's template is another model's
    assert s.erase("g", "alice") == 2  # g's alice only
    assert s.erase("g", "alice") == 0
    assert [subject for subject, _ in s.nearest("other-gallery", TAG, v[0], 5)] == ["alice"]
    assert [subject for subject, _ in s.nearest("g", TAG, v[0], 5)] == ["bob"]
    assert s.erase("g", "dave") == 1  # erasure takes every template of the subject, whatever made it
    with psycopg.connect(gallery_url) as conn:  # what a row holds: the template, never a photo
        columns = [r[0] for r in conn.execute("SELECT column_name FROM information_schema.columns WHERE table_name = 'face_templates'")]
    assert sorted(columns) == ["created_at", "embedding", "enrol_key", "fingerprint", "gallery", "id", "model", "subject", "version"]


def test_an_enrolment_retried_with_its_idempotency_key_stores_one_template(gallery_url):
    """A reply lost after the commit: the client retries with the same key and gets the
    stored template back (replayed), not a second row; the key is per gallery; the same
    key for another subject or template is refused, and an erased subject frees it."""
    s = store(gallery_url)
    v = vectors(2, seed=11)
    first = s.enrol("g", "alice", TAG, v[0], key="req-1")
    assert (first.templates, first.replayed) == (1, False)
    again = s.enrol("g", "alice", TAG, v[0], key="req-1")
    assert again == (first.template_id, 1, True)
    for subject, vector in (("bob", v[0]), ("alice", v[1])):
        with pytest.raises(Conflict) as caught:
            s.enrol("g", subject, TAG, vector, key="req-1")
        assert caught.value.code == "idempotency_key_reused" and caught.value.status == 409
        assert s.status()["idle_connections"] == 1 and s.status()["reachable"] is True  # a refusal, not a fault
    assert s.enrol("g2", "alice", TAG, v[0], key="req-1").replayed is False  # another gallery's key space
    assert s.enrol("g", "alice", TAG, v[1]).templates == 2  # no key: every call stores
    assert s.enrol("g", "alice", TAG, v[1]).templates == 3
    assert s.erase("g", "alice") == 3
    assert s.enrol("g", "alice", TAG, v[0], key="req-1").replayed is False  # erased with its template: stored anew


def test_two_instances_retrying_one_enrolment_at_once_store_it_once(gallery_url):
    stores = [store(gallery_url), store(gallery_url)]
    stores[0].enrol("g", "warm-up", TAG, vectors(1, seed=12)[0])  # migrated before the race
    v = vectors(1, seed=13)[0]
    start = threading.Barrier(2)
    results: list = []

    def enrol(k: int) -> None:
        start.wait()
        results.append(stores[k].enrol("g", "alice", TAG, v, key="retry-me"))

    threads = [threading.Thread(target=enrol, args=(k,)) for k in (0, 1)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    assert sorted(r.replayed for r in results) == [False, True]
    assert len({r.template_id for r in results}) == 1
    with psycopg.connect(gallery_url) as conn:
        assert conn.execute("SELECT count(*) FROM face_templates WHERE subject = 'alice'").fetchone()[0] == 1


def test_a_gallery_sharing_the_index_with_another_still_gets_its_top_k(gallery_url):
    """Two galleries share one HNSW index: the walk's ef_search candidates are half the
    other's rows, the filter drops them, and the store completes the top k by an exact
    search of the gallery instead of answering fewer."""
    s = store(gallery_url, ef_search=10)
    many = vectors(3000, seed=1)
    rows = [("a" if i % 2 else "b", f"s{i}", *TAG, "[" + ",".join(map(str, row.tolist())) + "]") for i, row in enumerate(many)]
    s.enrol("a", "first", TAG, many[0])  # migrates: the index exists before the rows come
    with psycopg.connect(gallery_url, autocommit=True) as conn, conn.cursor() as cur:
        cur.executemany(INSERT, rows)
        cur.execute("ANALYZE face_templates")
    found = s.nearest("a", TAG, many[1], 10)
    assert len(found) == 10 and found[0][0] == "s1"
    exact = sorted([(1 - float(many[1] @ many[0]), "first")] + [(1 - float(many[1] @ many[i]), f"s{i}") for i in range(1, 3000, 2)])[:10]
    assert [subject for subject, _ in found] == [subject for _, subject in exact]


def near(v: np.ndarray, rng: np.random.Generator, distance: float) -> np.ndarray:
    """A unit vector at about `distance` (cosine) from the unit vector `v`."""
    noise = rng.normal(size=v.shape)
    noise -= (noise @ v) * v
    noise /= np.linalg.norm(noise)
    return (1 - distance) * v + np.sqrt(1 - (1 - distance) ** 2) * noise


@pytest.mark.parametrize("ef_search", [400, 10])
def test_top_k_counts_subjects_each_by_its_nearest_template(gallery_url, ef_search):
    """Two templates per subject, the nearer ones of the first subjects: top_k 3 answers
    three subjects (not a subject's two templates as two of the three), each with the
    distance of its nearest template, nearest first; by the index, and by the exact search
    where the walk's candidates fall short (ef_search 10 among the 600 rows of a big table)."""
    s = store(gallery_url, ef_search=ef_search)
    rng = np.random.default_rng(8)
    probe = vectors(1, seed=9)[0]
    s.enrol("g", "first", TAG, near(probe, rng, 0.05))  # migrates: the index exists before the rows come
    rows = [("g", "first", near(probe, rng, 0.06))]
    for i, d in enumerate((0.10, 0.15, 0.20, 0.25)):
        rows += [("g", f"s{i}", near(probe, rng, d)), ("g", f"s{i}", near(probe, rng, d + 0.01))]
    rows += [("other", f"x{i}", row) for i, row in enumerate(vectors(600, seed=10))]
    with psycopg.connect(gallery_url, autocommit=True) as conn, conn.cursor() as cur:
        cur.executemany(INSERT, [(g, subject, *TAG, "[" + ",".join(map(str, v.tolist())) + "]") for g, subject, v in rows])
        cur.execute("ANALYZE face_templates")
    found = s.nearest("g", TAG, probe, 3)
    assert [subject for subject, _ in found] == ["first", "s0", "s1"]
    assert [round(d, 2) for _, d in found] == [0.05, 0.10, 0.15]
    assert [subject for subject, _ in s.nearest("g", TAG, probe, 10)] == ["first", "s0", "s1", "s2", "s3"]  # all five


def test_two_instances_migrate_and_enrol_at_once(gallery_url):
    """Two stores (two instances' connections) start on an empty database together: the
    schema is applied once, every enrolment of both is kept, ids unique."""
    stores = [store(gallery_url), store(gallery_url)]
    v = vectors(40, seed=3)
    ids: list[int] = []
    errors: list[BaseException] = []
    start = threading.Barrier(2)

    def enrol(k: int) -> None:
        try:
            start.wait()
            for i in range(k, 40, 2):
                ids.append(stores[k].enrol("g", f"person-{i % 5}", TAG, v[i])[0])
        except BaseException as exc:  # reported below
            errors.append(exc)

    threads = [threading.Thread(target=enrol, args=(k,)) for k in (0, 1)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    assert not errors, errors
    assert len(ids) == 40 and len(set(ids)) == 40
    with psycopg.connect(gallery_url) as conn:
        assert conn.execute("SELECT count(*) FROM face_templates").fetchone()[0] == 40
        assert [r[0] for r in conn.execute("SELECT version FROM gallery_schema ORDER BY version")] == [m[0] for m in schema.MIGRATIONS]
    assert stores[1].nearest("g", TAG, v[7], 1)[0][0] == "person-2"


def test_migration_on_an_existing_database_keeps_its_rows(gallery_url):
    """A database at schema version 1 (no HNSW index yet) with templates in it: the first
    call of a new instance migrates it to the latest version, rows kept and found."""
    v = vectors(3, seed=4)
    with psycopg.connect(gallery_url) as conn:
        assert schema.migrate(conn, upto=1) == [1]
        conn.execute(
            INSERT,
            ("g", "alice", *TAG, "[" + ",".join(map(str, v[0].tolist())) + "]"),
        )
        conn.commit()
        assert schema.version(conn) == 1
    s = store(gallery_url)
    assert s.nearest("g", TAG, v[0], 1)[0][0] == "alice"
    with psycopg.connect(gallery_url) as conn:
        assert schema.version(conn) == schema.LATEST
        indexes = [r[0] for r in conn.execute("SELECT indexdef FROM pg_indexes WHERE tablename = 'face_templates'")]
        assert any("USING hnsw (embedding vector_cosine_ops)" in i for i in indexes), indexes
        assert schema.migrate(conn) == []  # up to date: nothing applied twice


def test_database_going_away_is_a_503_with_retry_after_and_heals():
    server = PostgresServer(Path(tempfile.mkdtemp(prefix="pg-")) / "data").start()
    try:
        s = store(server.url, retry_s=0.5, connect_timeout_s=1)
        v = vectors(2, seed=5)
        s.enrol("g", "alice", TAG, v[0])
        server.stop()  # mid-run: the kept connection is cut too
        started = time.monotonic()
        with pytest.raises(ServiceUnavailable) as caught:
            s.nearest("g", TAG, v[0], 1)
        assert caught.value.code == "gallery_unavailable" and caught.value.retry_after >= 1
        with pytest.raises(ServiceUnavailable):  # within retry_s: refused at once, not tried
            s.enrol("g", "bob", TAG, v[1])
        assert s.errors == 1
        assert time.monotonic() - started < 5
        status = s.status()  # what health shows, without trying the database
        assert status["reachable"] is False and 0 < status["retry_in_s"] <= 0.5 and s.errors == 1
        server.start()
        time.sleep(0.6)
        assert s.nearest("g", TAG, v[0], 1)[0][0] == "alice"  # back, with its data
    finally:
        server.remove()


def test_a_kept_connection_cut_while_idle_is_replaced(gallery_url):
    """A frozen instance thaws with a dead socket: the call is tried once more on a fresh
    connection instead of failing."""
    s = store(gallery_url)
    v = vectors(1, seed=6)
    s.enrol("g", "alice", TAG, v[0])
    assert s.status()["idle_connections"] == 1
    with psycopg.connect(gallery_url, autocommit=True) as admin:
        admin.execute("SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE application_name = 'tflite-functions'")
    assert s.nearest("g", TAG, v[0], 1)[0][0] == "alice"
    assert s.errors == 0


def test_status_tells_the_last_call_without_connecting(gallery_url, postgres_server):
    s = store(gallery_url)
    assert s.status() | {"idle_connections": 0} == {
        "configured": True, "used": False, "reachable": None, "last_call_s_ago": None, "schema_version": None,
        "schema_version_expected": schema.LATEST, "index": None, "retry_in_s": 0.0, "errors": 0, "idle_connections": 0,
    }  # fmt: skip
    s.enrol("g", "alice", TAG, vectors(1, seed=14)[0])
    status = s.status()
    assert status["used"] and status["reachable"] is True and status["schema_version"] == schema.LATEST
    assert 0 <= status["last_call_s_ago"] < 5 and status["errors"] == 0


def test_an_idle_connection_older_than_idle_s_is_not_reused(gallery_url):
    s = store(gallery_url, idle_s=0.0)
    v = vectors(1, seed=7)
    s.enrol("g", "alice", TAG, v[0])
    ((first, _),) = s._idle
    time.sleep(0.01)
    s.nearest("g", TAG, v[0], 1)
    assert first.closed and s._idle[0][0] is not first
