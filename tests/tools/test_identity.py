"""tools/measure/identity.py: the check that a performance change leaves every detection and
embedding bit-identical must see a change when there is one."""

from __future__ import annotations

from tools.measure import identity

PHOTOS = ("obama.jpg", "biden.jpg", "obama_partial_face.jpg")


def test_the_same_tree_gives_the_same_records_and_another_embedder_does_not(face_photos):
    paths = [face_photos / name for name in PHOTOS]
    first, again = identity.records(identity.ROOT, paths), identity.records(identity.ROOT, paths)
    assert first == again
    assert len(first) == len(PHOTOS) and all("embedding" in r for r in first.values())
    other = identity.records(identity.ROOT, paths, env={"FACE_EMBEDDER_MODEL": "models/face-embedder-sface-int8"})
    changed = [p for p in first if first[p] != other[p]]
    assert changed == list(first)  # a different embedder: every embedding differs
    assert all(first[p]["faces"] == other[p]["faces"] for p in first)  # while the detections stay
