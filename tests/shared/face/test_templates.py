"""Templates on the wire, the gallery distances and the confidence curve: pure maths and
parsing, no model (shared/face/templates.py, embed.distances_to, contract.confidence_of)."""

from __future__ import annotations

import base64
import json

import numpy as np
import pytest

from shared.edge.requests import parse_json
from shared.errors import BadRequest, PayloadTooLarge, Unprocessable
from shared.face.contract import EmbedderContract
from shared.face.embed import DISTANCES, distances_to
from shared.face.templates import TemplateTag, read_references, read_template, to_template

TAG = TemplateTag("face-embedder-sface", "1.0.0", "f4c1b6d9360f", 8)


def vectors(n: int, dims: int = 8, seed: int = 3) -> np.ndarray:
    return np.random.default_rng(seed).standard_normal((n, dims)).astype(np.float32)


def test_a_template_reads_back_as_the_same_float32_numbers():
    v = vectors(50)
    for row in v:
        wire = json.loads(json.dumps(to_template(row, TAG)))  # through JSON text, as a client stores it
        assert np.array_equal(read_template(wire, "img2", TAG), row)


def test_values_b64_reads_back_as_the_same_numbers():
    row = vectors(1)[0]
    wire = {
        **{k: v for k, v in to_template(row, TAG).items() if k != "values"},
        "values_b64": base64.b64encode(row.astype("<f4").tobytes()).decode(),
    }
    assert np.array_equal(read_template(wire, "img2", TAG), row)


@pytest.mark.parametrize("metric", ["cosine", "euclidean"])
def test_gallery_distances_equal_the_pairwise_ones(metric):
    gallery, probe = vectors(200), vectors(1, seed=9)[0]
    d = distances_to(probe, gallery, metric)
    pairwise = np.array([DISTANCES[metric](probe, g) for g in gallery])
    assert d.shape == (200,) and np.max(np.abs(d - pairwise)) < 1e-12


def test_gallery_cosine_of_a_zero_row_is_one_not_nan():
    gallery = np.vstack([np.zeros(8, np.float32), vectors(1)[0]])
    d = distances_to(vectors(1, seed=5)[0], gallery, "cosine")
    assert d[0] == 1.0 and np.isfinite(d).all()


def _wire(**changes) -> dict:
    out = {**to_template(vectors(1)[0], TAG), **changes}
    return {k: v for k, v in out.items() if v is not None}


@pytest.mark.parametrize(
    "value, error, words",
    [
        ([0.1] * 8, BadRequest, "template object"),
        (_wire(dims=None), BadRequest, "lacks dims"),
        (_wire(extra=1), BadRequest, "unknown key"),
        (_wire(values_b64="AAAA"), BadRequest, "exactly one of values or values_b64"),
        (_wire(version=1), BadRequest, "version must be a string"),
        (_wire(model="face-embedder-dlib"), Unprocessable, "face-embedder-dlib"),
        (_wire(fingerprint="0" * 12), Unprocessable, "fingerprint 000000000000"),
        (_wire(dims=9), BadRequest, "dims must be 8"),
        (_wire(dims=True), BadRequest, "dims must be 8"),
        (_wire(values=[0.1] * 7), BadRequest, "holds 7 numbers; expected 8"),
        (_wire(values=[True] + [0.1] * 7), BadRequest, "found bool"),
        (_wire(values=["0.1"] + [0.1] * 7), BadRequest, "found str"),
        (_wire(values=[None] + [0.1] * 7), BadRequest, "found NoneType"),
        (_wire(values=[float("nan")] + [0.1] * 7), BadRequest, "NaN"),
        (_wire(values=[float("inf")] + [0.1] * 7), BadRequest, "infinity"),
        (_wire(values=[1e39] + [0.1] * 7), BadRequest, "float32"),
        (_wire(values=[0] * 8), BadRequest, "zero vector"),
        (_wire(values=None, values_b64="not base64!"), BadRequest, "not valid base64"),
        (_wire(values=None, values_b64=base64.b64encode(b"\0" * 28).decode()), BadRequest, "28 bytes"),
        (_wire(values=None, values_b64=base64.b64encode(np.full(8, np.nan, "<f4").tobytes()).decode()), BadRequest, "NaN"),
    ],
)
def test_malformed_templates_are_refused_naming_the_problem(value, error, words):
    with pytest.raises(error) as caught:
        read_template(value, "img2", TAG)
    assert words in caught.value.message and caught.value.message.startswith("img2")


def _refs(n: int) -> list[dict]:
    return [{"id": f"r{i}", "template": to_template(v, TAG)} for i, v in enumerate(vectors(n))]


