"""CORS over HTTP, through the served functions (functions-framework under gunicorn, the
serving harness): preflights answered without the API key, the allowed origin on every
answer (success, health and errors, Retry-After readable), `Vary: Origin`, and nothing for
an origin not allowed or when CORS_ORIGINS is unset (the default)."""

from __future__ import annotations

import http.client
import json

import pytest
from functions_framework import create_app

from shared.settings import Settings, SettingsError, get_settings
from tools.measure import harness

PAGE = "http://127.0.0.1:8082"
OTHER = "https://app.example.com"
KEY = "cors-test-key"
LIMIT = 65536  # MAX_REQUEST_BYTES of the gesture server: a 413 answered to a browser too
HAND = json.loads((harness.ROOT / "docs" / "examples" / "hand-open.json").read_text())


def call(server, method: str, headers: dict[str, str] | None = None, body: bytes | None = None) -> tuple[int, dict[str, str], bytes]:
    conn = http.client.HTTPConnection("127.0.0.1", server.port, timeout=120)
    try:
        conn.request(method, "/", body=body, headers=headers or {})
        response = conn.getresponse()
        return response.status, dict(response.getheaders()), response.read()
    finally:
        conn.close()


def preflight(origin: str, method: str = "POST") -> dict[str, str]:
    return {"Origin": origin, "Access-Control-Request-Method": method, "Access-Control-Request-Headers": "content-type,x-api-key"}


def post_json(origin: str | None, key: str | None = KEY) -> dict[str, str]:
    headers = {"Content-Type": "application/json"}
    if origin:
        headers["Origin"] = origin
    if key:
        headers["X-API-Key"] = key
    return headers


@pytest.fixture(scope="module")
def servers():
    """verify_face and predict_gesture allowing two origins, with an API key; predict_gesture
    without CORS_ORIGINS (the default); predict_gesture allowing `*` on a tier too small to
    take work (every POST is a 503 with Retry-After)."""
    allowed = {"CORS_ORIGINS": f"{PAGE}, {OTHER.upper()}", "API_KEY": KEY}
    started = {
        "verify_face": harness.start("verify_face", env=allowed),
        "predict_gesture": harness.start("predict_gesture", env={**allowed, "MAX_REQUEST_BYTES": str(LIMIT)}),
        "default": harness.start("predict_gesture", env={"CORS_ORIGINS": ""}),
        "any": harness.start("predict_gesture", env={"CORS_ORIGINS": "*", "MEMORY_LIMIT_MB": "32"}),
    }
    yield started
    for server in started.values():
        server.stop()


@pytest.mark.parametrize("function", ["verify_face", "predict_gesture"])
@pytest.mark.parametrize("origin", [PAGE, OTHER])
def test_a_preflight_from_an_allowed_origin_is_204_naming_methods_and_headers_without_the_key(servers, function, origin):
    status, headers, body = call(servers[function], "OPTIONS", preflight(origin))
    assert status == 204 and body == b""
    assert headers["Access-Control-Allow-Origin"] == origin
    assert headers["Access-Control-Allow-Methods"] == "GET, HEAD, POST, OPTIONS"
    assert {h.strip().lower() for h in headers["Access-Control-Allow-Headers"].split(",")} == {"content-type", "x-api-key"}
    assert int(headers["Access-Control-Max-Age"]) > 0
    assert headers["Vary"] == "Origin"
    assert "Access-Control-Allow-Credentials" not in headers


@pytest.mark.parametrize("function", ["verify_face", "predict_gesture", "default"])
def test_a_preflight_from_another_origin_is_a_403_json_without_cors_headers(servers, function):
    status, headers, body = call(servers[function], "OPTIONS", preflight("https://evil.example"))
    assert status == 403
    error = json.loads(body)["error"]
    assert error["code"] == "origin_not_allowed" and "https://evil.example" in error["message"] and "CORS_ORIGINS" in error["message"]
    assert not any(h.startswith("Access-Control-") for h in headers)


def test_options_without_an_origin_names_the_methods(servers):
    status, headers, _ = call(servers["default"], "OPTIONS")
    assert status == 204 and headers["Allow"] == "GET, HEAD, POST, OPTIONS"
    assert not any(h.startswith("Access-Control-") for h in headers)


def test_an_answer_to_an_allowed_origin_carries_it(servers):
    status, headers, body = call(servers["predict_gesture"], "POST", post_json(PAGE), json.dumps(HAND).encode())
    assert status == 200 and json.loads(body)["label"] == "Open"
    assert headers["Access-Control-Allow-Origin"] == PAGE and headers["Vary"] == "Origin"
    exposed = {h.strip() for h in headers["Access-Control-Expose-Headers"].split(",")}
    assert {"Retry-After", "RateLimit-Remaining", "RateLimit-Reset"} <= exposed


