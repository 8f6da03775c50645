"""web/gesture.html in headless Chromium: landmark mode end to end (the example, a JSON
file, an unreachable function); camera mode on real hand photos played by the fake camera
when the served predict_gesture takes pixels (`image`), and the page's explanation when it
does not."""

from __future__ import annotations

import base64
import csv
import functools
import http.client
import json
from pathlib import Path

import pytest
from browser_kit import by_id, near, open_page, pixel, screenshot, status, wait

from tools import testdata

EXAMPLE = testdata.EXAMPLES / "hand-open.json"
JOINT = (255, 255, 255)  # web/js/draw.js COLOURS.joint
CANVAS_SIDE = 360  # #landmarks-canvas


def settled(driver) -> bool:
    return status(driver)[0] not in ("working", "waiting", "idle", "busy")


def post(port: int, payload: dict) -> tuple[int, dict]:
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=120)
    try:
        conn.request("POST", "/", body=json.dumps(payload), headers={"Content-Type": "application/json"})
        response = conn.getresponse()
        return response.status, json.loads(response.read())
    finally:
        conn.close()


SHIPPED_HANDS = Path(__file__).resolve().parents[1] / "data" / "hands"  # tests/data/hands (NOTICE.md)


def hand_photos(sign: str) -> list[Path]:
    """One-hand photos of `sign`: the project's own (tests/data/hands) first, then those of
    ../shared/data/hands/subhih (labels.csv) when it is beside the repo."""
    photos = [SHIPPED_HANDS / f"{sign.lower()}.jpg"]
    folder = testdata.shared_data("hands", "subhih")
    if folder is not None:
        with (folder / "labels.csv").open(newline="") as rows:
            photos += [folder / r["image"] for r in csv.DictReader(rows) if r["sign"] == sign and r["hands"] == "1"]
    return photos


@functools.cache
def pixel_support(port: int, photo: Path) -> tuple[int, dict]:
    """How the served predict_gesture answers one photo as `image` (JSON, base64)."""
    return post(port, {"image": base64.b64encode(photo.read_bytes()).decode(), "model": "hand-sign", "return_landmarks": True})


# ---- landmark mode ------------------------------------------------------------------------


def test_the_landmark_example_is_sent_drawn_and_recognised(served, browser):
    driver = browser()
    open_page(driver, served.page("gesture.html", mode="landmarks"))
    by_id(driver, "load-example").click()
    wait(driver, lambda d: '"landmarks"' in by_id(d, "landmarks-json").get_attribute("value"), 10)
    by_id(driver, "send-landmarks").click()
    wait(driver, settled)
    state, text = status(driver)
    assert (state, text) == ("done", "Sign: Open."), text
    sign = by_id(driver, "sign")
    assert sign.get_attribute("data-label") == "Open" and sign.text == "Open"
    assert "Open" in by_id(driver, "top-k").text and "%" in by_id(driver, "score").text
    # The 21 landmarks as sent, drawn in normalised coordinates: every joint is on the canvas.
    assert by_id(driver, "landmarks-canvas").get_attribute("data-points") == "21"
    for x, y in json.loads(EXAMPLE.read_text())["landmarks"][0]:
        assert near(pixel(driver, "landmarks-canvas", x * CANVAS_SIDE, y * CANVAS_SIDE), JOINT), (x, y)
    screenshot(driver, "gesture-landmarks")


def test_a_landmark_file_sent_to_an_unreachable_function_says_so(served, browser):
    from tools.measure.harness import free_port

    dead = f"http://127.0.0.1:{free_port()}/"
    driver = browser()
    open_page(driver, served.page("gesture.html", mode="landmarks", gesture=dead))
    by_id(driver, "landmarks-file").send_keys(str(EXAMPLE))
    wait(driver, lambda d: '"landmarks"' in by_id(d, "landmarks-json").get_attribute("value"), 10)
    by_id(driver, "send-landmarks").click()
    wait(driver, settled)
    state, text = status(driver)
    assert state == "unreachable" and f"Cannot reach predict_gesture at {dead}" in text, (state, text)
    assert by_id(driver, "sign").get_attribute("data-label") == ""


