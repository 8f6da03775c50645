import os
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "tests"))

from tools import testdata  # noqa: E402

# The suite's functions are private instances that read their own detailed health report
# without an API key (the default, HEALTH_DETAILS=key, shows anyone the brief report only);
# tests of the default unset it (tests/functions/test_health.py). Served processes inherit it.
os.environ.setdefault("HEALTH_DETAILS", "open")

# The object-storage emulator's fixtures (gcs_emulator, gcs_bucket), a real Redis (redis_server)
# and a real Postgres with pgvector (postgres_server, gallery_url), for any test that names them.
pytest_plugins = ["gcs_emulator", "redis_server", "postgres_server"]


@pytest.fixture(autouse=True)
def _restore_environ():
    """Tests may change settings through os.environ; put it back and forget cached settings."""
    saved = dict(os.environ)
    yield
    os.environ.clear()
    os.environ.update(saved)
    from shared.settings import get_settings

    get_settings.cache_clear()


@pytest.fixture(scope="session")
def face_photos() -> Path:
    return testdata.face_photos()


@pytest.fixture(scope="session")
def deepface_photos() -> Path:
    path = testdata.shared_data("faces", "deepface")
    if path is None:
        pytest.skip("../shared/data/faces/deepface is not beside the repo (calibration photos)")
    return path


@pytest.fixture(scope="session")
def gesture_examples() -> dict:
    """Shipped gesture inputs (tools/testdata.py): keypoint.csv-style `hands` and
    point_history.csv-style `tracks` rows, derived from docs/examples/."""
    return {"hands": testdata.hand_rows(8), "tracks": testdata.track_rows(8)}


@pytest.fixture(scope="session")
def gesture_data() -> Path:
    path = testdata.shared_data("gesture")
    if path is None:
        pytest.skip("../shared/data/gesture is not beside the repo (training keypoints)")
    return path
