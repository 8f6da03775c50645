"""MEMORY_RECYCLE as served: functions-framework builds the app in gunicorn's master, before
it forks the worker, so the idle watchdog must start in the worker itself (it used to be
started, or rather skipped, at import in the master). Served for real: functions-framework's
gunicorn, one worker. What the watchdog then does is tested with a scripted RSS in
tests/shared/state/test_memory.py."""

from __future__ import annotations

import json
import urllib.request

import pytest

from tools.measure import harness

LANDMARKS = json.loads((harness.ROOT / "docs" / "examples" / "hand-open.json").read_text())


def post(server: harness.Server, payload: dict) -> int:
    request = urllib.request.Request(server.url, json.dumps(payload).encode(), {"Content-Type": "application/json"})
    try:
        with urllib.request.urlopen(request, timeout=60) as response:
            return response.status
    except urllib.error.HTTPError as error:
        return error.code


def health(server: harness.Server) -> dict:
    with urllib.request.urlopen(server.url, timeout=30) as response:
        return json.loads(response.read())


@pytest.fixture
def served():
    servers: list[harness.Server] = []

    def start(**env: str) -> harness.Server:
        servers.append(harness.start("predict_gesture", env={"API_KEY": "", **env}))
        return servers[-1]

    yield start
    for server in servers:
        server.stop()


def test_the_watchdog_runs_in_the_worker_and_only_when_asked(served):
    on = served(MEMORY_RECYCLE="true")
    assert post(on, LANDMARKS) == 200
    assert health(on)["memory"]["recycle_watch"] is True
    off = served(MEMORY_RECYCLE="false")
    assert health(off)["memory"]["recycle_watch"] is False
