"""The one bundle.json reader (shared/runtime/manifest.py): numbers JSON cannot hold are kept
as markers and refused with their path; each typed getter names the field, what it held and
what was expected. Pure: no model, no file."""

from __future__ import annotations

import json

import pytest

from shared.errors import BundleError
from shared.runtime.manifest import Manifest, NonFinite, read_manifest, refuse_non_finite


def reason(call) -> str:
    with pytest.raises(BundleError) as caught:
        call()
    return caught.value.reason


@pytest.mark.parametrize("written", ["NaN", "Infinity", "-Infinity", "1e999", "-1e999"])
def test_numbers_json_cannot_hold_are_kept_as_written_and_refused_with_their_path(written):
    meta = read_manifest(f'{{"name": "x", "threshold": {{"value": {written}}}, "list": [1, {written}]}}'.encode())
    assert isinstance(meta["threshold"]["value"], NonFinite) and repr(meta["threshold"]["value"]) == written
    assert reason(lambda: refuse_non_finite(meta)) == f"bundle.json threshold.value is {written}; JSON numbers must be finite"
    del meta["threshold"]
    assert reason(lambda: refuse_non_finite(meta)) == f"bundle.json list[1] is {written}; JSON numbers must be finite"


def test_finite_numbers_read_as_python_json_reads_them():
    text = '{"a": 0.1, "b": 3, "c": -2.5e-3, "d": [1.0, 2], "e": 1e308}'
    assert read_manifest(text.encode()) == json.loads(text)
    refuse_non_finite(read_manifest(text.encode()))


@pytest.mark.parametrize("raw, named", [(b"{", "not valid JSON"), (b"[1]", "must hold a JSON object"), (b"\xff", "not valid JSON")])
def test_a_file_that_is_not_a_json_object_is_named(raw, named):
    assert named in reason(lambda: read_manifest(raw))


def test_number_names_the_field_what_it_held_and_the_interval():
    m = Manifest(read_manifest(b'{"threshold": {"value": NaN, "low": -1, "text": "0.5", "flag": true, "ok": 0.64}}'))
    spec = m.at("threshold")
    assert spec.number("ok", gt=0, le=2) == 0.64
    assert reason(lambda: spec.number("value", gt=0, le=2)) == "bundle.json threshold.value is NaN; expected a finite number in (0, 2]"
    assert reason(lambda: spec.number("low", ge=0)) == "bundle.json threshold.low is -1; expected a finite number >= 0"
    assert reason(lambda: spec.number("text")) == "bundle.json threshold.text is '0.5'; expected a finite number"
    assert reason(lambda: spec.number("flag", lt=1)) == "bundle.json threshold.flag is True; expected a finite number < 1"
    assert reason(lambda: spec.number("gone", ge=0, lt=1)) == "bundle.json threshold.gone is missing; expected a finite number in [0, 1)"
    assert spec.number("gone", default=0.5) == 0.5


def test_a_nan_built_in_python_is_refused_too():
    assert "is nan; expected a finite number" in reason(lambda: Manifest({"v": float("nan")}).number("v"))
    assert "is inf; expected a finite number" in reason(lambda: Manifest({"v": [1.0, float("inf")]}).numbers("v"))


def test_integer_flag_text_and_choice_take_only_their_own_type():
    m = Manifest({"n": 2, "f": 2.0, "b": True, "s": "false", "e": "", "c": "cosine", "null": None})
    assert m.integer("n", ge=1) == 2
    assert reason(lambda: m.integer("f")) == "bundle.json f is 2.0; expected an integer"
    assert reason(lambda: m.integer("b")) == "bundle.json b is True; expected an integer"
    assert reason(lambda: m.integer("n", ge=3, le=5)) == "bundle.json n is 2; expected an integer in [3, 5]"
    assert m.flag("b") is True and m.flag("null", default=False) is False
    assert reason(lambda: m.flag("s")) == "bundle.json s is 'false'; expected true or false"
    assert reason(lambda: m.text("e")) == "bundle.json e is ''; expected a non-empty string"
    assert m.choice("c", ("cosine", "euclidean")) == "cosine"
    assert reason(lambda: m.choice("s", ("cosine", "euclidean"))) == "bundle.json s is 'false'; expected one of cosine, euclidean"


def test_lists_name_the_item_at_fault():
    m = Manifest({"pre": {"size": [128, 96], "range": [-1, NonFinite("NaN")], "labels": ["a", 3], "one": [1]}})
    pre = m.at("pre")
    assert reason(lambda: pre.square("size")) == "bundle.json pre.size is [128, 96]; expected a square size [n, n]"
    assert reason(lambda: pre.numbers("range", length=2)) == "bundle.json pre.range[1] is NaN; expected a finite number"
    assert reason(lambda: pre.texts("labels")) == "bundle.json pre.labels[1] is 3; expected a non-empty string"
    assert reason(lambda: pre.integers("one", length=2)) == "bundle.json pre.one is [1]; expected a list of 2 integers"
    assert pre.integers("size", length=2, ge=1) == (128, 96)


def test_objects_required_optional_and_nested_are_named_from_the_root():
    m = Manifest({"post": {"rect": {"scale": "big"}, "none": None}})
    assert reason(lambda: m.at("pre")) == "bundle.json pre is missing; expected an object"
    assert reason(lambda: m.at("post.rect.scale")) == "bundle.json post.rect.scale is 'big'; expected an object"
    assert m.at("post.none", optional=True).fields() == [] and not m.has("post.none")
    assert reason(lambda: m.at("post").at("rect").numbers("scale")) == (
        "bundle.json post.rect.scale is 'big'; expected a list of at least 1 finite numbers"
    )


def test_tensor_names_one_of_the_models_tensors():
    from shared.runtime.tflite import TensorSpec

    specs = [TensorSpec("regressors", (1, 896, 16), "float32"), TensorSpec("classificators", (1, 896, 1), "float32")]
    m = Manifest({"out": {"boxes": "regressors", "scores": "scores"}})
    assert m.tensor("out.boxes", specs) == 0
    assert reason(lambda: m.tensor("out.scores", specs)) == (
        "bundle.json out.scores is 'scores'; expected the name of one of the model's tensors (regressors, classificators)"
    )
