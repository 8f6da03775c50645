"""The error tree maps to JSON and hides internals."""

from shared.errors import BadRequest, ServiceUnavailable, error_response


def test_errors_map_to_json_and_hide_internals():
    body, status, headers = error_response(BadRequest("img1 is not valid base64"))
    assert (status, body) == (400, {"error": {"code": "bad_request", "message": "img1 is not valid base64"}})
    body, status, headers = error_response(ServiceUnavailable("down", retry_after=3.2))
    assert status == 503 and headers == {"Retry-After": "4"}  # rounded up: never back before it is ready
    body, status, _ = error_response(KeyError("secret internal detail"))
    assert status == 500 and "secret" not in str(body)
