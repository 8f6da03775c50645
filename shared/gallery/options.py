"""Options of the gallery store (light: settings reads their defaults from here without
importing psycopg)."""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from shared.settings import Settings

DIMS = 128  # the vector(128) column: SFace and dlib's ResNet both embed in 128 dims
GALLERY_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]{0,63}")  # also what GALLERY_KEYS may name


@dataclass(frozen=True)
class GalleryOptions:
    """Attributes:
    url: postgresql:// URL of the database ("" = no gallery; `make serve` starts an
        embedded one).
    connect_timeout_s: seconds to open a connection (libpq's connect_timeout, whole seconds).
    statement_timeout_s: longest a gallery query may run before Postgres cancels it.
    retry_s: seconds a failed database is left alone (gallery calls answer 503 with
        Retry-After meanwhile), so an outage costs one timeout per interval.
    pool_size: idle connections kept between requests (0 = a connection per request).
    idle_s: an idle connection older than this is closed instead of reused: a frozen
        instance's connection may have been cut by the database or a NAT meanwhile.
    ef_search: pgvector's hnsw.ef_search for identification (candidates the HNSW walk
        keeps; higher: better recall, slower; measured in docs/scaling.md).
    max_top_k: most matches one identification may ask for.
    """

    url: str = ""
    connect_timeout_s: int = 3
    statement_timeout_s: float = 5.0
    retry_s: float = 5.0
    pool_size: int = 1
    idle_s: float = 60.0
    ef_search: int = 400
    max_top_k: int = 100

    @classmethod
    def from_settings(cls, settings: Settings) -> GalleryOptions:
        return cls(
            url=settings.gallery_url,
            connect_timeout_s=settings.gallery_connect_timeout_s,
            statement_timeout_s=settings.gallery_statement_timeout_s,
            retry_s=settings.gallery_retry_s,
            pool_size=settings.gallery_pool_size,
            ef_search=settings.gallery_ef_search,
        )


@dataclass(frozen=True)
class GalleryAccess:
    """What one request may do with galleries. Attributes: options (the store's); scope:
    the galleries the request's API key may use (None = every one: the instance's API_KEY,
    or no GALLERY_KEYS set; empty = none: GALLERY_KEYS are set and the request sent none of them)."""

    options: GalleryOptions
    scope: frozenset[str] | None = None