def test_references_become_one_matrix_in_order():
    refs = _refs(30)
    gallery = read_references(refs, TAG, 30)
    assert gallery.ids == [f"r{i}" for i in range(30)] and np.array_equal(gallery.vectors, vectors(30))


def test_references_problems_name_the_reference_at_fault():
    refs = _refs(5)
    refs[3]["template"]["values"][2] = "x"
    with pytest.raises(BadRequest, match=r"references\[3\]\.template\.values must hold numbers only"):
        read_references(refs, TAG, 10)
    refs = _refs(5)
    refs[4]["template"]["values"] = [0.0] * 8
    with pytest.raises(BadRequest, match=r"references\[4\]\.template is a zero vector"):
        read_references(refs, TAG, 10)
    refs = [*_refs(3), {"id": "r1", "template": to_template(vectors(1)[0], TAG)}]
    with pytest.raises(BadRequest, match="more than once"):
        read_references(refs, TAG, 10)
    with pytest.raises(PayloadTooLarge) as caught:
        read_references(_refs(11), TAG, 10)
    assert caught.value.code == "too_many_references"


def test_an_overflowing_number_parsed_by_the_c_parser_is_refused_by_the_template_check():
    raw = json.dumps({"img2": _wire(values=[0.5] * 8)}).replace("0.5,", "1e400,", 1).encode()
    data = parse_json(raw, 1000, float32_floats=False)
    with pytest.raises(BadRequest, match="infinity"):
        read_template(data["img2"], "img2", TAG)
    with pytest.raises(BadRequest, match="float32"):
        parse_json(raw, 1000)  # the strict default refuses it while parsing


def test_confidence_is_the_fitted_logistic_curve():
    meta = {
        "preprocessing": {"size": 112, "crop": "arcface"},
        "output": {"dims": 128},
        "threshold": {"metric": "cosine", "value": 0.64},
        "confidence": {"kind": "logistic", "intercept": 27.0, "slope": -40.0},
    }
    contract = EmbedderContract.from_meta(meta)
    assert contract.confidence_of(27.0 / 40.0) == pytest.approx(0.5)
    assert contract.confidence_of(0.0) > 0.999999 and contract.confidence_of(2.0) < 1e-20
    assert EmbedderContract.from_meta({k: v for k, v in meta.items() if k != "confidence"}).confidence_of(0.3) is None


def packed(rows: np.ndarray, ids: list | None = None, **changes) -> dict:
    out = {
        "ids": ids if ids is not None else [f"r{i}" for i in range(len(rows))],
        "model": TAG.model,
        "version": TAG.version,
        "fingerprint": TAG.fingerprint,
        "dims": TAG.dims,
        "values_b64": base64.b64encode(np.asarray(rows, "<f4").tobytes()).decode(),
        **changes,
    }
    return {k: v for k, v in out.items() if v is not None}


def test_a_packed_gallery_is_the_same_gallery_as_the_list():
    rows = vectors(40)
    listed, one = read_references(_refs(40), TAG, 40), read_references(packed(rows), TAG, 40)
    assert one.ids == listed.ids and np.array_equal(one.vectors, listed.vectors)


@pytest.mark.parametrize(
    "value, error, words",
    [
        (packed(vectors(3), extra=1), BadRequest, "packed gallery with exactly"),
        (packed(vectors(3), model="face-embedder-dlib"), Unprocessable, "face-embedder-dlib"),
        (packed(vectors(3), ids="r0,r1,r2"), BadRequest, "non-empty list"),
        (packed(vectors(3), ids=["a", 2, "c"]), BadRequest, "strings of 1 to 256"),
        (packed(vectors(3), ids=["a", "", "c"]), BadRequest, "strings of 1 to 256"),
        (packed(vectors(3), ids=["a", "a", "c"]), BadRequest, "more than once"),
        (packed(vectors(3), ids=["a", "b"]), BadRequest, "2 ids x 8 float32 = 64 bytes"),
        (packed(np.vstack([vectors(2), np.full((1, 8), np.inf)])), BadRequest, "row 2"),
        (packed(np.vstack([np.zeros((1, 8)), vectors(2)])), BadRequest, "row 0"),
        (packed(vectors(3), values_b64=3), BadRequest, "base64 string"),
    ],
)
def test_malformed_packed_galleries_are_refused_naming_the_problem(value, error, words):
    with pytest.raises(error) as caught:
        read_references(value, TAG, 10)
    assert words in caught.value.message, caught.value.message


def test_a_packed_gallery_over_the_limit_is_413():
    with pytest.raises(PayloadTooLarge):
        read_references(packed(vectors(11)), TAG, 10)
