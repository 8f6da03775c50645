"""web/index.html in headless Chromium: the settings form checks each function's health
from the page (CORS), remembers the URLs for the other pages, and says which function is
unreachable; no page logs a script error."""

from __future__ import annotations

from browser_kit import by_id, open_page, wait

from tools.measure.harness import free_port


def health(driver, name: str) -> tuple[str, str]:
    element = by_id(driver, f"{name}-health")
    return element.get_attribute("data-health") or "", element.text


def test_settings_check_health_remember_urls_and_name_the_unreachable(served, browser):
    dead = f"http://127.0.0.1:{free_port()}/"
    driver = browser()
    open_page(driver, f"{served.web.url}?verify={served.verify.url}&gesture={dead}")
    wait(driver, lambda d: health(d, "verify")[0] not in ("", "checking") and health(d, "gesture")[0] not in ("", "checking"), 20)
    assert health(driver, "verify")[0] == "ready" and "0." in health(driver, "verify")[1]
    assert health(driver, "gesture") == ("unreachable", "unreachable from this page")

    field = by_id(driver, "gesture-url")
    field.clear()
    field.send_keys(served.gesture.url)
    by_id(driver, "save-settings").click()
    wait(driver, lambda d: health(d, "gesture")[0] == "ready", 20)
    assert "ready" in health(driver, "gesture")[1]

    # The other pages use the saved URLs when the address names none.
    open_page(driver, f"{served.web.url}gesture.html")
    assert by_id(driver, "gesture-url").get_attribute("value") == served.gesture.url
    open_page(driver, f"{served.web.url}verify.html")
    assert by_id(driver, "verify-url").get_attribute("value") == served.verify.url
    errors = [e for e in driver.get_log("browser") if e["level"] == "SEVERE" and dead not in e["message"]]
    assert not errors, errors
