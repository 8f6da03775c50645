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

from typing import Any

TABLE = "face_templates"
LOCK_KEY = 7_215_003_128  # pg_advisory_xact_lock's key for this schema's migrations

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
