"""web/liveness.html in headless Chromium with fake-camera clips (tests/web/conftest.py):
the guided flow (a challenge, its actions on screen, ~10 fps frames, one request) against
verify_face served with LIVENESS_SECRET. A still photo held to the camera is not verified;
a clip acting out the challenge (assembled from registry photos: three photos of one
person, the page's challenge answered with a token for those actions) is."""

from __future__ import annotations

import json
import time

import pytest
from browser_kit import by_id, data_json, open_page, screenshot, status, wait

from shared.liveness.options import LivenessOptions
from shared.liveness.token import Challenges
from tools.measure import harness
from tools.serve.web import WebServer

SECRET = "web-liveness-secret-" + "9" * 32


@pytest.fixture(scope="module")
def live(chromium):
    web = WebServer().start()
    verify = harness.start("verify_face", env={"CORS_ORIGINS": web.origin, "LIVENESS_SECRET": SECRET})
    yield web, verify
    verify.stop()
    web.stop()


def page(live) -> str:
    web, verify = live
    return f"{web.url}liveness.html?verify={verify.url}"


def finished(driver) -> bool:
    return status(driver)[0] in ("done", "error", "unreachable")


def run_check(driver, id_photo) -> dict:
    by_id(driver, "id-file").send_keys(str(id_photo))
    wait(driver, lambda d: by_id(d, "start").is_enabled(), 10)
    by_id(driver, "start").click()
    wait(driver, finished, 90)
    assert status(driver)[0] == "done", status(driver)
    return data_json(driver, "verdict", "liveness")


def test_a_still_photo_held_to_the_camera_is_not_verified(browser, clip, live, face_photos):
    driver = browser(camera=clip([face_photos / "obama.jpg"], frames_each=10))
    open_page(driver, page(live))
    liveness = run_check(driver, face_photos / "obama2.jpg")
    actions = json.loads(by_id(driver, "prompt").get_attribute("data-actions"))
    assert 2 <= len(actions) <= 3
    assert liveness["passed"] is False and 15 <= liveness["frames"] <= 30, liveness
    assert by_id(driver, "verdict").get_attribute("data-verdict") == "not-verified"
    assert "Liveness failed" in by_id(driver, "explanation").text
    screenshot(driver, "liveness-still-photo")


def test_a_clip_acting_out_the_challenge_is_verified(browser, clip, live, face_photos, tmp_path):
    from test_liveness_assets import acted_clip_photos

    photos = acted_clip_photos(face_photos, tmp_path)
    driver = browser(camera=clip(photos, frames_each=1))
    open_page(driver, page(live))
    token = Challenges(LivenessOptions(secret=SECRET.encode()), time.time).issue(("turn_right", "look_up")).token
    # The page's challenge request answered with a token for the actions the clip acts out
    # (issued with the function's secret, as the function issues them); the rest goes to the function.
    driver.execute_script(
        "const token = arguments[0]; const real = window.fetch;"
        "window.fetch = (url, init) => (init && init.body && String(init.body).includes('\"liveness\"'))"
        "  ? Promise.resolve(new Response(JSON.stringify({challenge: {token, actions: ['turn_right', 'look_up'], expires_in_s: 120}}),"
        "      {status: 200, headers: {'Content-Type': 'application/json'}}))"
        "  : real(url, init);",
        token,
    )
    liveness = run_check(driver, face_photos / "32bit.png")
    assert liveness["passed"] is True, liveness
    assert by_id(driver, "verdict").get_attribute("data-verdict") == "verified"
    screenshot(driver, "liveness-acted")
