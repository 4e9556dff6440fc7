"""The repository documents itself: nothing points outside it, and every link and cited section
of the documentation exists.

The design documents the project began from lived outside the repository, so a user of it had
none of them; `docs/` replaced them. These tests keep it that way.
"""

from __future__ import annotations

import re
import shutil
import subprocess
from collections import Counter
from functools import cache
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
DOCS = ROOT / "docs"

# Built from parts, so this file does not name what it forbids.
OUTSIDE = ("../" + "shared", "shared" + "/design")
OLD_STEMS = ("ARCHITECTURE", "SECURITY", "DOMAIN", "API", "STYLE")
OLD_DESIGN_FILES = re.compile(r"\b(?:" + "|".join(OLD_STEMS) + r")\.md\b")

LINK = re.compile(r"\[[^\]]*\]\(([^)\s]+)(?:\s+\"[^\"]*\")?\)")
SCHEME = re.compile(r"^[A-Za-z][A-Za-z0-9+.-]*:")
FENCE = re.compile(r"^(```|~~~).*?^\1", re.MULTILINE | re.DOTALL)
INLINE_CODE = re.compile(r"`[^`\n]*`")
HEADING = re.compile(r"^#{1,6}\s+(.+?)\s*#*\s*$", re.MULTILINE)
# `docs/<file>.md, "Section"` or `docs/<file>.md ("Section")`, as code comments cite them.
CITATION = re.compile(r"docs/([a-z0-9-]+\.md)(?:,\s*|\s+\()\"([^\"\n]+)\"")
DOC_NAME = re.compile(r"\bdocs/([A-Za-z0-9_-]+\.md)\b")


@cache
def tracked_files() -> tuple[Path, ...]:
    """Every file git tracks, as paths under the repository root."""
    git = shutil.which("git")
    if git is None or not (ROOT / ".git").exists():
        pytest.skip("not a git checkout: the tracked files are unknown")
    listing = subprocess.run(  # noqa: S603 - a fixed git command over this repository, no input
        [git, "ls-files", "-z"], cwd=ROOT, capture_output=True, check=True
    ).stdout.decode("utf-8")
    return tuple(ROOT / name for name in listing.split("\0") if name)


def text_of(path: Path) -> str | None:
    """The file's text, or None for a binary file or one deleted in the working tree."""
    try:
        return path.read_text(encoding="utf-8")
    except (UnicodeDecodeError, FileNotFoundError):
        return None


def markdown_files() -> list[Path]:
    return [ROOT / "README.md", *sorted(DOCS.glob("*.md"))]


def without_code(markdown: str) -> str:
    return INLINE_CODE.sub("", FENCE.sub("", markdown))


def slug(heading: str) -> str:
    """GitHub's anchor for a heading: lower case, punctuation dropped, spaces as hyphens."""
    return re.sub(r"[^\w\- ]", "", heading.strip().lower()).replace(" ", "-")


@cache
def anchors(path: Path) -> frozenset[str]:
    seen: Counter[str] = Counter()
    found = set()
    for heading in HEADING.findall(FENCE.sub("", path.read_text(encoding="utf-8"))):
        base = slug(heading)
        found.add(base if seen[base] == 0 else f"{base}-{seen[base]}")
        seen[base] += 1
    return frozenset(found)


@cache
def headings(path: Path) -> frozenset[str]:
    text = FENCE.sub("", path.read_text(encoding="utf-8"))
    return frozenset(h.replace("`", "").strip().lower() for h in HEADING.findall(text))


def test_the_docs_folder_has_each_document() -> None:
    names = {p.name for p in DOCS.glob("*.md")}
    assert {
        "architecture.md",
        "security-model.md",
        "operations.md",
        "adding-a-program.md",
        "domain.md",
    } <= names


def test_no_tracked_file_refers_to_design_documents_outside_the_repository() -> None:
    offenders = []
    for path in tracked_files():
        text = text_of(path)
        if text is None:
            continue
        for number, line in enumerate(text.splitlines(), start=1):
            if any(outside in line for outside in OUTSIDE) or OLD_DESIGN_FILES.search(line):
                offenders.append(f"{path.relative_to(ROOT)}:{number}: {line.strip()}")
    assert offenders == []


@pytest.mark.parametrize("document", markdown_files(), ids=lambda p: p.name)
def test_every_relative_link_points_to_a_file_in_the_repository(document: Path) -> None:
    broken = []
    for target in LINK.findall(without_code(document.read_text(encoding="utf-8"))):
        if SCHEME.match(target):
            continue  # http(s), mailto: not ours to check
        file_part, _, anchor = target.partition("#")
        linked = (document.parent / file_part).resolve() if file_part else document
        exists = linked.is_relative_to(ROOT) and linked.exists()
        if not exists or (anchor and linked.suffix == ".md" and anchor not in anchors(linked)):
            broken.append(target)
    assert broken == [], document.name


def test_every_docs_file_named_in_the_repository_exists() -> None:
    missing = []
    for path in tracked_files():
        text = text_of(path)
        if text is None:
            continue
        missing += [
            f"{path.relative_to(ROOT)}: docs/{name}"
            for name in DOC_NAME.findall(text)
            if not (DOCS / name).is_file()
        ]
    assert missing == []


def test_every_section_cited_in_the_code_exists() -> None:
    missing = []
    for path in tracked_files():
        text = text_of(path)
        if text is None:
            continue
        for name, section in CITATION.findall(text):
            document = DOCS / name
            if not document.is_file() or section.lower() not in headings(document):
                missing.append(f"{path.relative_to(ROOT)}: docs/{name}, {section!r}")
    assert missing == []


def test_the_security_model_keeps_a_section_for_review_findings() -> None:
    """Each finding of a security review is recorded as a section under this heading."""
    text = (DOCS / "security-model.md").read_text(encoding="utf-8")
    _, found, findings = text.partition("\n## Review findings\n")
    assert found, "the security model has no '## Review findings' section"
    assert findings.lstrip().startswith(
        "Sections below record each finding of the 2026-11 security review and its fix."
    )


def test_the_readme_shows_every_screenshot_and_only_those_that_exist() -> None:
    """The browser tests take the screenshots (`make screenshots`); the README's table shows
    each of them, and names none that is not there."""
    taken = {p.name for p in (DOCS / "screenshots").glob("*.png")}
    shown = set(re.findall(r"docs/screenshots/([\w-]+\.png)", (ROOT / "README.md").read_text()))
    assert taken and shown == taken
