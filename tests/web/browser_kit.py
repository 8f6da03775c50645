"""Helpers of the browser tests: the fake camera's .y4m clips built from real photos, and
waiting on and reading the pages (their state is in data- attributes and canvases)."""

from __future__ import annotations

import json
import os
from pathlib import Path

import numpy as np
from PIL import Image, ImageOps

from tools import ROOT

SCREENSHOTS = ROOT / os.environ.get("SCREENSHOTS", "build/web-screenshots")
WAIT_S = 60  # the first verify call loads the face models (a few seconds on a busy 2-core machine)


def yuv420(rgb: np.ndarray) -> bytes:
    """An RGB frame (H x W x 3 uint8, H and W even) as planar YUV 4:2:0, BT.601 studio range
    (what Chromium's fake capture device converts back)."""
    r, g, b = (rgb[..., i].astype(np.float32) for i in range(3))
    y = 16 + (65.481 * r + 128.553 * g + 24.966 * b) / 255
    cb = 128 + (-37.797 * r - 74.203 * g + 112.0 * b) / 255
    cr = 128 + (112.0 * r - 93.786 * g - 18.214 * b) / 255
    h, w = y.shape

    def half(plane: np.ndarray) -> np.ndarray:
        return plane.reshape(h // 2, 2, w // 2, 2).mean(axis=(1, 3))

    planes = (y, half(cb), half(cr))
    return b"".join(np.clip(np.rint(p), 0, 255).astype(np.uint8).tobytes() for p in planes)


def write_y4m(path: Path, frames: list[np.ndarray], fps: int = 10) -> Path:
    """A YUV4MPEG2 clip of `frames` (RGB, all of one even size); Chromium loops it."""
    h, w = frames[0].shape[:2]
    with path.open("wb") as out:
        out.write(f"YUV4MPEG2 W{w} H{h} F{fps}:1 Ip A1:1 C420jpeg\n".encode())
        for frame in frames:
            out.write(b"FRAME\n" + yuv420(frame))
    return path


def camera_frame(photo: Path, size: tuple[int, int]) -> np.ndarray:
    """The photo, upright, scaled to cover `size` (width, height; even) and centre-cropped,
    as a webcam frames what is in front of it."""
    with Image.open(photo) as image:
        upright = ImageOps.exif_transpose(image).convert("RGB")
        return np.asarray(ImageOps.fit(upright, size, Image.Resampling.LANCZOS))


def screenshot(driver, name: str) -> Path:
    """Save the whole page (not only the window) as SCREENSHOTS/<name>.png."""
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    path = SCREENSHOTS / f"{name}.png"
    height = driver.execute_script("return Math.ceil(document.documentElement.scrollHeight)")
    metrics = {"width": 1280, "height": max(600, min(int(height), 3000)), "deviceScaleFactor": 1, "mobile": False}
    driver.execute_cdp_cmd("Emulation.setDeviceMetricsOverride", metrics)
    try:
        driver.save_screenshot(str(path))
    finally:
        driver.execute_cdp_cmd("Emulation.clearDeviceMetricsOverride", {})
    with Image.open(path) as shot:  # 256 colours: a quarter of the bytes, for docs/web in the repo
        shot.convert("RGB").quantize(256, method=Image.Quantize.FASTOCTREE).save(path, optimize=True)
    return path


def wait(driver, condition, timeout: float = WAIT_S):
    from selenium.webdriver.support.ui import WebDriverWait

    return WebDriverWait(driver, timeout, poll_frequency=0.2).until(lambda d: condition(d))


def by_id(driver, element_id: str):
    from selenium.webdriver.common.by import By

    return driver.find_element(By.ID, element_id)


def open_page(driver, url: str) -> None:
    """Load the page and wait until its modules have run."""
    driver.get(url)
    wait(driver, lambda d: d.execute_script("return document.body.dataset.ready === 'true'"), 15)


def status(driver) -> tuple[str, str]:
    """The page's status line: (data-state, text)."""
    element = by_id(driver, "status")
    return element.get_attribute("data-state"), element.text


def pixel(driver, canvas_id: str, x: float, y: float) -> tuple[int, int, int]:
    rgba = driver.execute_script(
        "const c = document.getElementById(arguments[0]);"
        "return Array.from(c.getContext('2d').getImageData(Math.round(arguments[1]), Math.round(arguments[2]), 1, 1).data);",
        canvas_id,
        x,
        y,
    )
    return tuple(rgba[:3])


def near(colour: tuple[int, int, int], expected: tuple[int, int, int], tolerance: int = 40) -> bool:
    return all(abs(a - b) <= tolerance for a, b in zip(colour, expected, strict=True))


def data_json(driver, element_id: str, name: str):
    return json.loads(by_id(driver, element_id).get_attribute(f"data-{name}") or "null")
