"""Identification's SQL, by the index that serves it (`SEARCHES`), and the settings of its
transaction.

- "vector": the HNSW index on the `vector(128)` column (steps 2 and 4): the nearest
  `candidates` templates by the index's walk, grouped by subject.
- "halfvec": an HNSW index on the column cast to `halfvec(128)` (pgvector 0.7+): the walk
  over half-precision copies (half the index's vector bytes), its candidates ranked again by
  the exact float32 distance, which is what the answer reports.
- "bit": an HNSW index on `binary_quantize(embedding)::bit(128)` by Hamming distance
  (pgvector 0.7+): a 16-byte code per template; the walk's `candidates` are re-ranked by the
  exact distance. Measured in docs/scaling.md, and not used by the store: 128 sign bits of a
  face template lose its nearest neighbour among many (below 99% at 100,000 even by exact
  Hamming search over every row).

`iterative`: pgvector 0.8's iterative index scan (`hnsw.iterative_scan`): when the query's
filter (another gallery's or embedder's rows) leaves fewer rows than asked for, the walk goes
on instead of returning short (the store then falls back to exact search less often).
"""

from __future__ import annotations

SEARCHES = ("vector", "halfvec", "bit")
WHERE = "WHERE gallery = %s AND model = %s AND version = %s AND fingerprint = %s"
_ORDER = {
    "halfvec": "embedding::halfvec(128) <=> %s::halfvec(128)",
    "bit": "binary_quantize(embedding)::bit(128) <~> binary_quantize(%s::vector)::bit(128)",
}


def indexed(table: str, search: str) -> str:
    """The index query; parameters (vector text, gallery, *tag, candidates, k) for "vector",
    (vector text, vector text, gallery, *tag, candidates, k) for the others (the exact
    distance computed on the candidates)."""
    if search == "vector":
        return (
            f"SELECT subject, min(d) FROM (SELECT subject, embedding <=> %s::vector AS d FROM {table} {WHERE} "
            "ORDER BY d LIMIT %s) AS near GROUP BY subject ORDER BY 2 LIMIT %s"
        )
    return (
        f"SELECT subject, min(embedding <=> %s::vector) FROM (SELECT subject, embedding FROM {table} {WHERE} "
        f"ORDER BY {_ORDER[search]} LIMIT %s) AS near GROUP BY subject ORDER BY 2 LIMIT %s"
    )


def indexed_params(search: str, text: str, gallery: str, tag: tuple[str, ...], candidates: int, k: int) -> tuple:
    """The parameters of `indexed(table, search)`, in order."""
    if search == "vector":
        return (text, gallery, *tag, candidates, k)
    return (text, gallery, *tag, text, candidates, k)


def exact(table: str) -> str:
    """Exact search of one gallery (no index); parameters (vector text, gallery, *tag, k)."""
    return f"SELECT subject, min(embedding <=> %s::vector) FROM {table} {WHERE} GROUP BY subject ORDER BY 2 LIMIT %s"


def settings(ef_search: int, candidates: int, iterative: bool = False) -> list[str]:
    """SET LOCALs of one identification: the walk keeps max(ef_search, candidates) (at most
    pgvector's 1,000); `iterative` adds 0.8's relaxed-order iterative scan (the query
    re-sorts its candidates, so relaxed order loses nothing)."""
    out = [f"SET LOCAL hnsw.ef_search = {min(1000, max(int(ef_search), int(candidates)))}"]
    if iterative:
        out.append("SET LOCAL hnsw.iterative_scan = relaxed_order")
    return out
