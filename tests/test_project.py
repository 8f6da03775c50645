"""The project's own paperwork: licence, third-party notices, one version.

- every bundle in models/ names its licence, and THIRD_PARTY_NOTICES.md has a row for it
  with that licence (and the licence's text, where it is not the project's own);
- LICENSE is the Apache License 2.0, unmodified;
- the version is shared.__version__; pyproject.toml takes it from there, and
  docs/openapi.yaml and CHANGELOG.md name the same one.
"""

from __future__ import annotations

import hashlib
import importlib
import json
import re
import tomllib
from pathlib import Path

import pytest
import yaml
from packaging.version import Version

import shared

ROOT = Path(__file__).resolve().parents[1]
NOTICES = ROOT / "THIRD_PARTY_NOTICES.md"
BUNDLES = sorted(p.parent for p in (ROOT / "models").glob("*/bundle.json"))

# sha256 of https://www.apache.org/licenses/LICENSE-2.0.txt, the text every Apache-2.0 project ships.
APACHE_2_SHA256 = "cfc7749b96f63bd31c3c42b5c471bf756814053e847c10f3eb003417bc523d30"
# A licence identifier: an SPDX id (Apache-2.0, BSL-1.0, CC-BY-4.0, ...), MIT, or "public domain".
LICENCE_ID = re.compile(r"\b(?:[A-Z][A-Za-z]*(?:-[A-Za-z]+)*-\d+(?:\.\d+)*|MIT|ISC)\b|\bpublic domain\b", re.IGNORECASE)
# Licences whose terms ask for their text to travel with the work, and a phrase of that text.
# (Apache-2.0's text is the project's own LICENSE.)
LICENCE_TEXT = {
    "mit": "Permission is hereby granted, free of charge, to any person obtaining a copy",
    "bsl-1.0": "Boost Software License - Version 1.0",
    "apache-2.0": "[LICENSE](LICENSE)",
}


def licence_fields(meta: dict) -> dict[str, str]:
    """Every licence statement in a bundle.json: top-level and source keys spelt licence/license."""
    found = {k: v for k, v in meta.items() if "licen" in k.lower()}
    found |= {f"source.{k}": v for k, v in (meta.get("source") or {}).items() if "licen" in k.lower()}
    return {k: v for k, v in found.items() if isinstance(v, str) and v.strip()}


def licence_ids(statement: str) -> set[str]:
    return {m.lower() for m in LICENCE_ID.findall(statement)}


def notice_rows(name: str) -> list[str]:
    """The table rows of THIRD_PARTY_NOTICES.md whose first cell is the bundle `name`."""
    return [line for line in NOTICES.read_text().splitlines() if line.startswith(f"| `{name}` |")]


# ---- licence and notices ------------------------------------------------------------------


def test_there_are_bundles_to_check():
    assert len(BUNDLES) >= 6, [b.name for b in BUNDLES]


@pytest.mark.parametrize("bundle", BUNDLES, ids=lambda b: b.name)
def test_every_bundle_names_its_licence_and_is_in_the_notices(bundle: Path):
    meta = json.loads((bundle / "bundle.json").read_text())
    fields = licence_fields(meta)
    assert fields, f"models/{bundle.name}/bundle.json names no licence (add source.licence)"
    ids = set().union(*(licence_ids(v) for v in fields.values()))
    assert ids, f"models/{bundle.name}/bundle.json: no licence identifier (SPDX id, MIT or public domain) in {fields}"
    rows = notice_rows(meta["name"])
    assert len(rows) == 1, f"THIRD_PARTY_NOTICES.md needs exactly one table row for `{meta['name']}`, found {len(rows)}"
    missing = ids - licence_ids(rows[0])
    assert not missing, f"THIRD_PARTY_NOTICES.md's row for `{meta['name']}` lacks {sorted(missing)}: {rows[0]}"


def test_notices_reproduce_the_licence_texts_their_terms_require():
    text = NOTICES.read_text()
    named = set()
    for bundle in BUNDLES:
        for statement in licence_fields(json.loads((bundle / "bundle.json").read_text())).values():
            named |= licence_ids(statement)
    named |= {"bsl-1.0"}  # dlib's mean-face template in shared/face/align.py
    for licence in sorted(named - {"public domain"}):
        assert licence in LICENCE_TEXT, f"no licence text known for {licence}: add it to THIRD_PARTY_NOTICES.md and LICENCE_TEXT"
        assert LICENCE_TEXT[licence] in text, f"THIRD_PARTY_NOTICES.md lacks the {licence} text"


def test_licence_is_the_apache_license_2_0_unmodified():
    data = (ROOT / "LICENSE").read_bytes()
    assert data.decode().split()[:4] == ["Apache", "License", "Version", "2.0,"]
    assert hashlib.sha256(data).hexdigest() == APACHE_2_SHA256, "LICENSE differs from the Apache License 2.0 text"
    assert tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["license"] == "Apache-2.0"
    assert "Apache-2.0" in (ROOT / "README.md").read_text()


# ---- one version --------------------------------------------------------------------------


def pyproject_version() -> str:
    """The version a build of pyproject.toml reports: its dynamic attr, resolved by import."""
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())
    assert "version" not in project["project"], "pyproject.toml must not hold a second copy of the version"
    assert "version" in project["project"].get("dynamic", [])
    module, _, name = project["tool"]["setuptools"]["dynamic"]["version"]["attr"].rpartition(".")
    return str(getattr(importlib.import_module(module), name))


def test_one_version_in_pyproject_openapi_and_the_library():
    version = shared.__version__
    Version(version)  # a valid PEP 440 version
    assert pyproject_version() == version
    openapi = yaml.safe_load((ROOT / "docs" / "openapi.yaml").read_text())
    assert str(openapi["info"]["version"]) == version, "docs/openapi.yaml info.version differs from shared.__version__"


def test_changelog_starts_at_the_current_version():
    headings = re.findall(r"^## (\S+)", (ROOT / "CHANGELOG.md").read_text(), flags=re.MULTILINE)
    assert headings, "CHANGELOG.md has no '## <version>' heading"
    assert headings[0] == shared.__version__, f"CHANGELOG.md's first release is {headings[0]}, the version is {shared.__version__}"
