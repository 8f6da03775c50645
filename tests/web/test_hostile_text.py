"""Server and user text never reaches the web pages' DOM as HTML (issue 23): in headless
Chromium, each page talks to a hostile function (a loopback server whose health version,
gesture labels, model names and error codes and messages are markup with a script in an
`onerror`), and the pages show that markup as text: no element is created from it and no
script of it runs. A function URL that is a `javascript:` URL is not followed either."""

from __future__ import annotations

import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import quote

import pytest
from browser_kit import by_id, open_page, status, wait

from tools.serve.web import WebServer

MARKUP = '<img id="pwned" src="x" onerror="window.__pwned = 1"><b>bold</b>'
NOT_RUN = "return window.__pwned === undefined && !document.getElementById('pwned') && !document.querySelector('b')"


class Hostile(BaseHTTPRequestHandler):
    """A function that answers every page with markup where text belongs, CORS allowed."""

    def _answer(self, status_code: int, body: dict | None) -> None:
        data = json.dumps(body).encode() if body is not None else b""
        self.send_response(status_code)
        self.send_header("Access-Control-Allow-Origin", "*")
        self.send_header("Access-Control-Allow-Headers", "Content-Type, X-API-Key")
        self.send_header("Access-Control-Allow-Methods", "GET, HEAD, POST, OPTIONS")
        if body is not None:
            self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def do_OPTIONS(self) -> None:
        self._answer(204, None)

    def do_GET(self) -> None:
        self._answer(200, {"function": MARKUP, "ready": True, "version": MARKUP})

    def do_POST(self) -> None:
        self.rfile.read(int(self.headers.get("Content-Length") or 0))
        if self.path.startswith("/gesture"):
            top = [{"label": MARKUP, "probability": 0.9}]
            self._answer(200, {"label": MARKUP, "score": 0.9, "model": MARKUP, "top_k": top, "time_ms": {"total": 1}})
        else:
            self._answer(400, {"error": {"code": MARKUP, "message": MARKUP}})

    def log_message(self, *args) -> None:
        pass


@pytest.fixture(scope="module")
def hostile_function():
    server = ThreadingHTTPServer(("127.0.0.1", 0), Hostile)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}/"
    server.shutdown()
    server.server_close()


@pytest.fixture(scope="module")
def web(chromium):
    server = WebServer().start()
    yield server
    server.stop()


def test_a_hostile_health_report_is_shown_as_text(web, hostile_function, browser):
    driver = browser()
    open_page(driver, f"{web.url}?verify={quote(hostile_function)}&gesture={quote(hostile_function)}")
    wait(driver, lambda d: by_id(d, "verify-health").get_attribute("data-health") == "ready", 20)
    assert MARKUP in by_id(driver, "verify-health").text
    assert driver.execute_script(NOT_RUN)


def test_a_hostile_gesture_label_and_model_are_shown_as_text(web, hostile_function, browser):
    driver = browser()
    open_page(driver, f"{web.url}gesture.html?mode=landmarks&gesture={quote(hostile_function + 'gesture')}")
    by_id(driver, "load-example").click()
    wait(driver, lambda d: '"landmarks"' in by_id(d, "landmarks-json").get_attribute("value"), 10)
    by_id(driver, "send-landmarks").click()
    wait(driver, lambda d: by_id(d, "sign").text not in ("", "–"), 20)
    assert by_id(driver, "sign").text == MARKUP and MARKUP in by_id(driver, "score").text and MARKUP in by_id(driver, "top-k").text
    assert driver.execute_script(NOT_RUN)


def test_a_hostile_error_code_and_message_are_shown_as_text(web, hostile_function, browser, face_photos):
    from test_verify_page import choose, compare

    driver = browser()
    open_page(driver, f"{web.url}verify.html?verify={quote(hostile_function)}")
    choose(driver, "selfie-file", face_photos / "obama.jpg")
    choose(driver, "id-file", face_photos / "obama2.jpg")
    state, text = compare(driver)
    assert MARKUP in text, (state, text)
    assert driver.execute_script(NOT_RUN)


def test_a_javascript_url_as_the_function_url_runs_nothing(web, browser, face_photos):
    from test_verify_page import choose, compare

    driver = browser()
    open_page(driver, f"{web.url}verify.html?verify={quote('javascript:window.__pwned=1//')}")
    choose(driver, "selfie-file", face_photos / "obama.jpg")
    choose(driver, "id-file", face_photos / "obama2.jpg")
    state, _ = compare(driver)
    assert state != "done" and driver.execute_script("return window.__pwned === undefined")
    assert status(driver)[1]
