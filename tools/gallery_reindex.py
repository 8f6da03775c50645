#!/usr/bin/env python3
"""Rebuild a gallery database's HNSW index with schema step 4's options (m 32,
ef_construction 128) without blocking it (issue 28).

Step 4 rebuilds the index inside the migration only on a table of up to
shared/gallery/schema.py's REBUILD_ROW_LIMIT rows; a bigger table keeps step 2's index
(m 16, ef_construction 64) and every instance logs a warning naming this command. It runs
schema.rebuild_statements() one by one in autocommit: CREATE INDEX CONCURRENTLY beside the
old index (identification and enrolment go on meanwhile, on the old one), DROP INDEX
CONCURRENTLY of the old one, a rename. Give the build memory for the whole graph
(--maintenance-mem; a 1M-template m 32 graph needs a few GB) or it slows down many times
once it spills; a failed run leaves an INVALID new index that the next run drops first.

    python tools/gallery_reindex.py --url "$GALLERY_URL" --check           # which index is in use
    python tools/gallery_reindex.py --url "$GALLERY_URL" --maintenance-mem 4GB
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--url", default=os.environ.get("GALLERY_URL", ""), help="the gallery database (default: $GALLERY_URL)")
    parser.add_argument("--maintenance-mem", default="2GB", help="maintenance_work_mem for the build (the graph should fit)")
    parser.add_argument("--check", action="store_true", help="only say which index is in use and whether it needs the rebuild")
    args = parser.parse_args(argv)
    if not args.url:
        print("no database: pass --url or set GALLERY_URL", file=sys.stderr)
        return 2
    import psycopg

    from shared.gallery import schema

    with psycopg.connect(args.url, autocommit=True) as conn:
        if schema.version(conn) < 4:
            print("the schema is older than step 4: a gallery call migrates it first", file=sys.stderr)
            return 2
        index = schema.index_options(conn)
        print(f"{schema.INDEX}: {index}; wanted {schema.HNSW}")
        if args.check or index == schema.HNSW:
            return 0 if index == schema.HNSW else 1
        for sql in schema.rebuild_statements(args.maintenance_mem):
            started = time.perf_counter()
            conn.execute(sql)
            print(f"{time.perf_counter() - started:8.1f} s  {sql}", flush=True)
        print(f"{schema.INDEX}: {schema.index_options(conn)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
