"""Templates in Postgres with pgvector: enrol, nearest (HNSW on cosine distance), a
subject's distance, erase.

Scale-to-zero connection handling: no pool thread and nothing built at import (psycopg is
imported on the first gallery call); at most `pool_size` idle connections are kept, each
dropped when older than `idle_s` (a frozen instance's socket may be dead when it thaws),
and a call that fails on a kept connection is tried once more on a fresh one. Every
transaction sets its own statement timeout (SET LOCAL: also through a transaction pooler).
A database that cannot be reached is left alone for `retry_s`: gallery calls answer 503
with Retry-After at once meanwhile, and nothing else in the function depends on it.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from typing import Any, NamedTuple, TypeVar

import numpy as np

from shared.errors import Conflict, ServiceError, ServiceUnavailable
from shared.gallery import queries, schema
from shared.gallery.options import DIMS, GalleryOptions
from shared.logs import event

log = logging.getLogger(__name__)
T = TypeVar("T")
TABLE = schema.TABLE
CANDIDATES_PER_SUBJECT = 8  # templates read from the index per subject asked for (top_k)


class Tag(NamedTuple):
    """The embedder a row's vector came from: model, version, fingerprint (only rows of the
    same tag are ever compared)."""

    model: str
    version: str
    fingerprint: str


def vector_text(vector: np.ndarray) -> str:
    """pgvector's text form of a (DIMS,) vector: '[v1,v2,...]', each float32 exactly."""
    values = np.asarray(vector, np.float32).ravel()
    if values.shape != (DIMS,):
        raise ValueError(f"a gallery vector has {DIMS} numbers, got {values.size}")
    return "[" + ",".join(map(str, values.tolist())) + "]"


class Enrolled(NamedTuple):
    """An enrolment's outcome: the template's row id, the subject's templates now, and
    whether the row was there already (a retry with the same idempotency key)."""

    template_id: int
    templates: int
    replayed: bool