def test_landmarks_that_are_not_json_are_refused_before_sending(served, browser):
    driver = browser()
    open_page(driver, served.page("gesture.html", mode="landmarks"))
    by_id(driver, "landmarks-json").send_keys('{"landmarks": [[0.5, 0.5]')
    by_id(driver, "send-landmarks").click()
    state, text = status(driver)
    assert state == "error" and text.startswith("That is not JSON"), text


# ---- camera mode --------------------------------------------------------------------------


def recognised_photos(served, sign: str, wanted: int = 3) -> list[Path]:
    """Photos of `sign` that the served function, sent them directly, answers with `sign`."""
    found = []
    for photo in hand_photos(sign)[:12]:
        code, answer = pixel_support(served.gesture.port, photo)
        if code == 200 and answer["label"] == sign:
            found.append(photo)
        if len(found) == wanted:
            break
    assert found, f"the served predict_gesture recognises none of the first 12 {sign} photos"
    return found


@pytest.mark.parametrize("sign", ["Open", "Close"])
def test_camera_frames_show_the_sign_and_the_landmarks(served, browser, clip, sign):
    photos = recognised_photos(served, sign, wanted=1)
    driver = browser(camera=clip(photos, size=(640, 480), frames_each=5))
    open_page(driver, served.page("gesture.html"))
    by_id(driver, "start").click()
    wait(driver, lambda d: by_id(d, "sign").get_attribute("data-label") == sign or status(d)[0] in ("error", "unsupported", "denied"))
    assert by_id(driver, "sign").get_attribute("data-label") == sign, status(driver)
    overlay = by_id(driver, "overlay")
    assert overlay.get_attribute("data-hands") == "1" and overlay.get_attribute("data-points") == "21"
    landmarks = json.loads(overlay.get_attribute("data-landmarks"))[0]
    width, height = int(overlay.get_attribute("width")), int(overlay.get_attribute("height"))
    assert (width, height) == (480, 360)  # the 640 x 480 camera, scaled to 480 on its longer side
    assert all(0 <= x <= 1 and 0 <= y <= 1 for x, y, *_ in landmarks)
    drawn = sum(near(pixel(driver, "overlay", x * width, y * height), JOINT, 60) for x, y, *_ in landmarks)
    assert drawn >= 15, f"only {drawn} of 21 joints drawn where the answer put them"
    # About four frames a second, one in flight: never more than five a second.
    sent_before = int(by_id(driver, "rate").get_attribute("data-sent"))
    driver.execute_script("return new Promise(r => setTimeout(r, 3000))")
    sent = int(by_id(driver, "rate").get_attribute("data-sent")) - sent_before
    assert 1 <= sent <= 16, f"{sent} frames in 3 s"
    screenshot(driver, f"gesture-camera-{sign.lower()}")


def test_camera_frames_without_a_hand_say_so(served, browser, clip, face_photos):
    """A person at a podium, hands out of the frame (obama.jpg's crossed arms would show one)."""
    driver = browser(camera=clip([face_photos / "obama2.jpg"], size=(640, 480)))
    open_page(driver, served.page("gesture.html"))
    by_id(driver, "start").click()
    wait(driver, lambda d: status(d)[0] not in ("working", "idle"))
    state, text = status(driver)
    assert state == "no-hand" and text.startswith("No hand in view"), (state, text)
    assert by_id(driver, "sign").text == "no hand"


def test_a_recorded_clip_is_sent_as_video(served, browser, clip):
    """The fake camera plays a pointing hand; the page records 2 s with MediaRecorder and
    sends the clip as `video`: the answer is the sign, and the function said how many frames it sampled."""
    photos = recognised_photos(served, "Pointer", wanted=1)
    driver = browser(camera=clip(photos, size=(640, 480), frames_each=5))
    open_page(driver, served.page("gesture.html"))
    by_id(driver, "start").click()
    wait(driver, lambda d: by_id(d, "record").is_enabled() or status(d)[0] in ("error", "denied"))
    by_id(driver, "record").click()
    wait(driver, lambda d: by_id(d, "sign").get_attribute("data-source") == "clip" or status(d)[0] == "error", timeout=60)
    state, text = status(driver)
    assert state == "done" and text.startswith("Clip: Pointer (1 frame(s) sampled"), (state, text)
    screenshot(driver, "gesture-clip")
