"""The served process model (shared/edge/server.py, functions/serve.py), served for real: the
worker's collector leaves alone what it inherited from gunicorn's master (frozen before the
fork, so those pages stay shared: issue 25, round five) and still collects its own objects;
a killed worker is replaced by the arbiter, answers again within seconds, and is frozen
the same way."""

from __future__ import annotations

import json
import os
import signal
import sys
import time
import urllib.request
from pathlib import Path

import pytest

from tools.measure.harness import Server

FUNCTION = Path(__file__).with_name("gc_state_function.py")


def state(server: Server) -> dict:
    with urllib.request.urlopen(server.url, timeout=10) as response:
        return json.loads(response.read())


@pytest.fixture
def served(tmp_path):
    server = Server("gc_state", FUNCTION, sys.executable, {"THREADS": "2"}, log=tmp_path / "serve.log").start()
    try:
        yield server.wait_ready(60)
    finally:
        server.stop()


def test_the_worker_does_not_collect_what_the_master_built(served):
    answer = state(served)
    assert answer["pid"] == served.worker_pids()[0] != served.process.pid
    # functions-framework, Flask and the function are imported in the master: ~60,000 objects.
    assert answer["frozen"] > 10_000, answer
    assert answer["collecting"] is True, answer


def test_a_killed_worker_is_replaced_and_frozen_the_same_way(served):
    (first,) = served.worker_pids()
    killed = time.monotonic()
    os.kill(first, signal.SIGKILL)
    answer = None
    while time.monotonic() - killed < 20:
        try:
            answer = state(served)
        except OSError:
            time.sleep(0.05)
            continue
        if answer["pid"] != first:
            break
    assert answer is not None and answer["pid"] != first, f"no new worker answered; {served.log_tail()}"
    assert time.monotonic() - killed < 10, "the new worker took over 10 s"
    assert served.worker_pids() == [answer["pid"]]
    assert answer["frozen"] > 10_000 and answer["collecting"] is True, answer
