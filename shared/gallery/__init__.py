"""Galleries of face templates kept in Postgres with pgvector (GALLERY_URL): enrol once,
identify among many, verify against a subject, erase a subject.

Plain storage of (gallery, subject, embedder tag, vector) rows: nothing here knows a face,
a photo or a request. `options.py` is light (settings reads it); `schema.py` holds the
migrations; `store.py` the connections and queries (psycopg, imported on first use).
"""
