"""The README and docs/ point at things that exist: a newcomer who follows a link, or looks for a
file or module a page names, finds it.

Files move (issue 23 regrouped core/, tui/ and tests/); a page that still names the old place
sends its reader nowhere. This reads every Markdown page a reader starts from (README.md,
CHANGELOG.md, docs/*.md) and checks each relative link, each repository path ending in a file
name (``core/train/vram.py``) and each dotted module path (``core.train.device.nvidia_smi``).
Web links are not followed (no network in the suite); anchors are checked against the headings
of the page they point to.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent
PAGES = sorted([REPO / "README.md", REPO / "CHANGELOG.md", *(REPO / "docs").glob("*.md")])

LINK = re.compile(r"\[[^\]]*\]\(([^)\s]+)\)|^\[[^\]]+\]:\s*(\S+)", re.MULTILINE)
TOP = r"(?:core|tui|tests|bench|tools|datasets|docs)"
FILE_PATH = re.compile(rf"(?<![\w./-]){TOP}/[\w./-]*\.(?:py|md|jsonl|json|tcss|txt)\b")
MODULE = re.compile(r"(?<![\w./-])(?:core|tui)(?:\.[A-Za-z_]\w*)+")


def _anchor(heading: str) -> str:
    """GitHub's anchor for a heading: lower case, punctuation dropped, spaces to hyphens."""
    text = re.sub(r"[`*_]", "", heading.strip().lower())
    text = re.sub(r"[^\w\- ]", "", text)
    return text.replace(" ", "-")


def _anchors(page: Path) -> set[str]:
    text = re.sub(r"^```.*?^```", "", page.read_text(encoding="utf-8"), flags=re.MULTILINE | re.DOTALL)
    return {_anchor(m.group(1)) for m in re.finditer(r"^#+\s+(.*)$", text, re.MULTILINE)}


def _module_exists(dotted: str) -> bool:
    """True when the dotted path's leading names are packages and then a module (or it ends at a
    package): ``core.train.device.nvidia_smi`` needs core/train/device.py; what follows a module
    is an attribute of it."""
    here = REPO
    for name in dotted.split("."):
        if (here / f"{name}.py").is_file():
            return True
        if not (here / name / "__init__.py").is_file():
            return False
        here = here / name
    return True


def test_the_pages_exist():
    names = {p.relative_to(REPO).as_posix() for p in PAGES}
    assert {"README.md", "CHANGELOG.md", "docs/architecture.md"} <= names


@pytest.mark.parametrize("page", PAGES, ids=lambda p: p.relative_to(REPO).as_posix())
def test_relative_links_resolve(page):
    text = page.read_text(encoding="utf-8")
    broken = []
    for m in LINK.finditer(text):
        target = m.group(1) or m.group(2)
        if re.match(r"[a-z]+:", target):  # https:, mailto:
            continue
        path, _, anchor = target.partition("#")
        dest = (page.parent / path).resolve() if path else page
        if not dest.exists():
            broken.append(target)
        elif anchor and dest.suffix == ".md" and anchor not in _anchors(dest):
            broken.append(target)
    assert broken == []


@pytest.mark.parametrize("page", PAGES, ids=lambda p: p.relative_to(REPO).as_posix())
def test_named_files_and_modules_exist(page):
    text = page.read_text(encoding="utf-8")
    missing = sorted({p for p in FILE_PATH.findall(text) if not (REPO / p).exists()}
                     | {m for m in MODULE.findall(text) if not _module_exists(m)})
    assert missing == []
