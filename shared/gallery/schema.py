"""The gallery's schema, as numbered migrations applied in order (`migrate`).

Each instance checks the schema on its first gallery call and applies what is missing,
under a transaction-level advisory lock, so two instances starting together apply each
step once and an existing database (of any earlier version) is brought up to date with
its rows kept. A step is never edited once released: a change is a new step.

Rows hold the template only: the gallery, the subject id, the embedder's model, version
and fingerprint, the 128 numbers, the time of enrolment and the client's idempotency key
of the enrolment, if it sent one. Never a photo.
"""

from __future__ import annotations

import re
from typing import Any

TABLE = "face_templates"
LOCK_KEY = 7_215_003_128  # pg_advisory_xact_lock's key for this schema's migrations
INDEX = f"{TABLE}_hnsw"
HNSW = {"m": 32, "ef_construction": 128}  # step 4's graph: recall at 100k to 1M in docs/scaling.md
# Step 4 rebuilds the index inside the migration (a first request waits for it) only up to
# this many rows: m 32's build took 2.5 s for 5,000 rows and 6 s for 10,000 on the shared
# 2-core machine, 313 s for 100,000. A bigger table keeps its index and every instance warns
# once with the command that rebuilds it without blocking (tools/gallery_reindex.py).
REBUILD_ROW_LIMIT = 5_000
HNSW_SQL = "USING hnsw (embedding vector_cosine_ops) WITH (m = {m}, ef_construction = {ef_construction})"

MIGRATIONS: tuple[tuple[int, str, str], ...] = (
    (
        1,
        "templates table",
        f"""
        CREATE EXTENSION IF NOT EXISTS vector;
        CREATE TABLE {TABLE} (
            id          bigserial PRIMARY KEY,
            gallery     text NOT NULL,
            subject     text NOT NULL,
            model       text NOT NULL,
            version     text NOT NULL,
            fingerprint text NOT NULL,
            embedding   vector(128) NOT NULL,
            created_at  timestamptz NOT NULL DEFAULT now()
        );
        CREATE INDEX {TABLE}_subject ON {TABLE} (gallery, subject);
        """,
    ),
    (
        2,
        "HNSW index on cosine distance",
        # m and ef_construction are pgvector's defaults, measured in docs/scaling.md.
        f"CREATE INDEX {TABLE}_hnsw ON {TABLE} USING hnsw (embedding vector_cosine_ops) WITH (m = 16, ef_construction = 64);",
    ),
    (
        3,
        "enrolment idempotency keys",
        # The client's key of one enrolment, unique per gallery: a retried enrolment (its
        # reply lost after the commit) finds its template instead of storing a second one.
        # Adding a NULL column rewrites nothing; the partial index holds keyed rows only.
        f"""
        ALTER TABLE {TABLE} ADD COLUMN enrol_key text;
        CREATE UNIQUE INDEX {TABLE}_enrol_key ON {TABLE} (gallery, enrol_key) WHERE enrol_key IS NOT NULL;
        """,
    ),
    (
        4,
        "HNSW index m 32, ef_construction 128 (tables up to 5,000 rows)",
        # A denser graph: 99.5% recall@1 at 100,000 templates where step 2's needs more
        # time for 97% (docs/scaling.md). Rebuilt here only on a small table (a count that
        # stops at the limit); a bigger one keeps step 2's index until an operator rebuilds
        # it concurrently (rebuild_statements). The ACCESS EXCLUSIVE lock of DROP INDEX
        # holds writers and readers for the build's seconds.
        f"""
        DO $$
        BEGIN
            IF (SELECT count(*) FROM (SELECT 1 FROM {TABLE} LIMIT {REBUILD_ROW_LIMIT + 1}) AS rows) <= {REBUILD_ROW_LIMIT} THEN
                DROP INDEX IF EXISTS {INDEX};
                CREATE INDEX {INDEX} ON {TABLE} {HNSW_SQL.format(**HNSW)};
            END IF;
        END
        $$;
        """,
    ),
)
LATEST = MIGRATIONS[-1][0]


def migrate(conn: Any, upto: int = LATEST) -> list[int]:
    """Apply the migrations after the database's version, up to `upto`, in one transaction
    on `conn` (a psycopg connection); the steps applied, in order (none when up to date)."""
    with conn.transaction():
        conn.execute("SELECT pg_advisory_xact_lock(%s)", (LOCK_KEY,))
        conn.execute(
            "CREATE TABLE IF NOT EXISTS gallery_schema "
            "(version int PRIMARY KEY, name text NOT NULL, applied_at timestamptz NOT NULL DEFAULT now())"
        )
        row = conn.execute("SELECT coalesce(max(version), 0) FROM gallery_schema").fetchone()
        current = int(row[0])
        applied = []
        for version, name, sql in MIGRATIONS:
            if current < version <= upto:
                conn.execute(sql)
                conn.execute("INSERT INTO gallery_schema (version, name) VALUES (%s, %s)", (version, name))
                applied.append(version)
    return applied


def version(conn: Any) -> int:
    """The database's schema version (0 before the first migration)."""
    exists = conn.execute("SELECT to_regclass('gallery_schema') IS NOT NULL").fetchone()[0]
    return int(conn.execute("SELECT coalesce(max(version), 0) FROM gallery_schema").fetchone()[0]) if exists else 0


def index_options(conn: Any) -> dict[str, int] | None:
    """The HNSW index's build options as the database holds them (pg_class.reloptions:
    {"m": .., "ef_construction": ..}, pgvector's defaults 16 and 64 where unset), or None
    when the table has no such index."""
    row = conn.execute("SELECT reloptions FROM pg_class WHERE oid = to_regclass(%s)", (INDEX,)).fetchone()
    if row is None:
        return None
    found = {m[1]: m[2] for m in (re.fullmatch(r"(\w+)=(\d+)", option) for option in row[0] or []) if m}
    return {"m": int(found.get("m", 16)), "ef_construction": int(found.get("ef_construction", 64))}


def rebuild_statements(maintenance_mem: str = "") -> list[str]:
    """SQL that replaces the index by one with HNSW's options without blocking the table
    (each statement on its own, in autocommit: CONCURRENTLY cannot run in a transaction):
    a new index built beside the old (the old one answers meanwhile; writes go to both),
    the old one dropped, the new one renamed. A half-built new index of a failed run (left
    INVALID) is dropped first."""
    new = f"{INDEX}_new"
    return [
        *([f"SET maintenance_work_mem = '{maintenance_mem}'"] if maintenance_mem else []),
        f"DROP INDEX CONCURRENTLY IF EXISTS {new}",
        f"CREATE INDEX CONCURRENTLY {new} ON {TABLE} {HNSW_SQL.format(**HNSW)}",
        f"DROP INDEX CONCURRENTLY IF EXISTS {INDEX}",
        f"ALTER INDEX {new} RENAME TO {INDEX}",
    ]
