"""Lazy: built once under concurrent first calls, failures remembered and retried."""

import logging
import threading
import time

import pytest

from shared.errors import BundleError, ServiceUnavailable
from shared.runtime.lazy import Lazy


def test_lazy_builds_once_under_concurrent_first_calls():
    calls = []

    def build():
        calls.append(1)
        time.sleep(0.05)
        return object()

    lazy = Lazy("thing", build)
    results = []
    threads = [threading.Thread(target=lambda: results.append(lazy.get())) for _ in range(10)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(calls) == 1 and len({id(r) for r in results}) == 1
    assert lazy.status()["state"] == "ready"


def test_lazy_failure_is_503_then_retried_after_backoff():
    attempts = []

    def build():
        attempts.append(1)
        if len(attempts) == 1:
            raise BundleError("cannot read gs://secret-bucket/m: timeout", reason="object storage unreachable", bundle="m")
        return "model"

    lazy = Lazy("face models", build, retry_s=0.2)
    with pytest.raises(ServiceUnavailable, match="model bundle 'm' cannot be loaded: object storage unreachable") as first:
        lazy.get()
    assert first.value.retry_after >= 0.2 and first.value.code == "model_unavailable"
    with pytest.raises(ServiceUnavailable):  # within the back-off: no new attempt
        lazy.get()
    assert len(attempts) == 1 and lazy.status() == {
        "state": "failed",
        "last_error": "model bundle 'm' cannot be loaded: object storage unreachable",
    }
    assert "secret-bucket" not in first.value.message
    time.sleep(0.25)
    assert lazy.get() == "model" and len(attempts) == 2


def test_lazy_bug_while_loading_is_a_generic_503_with_the_traceback_logged():
    def build():
        return {}["value"]  # a bundle.json read as a raw dict without its key: a bug, not an outage

    lazy = Lazy("face models", build, retry_s=5)
    records: list[logging.LogRecord] = []
    handler = logging.Handler()
    handler.emit = records.append  # type: ignore[method-assign]
    logger = logging.getLogger("shared.runtime.lazy")
    logger.addHandler(handler)
    try:
        with pytest.raises(ServiceUnavailable) as caught:
            lazy.get()
    finally:
        logger.removeHandler(handler)
    assert caught.value.code == "model_unavailable" and caught.value.status == 503
    assert "value" not in caught.value.message and "KeyError" not in caught.value.message
    assert "internal error" in lazy.status()["last_error"]
    logged = [r for r in records if r.exc_info]
    assert logged and logged[0].exc_info[0] is KeyError  # the traceback reaches the log
