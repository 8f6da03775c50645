"""Browser tests of the reference web client (web/): Debian's headless Chromium driven by
Selenium, against both functions served as deployed (the serving harness) with
CORS_ORIGINS set to the page's origin, and the page's own static server.

Chromium's camera is its fake device fed from a `.y4m` clip that a test builds from real
photos (`clip`), so getUserMedia, the video element and canvas capture all run for real.
Without Chromium, chromedriver or Selenium these tests skip with the reason; under CI
(`CI=true`, where .ci/run installs them) they fail instead, so CI never passes them unseen.

Screenshots of each flow go to build/web-screenshots/ (SCREENSHOTS=docs/web refreshes the
ones the README shows).
"""

from __future__ import annotations

import contextlib
import os
import shutil
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from browser_kit import camera_frame, write_y4m

from tools.measure import harness
from tools.serve.web import WebServer

CHROMIUM = ("chromium", "chromium-browser")


def _missing(reason: str) -> None:
    if os.environ.get("CI") == "true":
        pytest.fail(f"{reason}: CI must run the browser tests (.ci/run installs chromium and chromium-driver)")
    pytest.skip(reason)


@dataclass(frozen=True)
class Chromium:
    binary: str
    driver: str


@pytest.fixture(scope="session")
def chromium() -> Chromium:
    if importlib_missing("selenium"):
        _missing("selenium is not installed (requirements-dev.txt)")
    binary = next((p for p in map(shutil.which, CHROMIUM) if p), None)
    driver = shutil.which("chromedriver")
    if not binary or not driver:
        _missing("Chromium or chromedriver is not installed (apt-get install chromium chromium-driver)")
    return Chromium(binary, driver)


def importlib_missing(name: str) -> bool:
    import importlib.util

    return importlib.util.find_spec(name) is None


@dataclass
class Served:
    """The page's static server and the two functions it calls."""

    web: WebServer
    verify: harness.Server
    gesture: harness.Server

    def page(self, name: str, **query: str) -> str:
        """The URL of web/<name>, pointed at these functions (or at `query`'s URLs)."""
        from urllib.parse import urlencode

        params = {"verify": self.verify.url, "gesture": self.gesture.url, **query}
        return f"{self.web.url}{name}?{urlencode(params)}"


@pytest.fixture(scope="session")
def served(chromium) -> Iterator[Served]:
    web = WebServer().start()
    env = {"CORS_ORIGINS": web.origin}
    verify = gesture = None
    try:
        verify = harness.start("verify_face", env=env)
        gesture = harness.start("predict_gesture", env=env)
        yield Served(web, verify, gesture)
    finally:
        for server in (verify, gesture):
            if server is not None:
                server.stop()
        web.stop()


@pytest.fixture
def clip(tmp_path) -> Callable[..., Path]:
    """clip(photos, size=(640, 480), frames_each=3): a .y4m of the photos in turn."""

    def make(photos: list[Path], size: tuple[int, int] = (640, 480), frames_each: int = 3) -> Path:
        frames = [camera_frame(p, size) for p in photos for _ in range(frames_each)]
        return write_y4m(tmp_path / "camera.y4m", frames)

    return make


# ---- the browser ----------------------------------------------------------------------


@pytest.fixture
def browser(chromium, tmp_path) -> Iterator[Callable[..., object]]:
    """browser(camera=None, allow_camera=True): a headless Chromium whose camera plays the
    `camera` clip (or a generated pattern when None); allow_camera=False refuses camera
    permission as a person clicking "Block" does. Quit at the end of the test."""
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    drivers = []

    def start(camera: Path | None = None, allow_camera: bool = True) -> object:
        options = webdriver.ChromeOptions()
        options.binary_location = chromium.binary
        for flag in (
            "--headless=new",
            "--no-sandbox",  # CI runs as root, where Chromium's sandbox cannot start
            "--disable-dev-shm-usage",
            "--disable-gpu",
            "--window-size=1280,1000",
            "--use-fake-device-for-media-stream",
            "--no-first-run",
            "--disable-extensions",
            "--disable-background-networking",
            "--disable-component-update",
            "--disable-sync",
        ):
            options.add_argument(flag)
        if allow_camera:
            options.add_argument("--use-fake-ui-for-media-stream")
        else:
            options.add_experimental_option("prefs", {"profile.default_content_setting_values.media_stream_camera": 2})
        if camera is not None:
            options.add_argument(f"--use-file-for-fake-video-capture={camera}")
        options.set_capability("goog:loggingPrefs", {"browser": "ALL"})
        service = Service(executable_path=chromium.driver, log_output=str(tmp_path / "chromedriver.log"))
        driver = webdriver.Chrome(options=options, service=service)
        driver.set_page_load_timeout(30)
        drivers.append(driver)
        return driver

    yield start
    for driver in drivers:
        with contextlib.suppress(Exception):
            driver.quit()
