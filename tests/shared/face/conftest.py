"""The face tests' in-process verifier: the bundled models at the default settings, the
embedding cache off (every photo is embedded, as the tests need)."""

from __future__ import annotations

from dataclasses import replace

import pytest

from shared.face.verify import FaceVerifier, VerifyOptions
from shared.settings import get_settings


@pytest.fixture(scope="module")
def verifier() -> FaceVerifier:
    return FaceVerifier.load(replace(VerifyOptions.from_settings(get_settings()), cache_size=0))