class GalleryStore:
    """One database's galleries, thread-safe; every method is one short transaction."""

    def __init__(self, options: GalleryOptions, search: str = "vector", iterative: bool = False, rerank: int = 0):
        """`search`, `iterative`: identification's index and scan; `rerank`: candidates
        read from the index when more than CANDIDATES_PER_SUBJECT * top_k (queries.py)."""
        self.options = options
        self.search, self.iterative, self.rerank = search, iterative, rerank
        self._lock = threading.Lock()
        self._idle: list[tuple[Any, float]] = []  # (connection, when it was last given back)
        self._down_until = 0.0
        self._migrated = False
        self.errors = 0
        self._last_use: float | None = None  # monotonic time of the last call's end
        self._reachable: bool | None = None  # whether that call reached the database
        self.schema_version: int | None = None  # the database's, read on the first connection
        self.index: dict[str, int] | None = None  # the HNSW index's m and ef_construction, read then too

    # ---- the calls --------------------------------------------------------------------

    def enrol(self, gallery: str, subject: str, tag: Tag, vector: np.ndarray, key: str | None = None) -> Enrolled:
        """Store one template; with the client's idempotency `key`, once per key and gallery:
        a retry with the same key, subject and template finds the stored one (`replayed`);
        the same key with another subject or template is a 409 `idempotency_key_reused`."""
        text = vector_text(vector)

        def work(cur: Any) -> Enrolled:
            cur.execute(
                f"INSERT INTO {TABLE} (gallery, subject, model, version, fingerprint, embedding, enrol_key) "
                "VALUES (%s, %s, %s, %s, %s, %s::vector, %s) "
                "ON CONFLICT (gallery, enrol_key) WHERE enrol_key IS NOT NULL DO NOTHING RETURNING id",
                (gallery, subject, *tag, text, key),
            )
            row = cur.fetchone()
            replayed = row is None  # the key's row exists (committed, or by a concurrent call that waited for it)
            if replayed:
                cur.execute(
                    f"SELECT id, subject = %s AND embedding = %s::vector AND (model, version, fingerprint) = (%s, %s, %s) "
                    f"FROM {TABLE} WHERE gallery = %s AND enrol_key = %s",
                    (subject, text, *tag, gallery, key),
                )
                row = cur.fetchone()
                if not row[1]:
                    message = "this idempotency_key was used for another enrolment in this gallery (another subject or template)"
                    raise Conflict(message, code="idempotency_key_reused")
            row_id = int(row[0])
            cur.execute(f"SELECT count(*) FROM {TABLE} WHERE gallery = %s AND subject = %s", (gallery, subject))
            return Enrolled(row_id, int(cur.fetchone()[0]), replayed)

        return self._run(work)

    def nearest(self, gallery: str, tag: Tag, vector: np.ndarray, k: int) -> list[tuple[str, float]]:
        """The `k` nearest subjects of `gallery` by their templates made by `tag`'s
        embedder: (subject, the cosine distance of its nearest template), nearest first, one
        row per subject. The HNSW index (ef_search candidates) gives the
        CANDIDATES_PER_SUBJECT * k nearest templates, grouped by subject; where that leaves
        fewer than `k` subjects (a small gallery in a big table, whose rows the walk mostly
        did not reach, or fewer subjects than k), the gallery is searched exactly."""
        text = vector_text(vector)
        search, candidates = self.search, max(CANDIDATES_PER_SUBJECT * k, self.rerank)
        sql, params = queries.indexed(TABLE, search), queries.indexed_params(search, text, gallery, tag, candidates, k)

        def work(cur: Any) -> list[tuple[str, float]]:
            for statement in queries.settings(self.options.ef_search, candidates, self.iterative):
                cur.execute(statement)
            cur.execute(sql, params)
            rows = cur.fetchall()
            if len(rows) < k:  # the index's candidates were mostly other galleries' rows
                cur.execute(queries.exact(TABLE), (text, gallery, *tag, k))
                rows = cur.fetchall()
            return [(str(s), float(d)) for s, d in rows]

        return self._run(work)

    def subject_distance(self, gallery: str, subject: str, tag: Tag, vector: np.ndarray) -> tuple[float, int] | None:
        """The nearest of the subject's templates made by `tag`'s embedder (exact):
        (distance, templates compared), or None when the subject has none."""
        text = vector_text(vector)

        def work(cur: Any) -> tuple[float, int] | None:
            cur.execute(
                f"SELECT min(embedding <=> %s::vector), count(*) FROM {TABLE} "
                "WHERE gallery = %s AND subject = %s AND model = %s AND version = %s AND fingerprint = %s",
                (text, gallery, subject, *tag),
            )
            d, n = cur.fetchone()
            return None if d is None else (float(d), int(n))

        return self._run(work)

    def erase(self, gallery: str, subject: str) -> int:
        """Delete every template of the subject (whatever embedder made it); how many."""

        def work(cur: Any) -> int:
            cur.execute(f"DELETE FROM {TABLE} WHERE gallery = %s AND subject = %s", (gallery, subject))
            return int(cur.rowcount)

        return self._run(work)

    def status(self) -> dict[str, Any]:
        """For the detailed health report, from what this instance's last gallery call
        learnt: it opens no connection (a health probe neither wakes a database that scales
        to zero nor waits a connect timeout while it is down). No URL: it may hold a password."""
        now = time.monotonic()
        return {
            "configured": True,
            "used": self._last_use is not None,
            "reachable": self._reachable,  # at the last call; None before the first
            "last_call_s_ago": None if self._last_use is None else round(now - self._last_use, 1),
            "schema_version": self.schema_version,
            "schema_version_expected": schema.LATEST,
            "index": self.index,  # {"m", "ef_construction"} at the first connection; step 4's: 32, 128
            "retry_in_s": round(max(0.0, self._down_until - now), 1),
            "errors": self.errors,
            "idle_connections": len(self._idle),
        }

    def close(self) -> None:
        with self._lock:
            idle, self._idle = self._idle, []
        for conn, _ in idle:
            conn.close()

    # ---- connections --------------------------------------------------------------------

    def _run(self, work: Callable[[Any], T]) -> T:
        """`work(cursor)` in one transaction; 503 with Retry-After when the database fails."""
        import psycopg

        if time.monotonic() < self._down_until:
            raise self._unavailable()
        for attempt in (0, 1):
            conn, kept = None, False
            try:
                conn, kept = self._take()
                with conn.transaction(), conn.cursor() as cur:
                    cur.execute(f"SET LOCAL statement_timeout = {int(self.options.statement_timeout_s * 1000)}")
                    result = work(cur)
            except psycopg.OperationalError as exc:
                if conn is not None:
                    conn.close()
                if kept and attempt == 0:
                    continue  # a kept connection died while the instance idled: once more, fresh
                self._failed(exc)
                self._used(reachable=False)
                raise self._unavailable() from None
            except ServiceError:  # the call refused (a reused idempotency key): rolled back, the connection sound
                if conn is not None:
                    self._give(conn)
                self._used(reachable=True)
                raise
            except BaseException:
                if conn is not None:
                    conn.close()
                self._used(reachable=conn is not None)
                raise
            self._give(conn)
            self._used(reachable=True)
            return result
        raise AssertionError("unreachable")

    def _used(self, *, reachable: bool) -> None:
        global _last_used
        self._last_use, self._reachable, _last_used = time.monotonic(), reachable, self

    def _take(self) -> tuple[Any, bool]:
        """A kept connection young enough to trust, or a new one (schema checked once)."""
        now = time.monotonic()
        with self._lock:
            while self._idle:
                conn, since = self._idle.pop()
                if now - since <= self.options.idle_s and not conn.closed:
                    return conn, True
                conn.close()
        return self._connect(), False

    def _connect(self) -> Any:
        import psycopg

        timeout = max(1, int(self.options.connect_timeout_s))
        conn = psycopg.connect(self.options.url, connect_timeout=timeout, application_name="tflite-functions")
        if not self._migrated:
            applied = schema.migrate(conn)
            with conn.transaction():  # not left open: the calls' own transactions must commit
                self.schema_version = schema.version(conn)
                self.index = schema.index_options(conn)
            self._migrated = True
            if applied:
                event(log, logging.INFO, "gallery schema migrated", applied=applied)
            if self.index is not None and self.index != schema.HNSW:  # a table too big for step 4's rebuild
                message = (
                    "the gallery's HNSW index predates schema step 4 (its table was too big to rebuild in a request); "
                    "rebuild it without blocking: python tools/gallery_reindex.py --url <GALLERY_URL> (docs/scaling.md)"
                )
                event(log, logging.WARNING, message, index=self.index, wanted=schema.HNSW)
        return conn

    def _give(self, conn: Any) -> None:
        with self._lock:
            if len(self._idle) < self.options.pool_size and not conn.closed:
                self._idle.append((conn, time.monotonic()))
                return
        conn.close()

    def _failed(self, exc: BaseException) -> None:
        self.errors += 1
        self._down_until = time.monotonic() + self.options.retry_s
        # The message may name the host; never the URL's password (libpq does not echo it).
        detail = str(exc)[:300]
        event(log, logging.ERROR, "gallery database unavailable", error=type(exc).__name__, detail=detail, retry_s=self.options.retry_s)

    def _unavailable(self) -> ServiceUnavailable:
        message = "the gallery database is unavailable; retry shortly"
        return ServiceUnavailable(message, code="gallery_unavailable", retry_after=max(1.0, self.options.retry_s))


_stores: dict[GalleryOptions, GalleryStore] = {}
_stores_lock = threading.Lock()
_last_used: GalleryStore | None = None  # health reports the store of the last gallery call


def last_status() -> dict[str, Any] | None:
    """The status of the store the last gallery call used (None before any call)."""
    return None if _last_used is None else _last_used.status()


def gallery_store(options: GalleryOptions) -> GalleryStore:
    """The process's store for these options (one set of connections per database)."""
    with _stores_lock:
        store = _stores.get(options)
        if store is None:
            store = _stores[options] = GalleryStore(options)
        return store
