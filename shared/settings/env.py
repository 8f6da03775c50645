"""Reading one environment variable: parsed explicitly, checked, named in every error.
The settings package's own helpers (shared/settings/__init__.py reads each variable once,
through these); nothing else in the library reads the environment.
"""

from __future__ import annotations

import os
from typing import Any


class SettingsError(ValueError):
    """An environment variable holds a value that cannot be used."""


def text(name: str, default: str) -> str:
    return os.environ.get(name, default).strip()


def choice(name: str, allowed: tuple[str, ...], default: str = "") -> str:
    value = text(name, "").strip() or default
    if value not in allowed:
        raise SettingsError(f"{name} must be one of {', '.join(a for a in allowed if a)} (or unset), got {value!r}")
    return value


def flag(name: str, default: bool) -> bool:
    """A boolean setting: true/false, 1/0, yes/no, on/off (never by truthiness)."""
    raw = text(name, "").lower()
    if not raw:
        return default
    if raw in ("1", "true", "yes", "on"):
        return True
    if raw in ("0", "false", "no", "off"):
        return False
    raise SettingsError(f"{name} must be true or false, got {raw!r}")


def origins(name: str) -> tuple[str, ...]:
    """Browser origins (CORS): comma-separated `scheme://host[:port]` (http or https, no
    path, no trailing slash: as a browser sends its Origin header), lower-cased; or `*` alone."""
    raw = text(name, "")
    entries = tuple(e.strip().lower() for e in raw.split(",") if e.strip())
    if "*" in entries:
        if len(entries) > 1:
            raise SettingsError(f"{name}: '*' allows every origin and must stand alone, got {raw!r}")
        return entries
    for entry in entries:
        scheme, sep, rest = entry.partition("://")
        if scheme not in ("http", "https") or not sep or not rest or any(c in rest for c in "/?#@ "):
            raise SettingsError(
                f"{name}: {entry!r} is not an origin; expected scheme://host[:port] as a browser sends it "
                "(http or https, no path, no trailing slash), e.g. https://app.example.com"
            )
    return entries


def number(name: str, default: float, kind: type, low: float, high: float) -> Any:
    raw = os.environ.get(name, "").strip()
    if not raw:
        return kind(default)
    try:
        value = kind(raw)
    except ValueError:
        raise SettingsError(f"{name} must be a {kind.__name__}, got {raw!r}") from None
    if not low <= value <= high:
        raise SettingsError(f"{name} must be between {low} and {high}, got {raw!r}")
    return value


def redis_url() -> str:
    url = text("REDIS_URL", "")
    if url and not url.startswith(("redis://", "rediss://", "unix://")):
        # The value may hold a password: only its scheme goes into the message.
        raise SettingsError(f"REDIS_URL must start with redis://, rediss:// or unix://, got {url.split(':', 1)[0]!r}...")
    return url


# Set by platforms whose front end appends the client's address to X-Forwarded-For:
# K_SERVICE by Cloud Run (services and functions) and Knative, RENDER by Render.
FRONT_END_MARKERS = ("K_SERVICE", "RENDER")


def proxy_hops() -> int:
    """RATE_LIMIT_PROXY_HOPS, or by default 1 where a known platform's front end appends
    the client's address to X-Forwarded-For, 0 elsewhere: a server reached directly (a
    container with a public IP, a VM) would otherwise count whatever the client wrote."""
    default = 1 if any(os.environ.get(name, "").strip() for name in FRONT_END_MARKERS) else 0
    return number("RATE_LIMIT_PROXY_HOPS", default, int, 0, 10)


def rate_limits() -> str:
    """RATE_LIMITS as the `limits` library parses it (checked now, at start)."""
    value = text("RATE_LIMITS", "")
    if value:
        from limits import parse_many  # only when limits are configured

        try:
            parse_many(value)
        except ValueError:
            raise SettingsError(f"RATE_LIMITS must look like '20/hour;100/day' (amount/period, ';'-separated), got {value!r}") from None
    return value


def gallery_url() -> str:
    """GALLERY_URL: a postgresql:// (or postgres://) URL, or empty (no gallery)."""
    url = text("GALLERY_URL", "")
    if url and not url.startswith(("postgresql://", "postgres://")):
        # The value may hold a password: only its scheme goes into the message.
        raise SettingsError(f"GALLERY_URL must start with postgresql:// or postgres://, got {url.split(':', 1)[0]!r}...")
    return url


def gallery_keys(name_pattern: Any) -> tuple[tuple[str, frozenset[str]], ...]:
    """GALLERY_KEYS: `galleries=key` entries, ';'-separated, each naming the galleries
    (comma-separated, matching `name_pattern`) its API key may use, e.g.
    "shop-a=k3yA;shop-b,shop-b-test=k3yB". A key is everything after the first '='."""
    entries: list[tuple[str, frozenset[str]]] = []
    for entry in (e.strip() for e in text("GALLERY_KEYS", "").split(";")):
        if not entry:
            continue
        names, sep, key = entry.partition("=")
        galleries = frozenset(n.strip() for n in names.split(",") if n.strip())
        if not sep or not key.strip() or not galleries or not all(name_pattern.fullmatch(g) for g in galleries):
            # Never echo the entry: it holds a key.
            raise SettingsError(
                f"GALLERY_KEYS entry {len(entries) + 1} must be 'gallery[,gallery...]=key' with gallery names of "
                "letters, digits, '_', '.', '-' (up to 64, starting with a letter or digit)"
            )
        entries.append((key.strip(), galleries))
    if len({key for key, _ in entries}) != len(entries):
        raise SettingsError("GALLERY_KEYS names one key twice; give each tenant one entry")
    return tuple(entries)
