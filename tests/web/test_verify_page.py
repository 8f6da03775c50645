"""web/verify.html in headless Chromium: a selfie from the (fake) camera or a file, an ID
photo from a file, the verdict in words, the face boxes drawn on both photos; and the
no-face, no-permission and unreachable states."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from browser_kit import by_id, near, open_page, pixel, screenshot, status, wait
from PIL import Image

from shared.settings import DEFAULT_FACE_EMBEDDER

VERIFIED = (0, 170, 70)  # web/js/draw.js COLOURS.verified
NOT_VERIFIED = (230, 40, 30)

# The default embedder's threshold, as the page words it (three decimals).
SHIPPED_THRESHOLD = json.loads((Path(DEFAULT_FACE_EMBEDDER) / "bundle.json").read_text())["threshold"]["value"]


def settled(driver) -> bool:
    return status(driver)[0] not in ("working", "waiting", "idle")


def face_on(driver, canvas_id: str) -> dict:
    return json.loads(by_id(driver, canvas_id).get_attribute("data-face") or "null")


def assert_box_drawn(driver, canvas_id: str, colour: tuple[int, int, int]) -> dict:
    """The answer's face box is drawn where the answer says, in the verdict's colour: its
    left and right edges and both eyes are that colour on the canvas."""
    area = face_on(driver, canvas_id)
    assert area and {"x", "y", "w", "h", "left_eye", "right_eye"} <= set(area), area
    for x, y in [
        (area["x"], area["y"] + area["h"] / 2),
        (area["x"] + area["w"], area["y"] + area["h"] / 2),
        *[area["left_eye"], area["right_eye"]],
    ]:
        got = pixel(driver, canvas_id, x, y)
        assert near(got, colour), f"{canvas_id} at ({x:.0f}, {y:.0f}) is {got}, expected the box colour {colour}"
    return area


def take_selfie(driver) -> None:
    by_id(driver, "selfie-camera").click()
    wait(driver, lambda d: by_id(d, "selfie-snap").is_displayed() or settled(d), 20)
    assert by_id(driver, "selfie-snap").is_displayed(), status(driver)
    wait(
        driver,
        lambda d: d.execute_script("const v = document.getElementById('selfie-video'); return v.videoWidth > 0 && v.readyState >= 2"),
        20,
    )
    by_id(driver, "selfie-snap").click()
    wait(driver, lambda d: by_id(d, "selfie-canvas").is_displayed(), 10)


def choose(driver, input_id: str, path: Path) -> None:
    by_id(driver, input_id).send_keys(str(path))
    canvas = "selfie-canvas" if input_id == "selfie-file" else "id-canvas"
    wait(driver, lambda d: by_id(d, canvas).is_displayed(), 10)


def compare(driver) -> tuple[str, str]:
    by_id(driver, "compare").click()
    wait(driver, settled)
    return status(driver)


def test_a_camera_selfie_and_an_id_photo_of_one_person_verify(served, browser, clip, face_photos):
    driver = browser(camera=clip([face_photos / "obama.jpg"], size=(480, 600)))
    open_page(driver, served.page("verify.html"))
    take_selfie(driver)
    selfie = by_id(driver, "selfie-canvas")
    assert (int(selfie.get_attribute("width")), int(selfie.get_attribute("height"))) == (480, 600)  # the camera's frame
    choose(driver, "id-file", face_photos / "obama2.jpg")
    state, text = compare(driver)
    assert state == "done", text
    verdict = by_id(driver, "verdict")
    assert verdict.get_attribute("data-verdict") == "verified" and verdict.text == "Same person"
    explanation = by_id(driver, "explanation").text
    assert "apart" in explanation and f"at most {SHIPPED_THRESHOLD:.3f}" in explanation and "lower means more alike" in explanation
    selfie_face = assert_box_drawn(driver, "selfie-canvas", VERIFIED)
    id_face = assert_box_drawn(driver, "id-canvas", VERIFIED)
    # The ID photo is drawn at its own size and the box where verify_face found the face
    # (README: obama2.jpg's face at x 185, y 296, 315 px wide).
    assert abs(id_face["x"] - 185) < 20 and abs(id_face["w"] - 315) < 30, id_face
    assert 0 < selfie_face["x"] < 480 and 0 < selfie_face["y"] < 600
    # Nothing was fetched from anywhere but the page's server and the functions.
    origins = {served.web.origin, served.verify.url.rstrip("/"), served.gesture.url.rstrip("/")}
    resources = driver.execute_script("return performance.getEntriesByType('resource').map(e => e.name)")
    assert all(any(r.startswith(o) for o in origins) for r in resources), resources
    screenshot(driver, "verify-same-person")


def test_photos_of_two_people_are_not_verified(served, browser, face_photos):
    driver = browser()
    open_page(driver, served.page("verify.html"))
    choose(driver, "selfie-file", face_photos / "obama.jpg")
    choose(driver, "id-file", face_photos / "biden.jpg")
    state, text = compare(driver)
    assert state == "done", text
    verdict = by_id(driver, "verdict")
    assert verdict.get_attribute("data-verdict") == "not-verified" and verdict.text == "Not the same person"
    assert f"more than the {SHIPPED_THRESHOLD:.3f}" in by_id(driver, "explanation").text
    assert_box_drawn(driver, "selfie-canvas", NOT_VERIFIED)
    assert_box_drawn(driver, "id-canvas", NOT_VERIFIED)
    screenshot(driver, "verify-different-people")


@pytest.fixture
def faceless_photo(face_photos, tmp_path) -> Path:
    """A real photo without a face: the lower part of obama.jpg (his suit and the background)."""
    path = tmp_path / "no-face.jpg"
    with Image.open(face_photos / "obama.jpg") as image:
        image.crop((0, 620, image.width, image.height)).save(path, quality=92)
    return path


def test_an_id_photo_without_a_face_says_so(served, browser, face_photos, faceless_photo):
    driver = browser()
    open_page(driver, served.page("verify.html"))
    choose(driver, "selfie-file", face_photos / "obama2.jpg")
    choose(driver, "id-file", faceless_photo)
    state, text = compare(driver)
    assert state == "no-face" and text.startswith("No face found in the ID photo."), text
    assert by_id(driver, "result").is_displayed() is False
    screenshot(driver, "verify-no-face")


def test_an_unreachable_function_says_where_it_looked_and_why(served, browser, face_photos):
    from tools.measure.harness import free_port

    dead = f"http://127.0.0.1:{free_port()}/"
    driver = browser()
    open_page(driver, served.page("verify.html", verify=dead))
    choose(driver, "selfie-file", face_photos / "obama.jpg")
    choose(driver, "id-file", face_photos / "obama2.jpg")
    state, text = compare(driver)
    assert state == "unreachable", text
    assert f"Cannot reach verify_face at {dead}" in text and "CORS_ORIGINS" in text and served.web.origin in text
    screenshot(driver, "verify-unreachable")


def test_a_refused_camera_permission_says_how_to_allow_it(served, browser):
    driver = browser(allow_camera=False)
    open_page(driver, served.page("verify.html"))
    by_id(driver, "selfie-camera").click()
    wait(driver, settled, 20)
    state, text = status(driver)
    assert state == "denied" and "Camera permission was refused" in text, (state, text)
    assert not by_id(driver, "selfie-snap").is_displayed()


def test_a_busy_function_is_retried_after_its_retry_after(served, browser, face_photos):
    """A verify_face whose tier is too small to take work answers every POST 503 with
    Retry-After (5 s): the page reads the header through CORS, counts down, tries three
    times in all, then says the function is still busy."""
    from tools.measure import harness

    busy = harness.start("verify_face", env={"CORS_ORIGINS": served.web.origin, "MEMORY_LIMIT_MB": "32"})
    try:
        driver = browser()
        open_page(driver, served.page("verify.html", verify=busy.url))
        choose(driver, "selfie-file", face_photos / "obama.jpg")
        choose(driver, "id-file", face_photos / "obama2.jpg")
        by_id(driver, "compare").click()
        wait(driver, lambda d: status(d)[0] == "waiting", 20)
        state, text = status(driver)
        assert "verify_face is busy (503: instance memory is critical" in text and "Trying again in" in text, text
        seconds = int(text.rsplit("Trying again in ", 1)[1].split(" ")[0])
        assert seconds in (4, 5), text  # the function's Retry-After (5 s), read through CORS, counting down
        screenshot(driver, "verify-busy")
        wait(driver, settled, 40)
        state, text = status(driver)
        assert state == "busy" and "still busy after several tries" in text, (state, text)
    finally:
        busy.stop()
