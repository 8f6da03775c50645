"""The fixtures `gcs_emulator` (one fake-gcs-server for the session) and `gcs_bucket` (a
fresh, empty bucket in it), over tools/measure/gcs_emulator.py. Registered for every test by
conftest.py's ``pytest_plugins``; a test names them as parameters."""

from __future__ import annotations

import pytest

from tools.measure.gcs_emulator import WRAPPER, Emulator, make_bucket


@pytest.fixture(scope="session")
def gcs_emulator():
    """One emulator for the session; STORAGE_EMULATOR_HOST is set per test by `gcs_bucket`."""
    pytest.importorskip(WRAPPER, reason="dev dependency (requirements-dev.txt) not installed")
    emulator = Emulator().start()
    yield emulator
    emulator.stop()
    emulator.log_path.unlink(missing_ok=True)


@pytest.fixture
def gcs_bucket(gcs_emulator, monkeypatch):
    """A fresh, empty bucket (unversioned, like a default GCS bucket) in the session emulator."""
    monkeypatch.setenv("STORAGE_EMULATOR_HOST", gcs_emulator.url)
    return make_bucket()