@pytest.mark.parametrize(
    ("function", "headers", "body", "expected"),
    [
        ("verify_face", post_json(PAGE, key=None), b"{}", (401, "unauthorized")),
        ("verify_face", post_json(PAGE), b'{"img1": "", "img2": "x"}', (400, "bad_request")),
        ("predict_gesture", post_json(PAGE), b'{"landmarks": []}', (422, "no_frames")),
        ("predict_gesture", post_json(PAGE), b'{"features": [' + b"[0,0]," * (LIMIT // 5) + b"[0,0]]}", (413, "payload_too_large")),
        ("predict_gesture", {**post_json(PAGE), "Content-Type": "text/plain"}, b"hello", (415, "unsupported_media_type")),
    ],
    ids=["401", "400", "422", "413", "415"],
)
def test_errors_to_an_allowed_origin_carry_it_so_the_page_can_read_them(servers, function, headers, body, expected):
    status, got, answer = call(servers[function], "POST", headers, body)
    assert (status, json.loads(answer)["error"]["code"]) == expected
    assert got["Access-Control-Allow-Origin"] == PAGE and got["Vary"] == "Origin"


def test_a_503_with_retry_after_is_readable_from_any_origin_under_star(servers):
    status, headers, body = call(servers["any"], "POST", post_json(OTHER, key=None), json.dumps(HAND).encode())
    assert (status, json.loads(body)["error"]["code"]) == (503, "memory_pressure")
    assert headers["Access-Control-Allow-Origin"] == "*" and int(headers["Retry-After"]) >= 1
    assert "Retry-After" in headers["Access-Control-Expose-Headers"]
    status, headers, _ = call(servers["any"], "OPTIONS", preflight("http://anything.test:3000"))
    assert status == 204 and headers["Access-Control-Allow-Origin"] == "*"


@pytest.mark.parametrize("method", ["GET", "HEAD"])
def test_health_to_an_allowed_origin_carries_it(servers, method):
    status, headers, _ = call(servers["verify_face"], method, {"Origin": OTHER})
    assert status == 200 and headers["Access-Control-Allow-Origin"] == OTHER


def test_another_origin_gets_the_answer_without_cors_headers_but_with_vary(servers):
    status, headers, _ = call(servers["predict_gesture"], "POST", post_json("https://evil.example"), json.dumps(HAND).encode())
    assert status == 200 and headers["Vary"] == "Origin"
    assert not any(h.startswith("Access-Control-") for h in headers)


def test_without_cors_origins_no_answer_carries_a_cors_header(servers):
    for method, headers, body in [
        ("POST", post_json(PAGE, key=None), json.dumps(HAND).encode()),
        ("GET", {"Origin": PAGE}, None),
        ("POST", post_json(PAGE, key=None), b"{"),
    ]:
        _, got, _ = call(servers["default"], method, headers, body)
        assert not any(h.startswith("Access-Control-") or h == "Vary" for h in got), (method, got)


def test_the_framework_routes_never_get_a_previous_requests_origin(monkeypatch):
    """/robots.txt reaches the edge's error handler without `is_health_check`: on the same
    thread (the test client's), it must not answer with the previous request's origin."""
    monkeypatch.setenv("CORS_ORIGINS", PAGE)
    get_settings.cache_clear()
    client = create_app("predict_gesture", "functions/predict_gesture/main.py").test_client()
    assert client.get("/", headers={"Origin": PAGE}).headers["Access-Control-Allow-Origin"] == PAGE
    robots = client.get("/robots.txt")
    assert robots.status_code == 404 and "Access-Control-Allow-Origin" not in robots.headers


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("", ()),
        ("*", ("*",)),
        (" https://App.Example.com , http://127.0.0.1:8082 ", ("https://app.example.com", "http://127.0.0.1:8082")),
        ("http://[::1]:8082", ("http://[::1]:8082",)),
    ],
)
def test_cors_origins_setting(monkeypatch, raw, expected):
    monkeypatch.setenv("CORS_ORIGINS", raw)
    assert Settings.from_env().cors_origins == expected


@pytest.mark.parametrize(
    ("raw", "message"),
    [
        ("https://app.example.com/", "no trailing slash"),
        ("app.example.com", "is not an origin"),
        ("ftp://app.example.com", "is not an origin"),
        ("https://app.example.com/signup", "no path"),
        ("*, https://app.example.com", "must stand alone"),
        ("null", "is not an origin"),
    ],
)
def test_cors_origins_that_no_browser_sends_are_refused_at_start(monkeypatch, raw, message):
    monkeypatch.setenv("CORS_ORIGINS", raw)
    with pytest.raises(SettingsError, match=message):
        Settings.from_env()
