"""docs/openapi.yaml against the served functions: schemathesis generates requests from the
description and checks every answer: never a 5xx other than a documented 503, status codes
and content types the description lists, bodies that match its response schemas.

Each function runs under functions-framework (gunicorn) in a subprocess on a loopback
port, as deployed; a function answers on every path, so `/verify_face` reaches it too.
"""

from __future__ import annotations

from pathlib import Path

import pytest

schemathesis = pytest.importorskip("schemathesis")
from hypothesis import HealthCheck, settings  # noqa: E402
from schemathesis.checks import not_a_server_error  # noqa: E402
from schemathesis.specs.openapi.checks import (  # noqa: E402
    content_type_conformance,
    response_schema_conformance,
    status_code_conformance,
)

from tools.measure import harness  # noqa: E402

SPEC = Path(__file__).resolve().parents[1] / "docs" / "openapi.yaml"
EXAMPLES = 25  # per operation: CI time, not coverage, bounds this
CHECKS = [not_a_server_error, status_code_conformance, content_type_conformance, response_schema_conformance]

schema = schemathesis.openapi.from_path(SPEC)


@pytest.fixture(scope="module")
def servers(postgres_server):
    # verify_face with a real gallery database, so the generated gallery calls reach it.
    env = {"verify_face": {"GALLERY_URL": postgres_server.create_database("openapi_gallery")}}
    started = {name: harness.start(name, env=env.get(name, {})) for name in harness.FUNCTIONS}
    yield started
    for server in started.values():
        server.stop()


def test_description_covers_both_functions_and_every_status():
    ops = {(op.method.upper(), op.path) for op in (r.ok() for r in schema.get_all_operations())}
    assert ops == {(method, path) for method in ("GET", "POST", "OPTIONS") for path in ("/verify_face", "/predict_gesture")}
    for path in ("/verify_face", "/predict_gesture"):
        statuses = set(schema.raw_schema["paths"][path]["post"]["responses"])
        assert {"200", "400", "401", "413", "415", "422", "503"} <= statuses


def test_description_covers_the_verify_request_shapes():
    """The verify shapes are in the description, so schemathesis generates them: a template
    as img2, references, return_embeddings and max_faces (issue 14); a liveness challenge and
    burst (issue 26); the gallery calls (issue 28); every answer schema."""
    post = schema.raw_schema["paths"]["/verify_face"]["post"]
    shapes = post["requestBody"]["content"]["application/json"]["schema"]["oneOf"]
    assert [b["$ref"].rsplit("/", 1)[1] for b in shapes] == ["VerifyRequest", "ChallengeRequest", "BurstRequest"]
    body = schema.raw_schema["components"]["schemas"]["VerifyRequest"]
    assert "required" not in body  # img1 is, but for a gallery's delete (issue 28): the function says so
    assert {"img2", "references", "return_embeddings", "max_faces"} <= set(body["properties"])
    assert {"$ref": "#/components/schemas/Template"} in body["properties"]["img2"]["oneOf"]
    answers = post["responses"]["200"]["content"]["application/json"]["schema"]["oneOf"]
    names = [a["$ref"].rsplit("/", 1)[1] for a in answers]
    assert names == [
        "Verification",
        "Search",
        "PhotoFaces",
        "Challenge",
        "LiveVerification",
        "Enrolment",
        "Identification",
        "GalleryVerification",
        "Erasure",
    ]
    burst = schema.raw_schema["components"]["schemas"]["BurstRequest"]
    assert burst["required"] == ["frames", "challenge", "img2"] and {"403", "409"} <= set(post["responses"])


def test_description_covers_the_gallery_request_shapes():
    """Issue 28's shapes: gallery, enroll, subject, delete, top_k; a template as img1 (enrolment)."""
    post = schema.raw_schema["paths"]["/verify_face"]["post"]
    verify = schema.raw_schema["components"]["schemas"]["VerifyRequest"]
    for properties in (post["requestBody"]["content"]["multipart/form-data"]["schema"]["properties"], verify["properties"]):
        assert {"gallery", "enroll", "subject", "delete", "top_k"} <= set(properties)
    assert {"$ref": "#/components/schemas/Template"} in verify["properties"]["img1"]["oneOf"]
    assert {"403", "404"} <= set(post["responses"])


@schema.parametrize()
@settings(max_examples=EXAMPLES, deadline=None, derandomize=True, suppress_health_check=list(HealthCheck))
def test_served_functions_conform_to_the_description(case, servers):
    server = servers[case.path.strip("/")]
    response = case.call_and_validate(base_url=server.url.rstrip("/"), checks=CHECKS, timeout=60)
    if response.status_code == 503:  # documented, but only for a model that cannot load: not expected here
        pytest.fail(f"503 from {case.path}: {response.text[:300]}")
    assert server.worker_pids() == server.started_workers, "the worker restarted"
