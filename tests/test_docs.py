"""The README and docs/ can be navigated: the README opens with a contents list, every link
between them lands on a heading or a file that exists, and the quick start's two commands
are Makefile targets.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
README = ROOT / "README.md"
PAGES = [README, *sorted((ROOT / "docs").glob("*.md"))]
LINK = re.compile(r"\]\(([^)\s]+)\)")
FENCE = re.compile(r"^```.*?^```", re.M | re.S)


def slug(heading: str) -> str:
    """GitHub's anchor for a heading: lower case, punctuation dropped, spaces to hyphens."""
    return re.sub(r"[^\w\- ]", "", heading.strip().lower()).replace(" ", "-")


def anchors(page: Path) -> set[str]:
    text = FENCE.sub("", page.read_text())
    return {slug(m.group(1)) for m in re.finditer(r"^#{1,6} (.+)$", text, re.M)}


def links(page: Path) -> list[str]:
    return LINK.findall(FENCE.sub("", page.read_text()))


def test_readme_lists_its_sections_after_the_intro():
    text = README.read_text()
    sections = re.findall(r"^## (.+)$", FENCE.sub("", text), re.M)
    assert sections[0] == "Contents", sections[:3]
    contents = text.split("## Contents", 1)[1].split("\n## ", 1)[0]
    listed = {link[1:] for link in LINK.findall(contents) if link.startswith("#")}
    assert {slug(s) for s in sections[1:]} <= listed, "sections missing from the contents list"


@pytest.mark.parametrize("page", PAGES, ids=lambda p: str(p.relative_to(ROOT)))
def test_links_land_on_a_heading_or_a_file(page: Path):
    broken = []
    for link in links(page):
        if re.match(r"^[a-z]+:", link):  # http(s), mailto: not checked here
            continue
        path, _, anchor = link.partition("#")
        target = (page.parent / path).resolve() if path else page
        if not target.exists():
            broken.append(f"{link} (no file {target.relative_to(ROOT) if target.is_relative_to(ROOT) else target})")
        elif anchor and target.suffix == ".md" and anchor not in anchors(target):
            broken.append(f"{link} (no heading #{anchor} in {target.name})")
    assert not broken, f"{page.relative_to(ROOT)}: " + "; ".join(broken)


def test_quick_start_commands_are_makefile_targets():
    quick = README.read_text().split("## Quick start", 1)[1].split("\n## ", 1)[0]
    commands = re.findall(r"^(make \w+)\b", quick, re.M)
    assert commands == ["make serve", "make test"]
    makefile = (ROOT / "Makefile").read_text()
    assert re.search(r"^serve:", makefile, re.M) and re.search(r"^test:", makefile, re.M)


def test_moved_reference_lives_in_docs():
    """The long reference left the README for docs/ (issue 22); the README links to each page."""
    readme = README.read_text()
    for page, heading in [
        ("docs/accuracy.md", "# Face verification accuracy and calibration"),
        ("docs/web-client.md", "# The reference web client"),
        ("docs/templates.md", "# Templates and one photo against many"),
    ]:
        assert (ROOT / page).read_text().startswith(heading + "\n")
        assert f"]({page})" in readme, f"the README does not link {page}"
    assert "| SFace | lfw-dev |" in (ROOT / "docs/accuracy.md").read_text()
    assert "| SFace | lfw-dev |" not in readme
