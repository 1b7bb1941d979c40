"""The repo documents what the code relies on: cited doc sections exist, the licence is there."""

from __future__ import annotations

import configparser
import re
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
SOURCES = [
    *ROOT.glob("cursor_api/**/*.py"),
    *ROOT.glob("cursor_api/**/*.proto"),
    *ROOT.glob("tests/*.py"),
    *ROOT.glob("bench/*.py"),
    *ROOT.glob("scripts/*.py"),
    ROOT / "README.md",
]
# "docs/protocol.md §3.2", "docs/agent-protocol.md §5-§7", "docs/protocol.md §2, §7"
CITATION = re.compile(r"docs/([\w-]+\.md)((?:[ ,;-]*§\d+(?:\.\d+)?)*)")


def _headings(doc: Path) -> set[str]:
    """Section numbers of a doc: "## 3. Errors" -> "3", "### 3.2 Statuses" -> "3.2"."""
    found = re.findall(r"^#{2,4} (\d+(?:\.\d+)?)\.? ", doc.read_text(encoding="utf-8"), re.M)
    return set(found)


def test_every_cited_doc_section_exists() -> None:
    cited = 0
    for source in SOURCES:
        text = source.read_text(encoding="utf-8")
        for match in CITATION.finditer(text):
            doc = ROOT / "docs" / match.group(1)
            assert doc.is_file(), f"{source.name} cites {doc.name}, which is not in docs/"
            sections = set(re.findall(r"§(\d+(?:\.\d+)?)", match.group(2)))
            missing = sections - _headings(doc)
            assert not missing, f"{source.name} cites {doc.name} §{missing}, not a heading there"
            cited += len(sections)
    assert cited >= 30


def test_no_citation_points_outside_the_repo() -> None:
    # Built from pieces so this file does not match itself.
    outside = re.compile(
        "|".join(
            re.escape(p)
            for p in [
                "PROTOCOL" + ".md",
                "PROTOCOL" + " §",
                "research" + "/",
                "agent" + "service",
                "../" + "shared",
                "SPEC" + " §",
                "SPEC" + ".md",
                "shared" + "/research",
            ]
        )
    )
    offenders = [
        f"{source.relative_to(ROOT)}:{n}"
        for source in SOURCES
        for n, line in enumerate(source.read_text(encoding="utf-8").splitlines(), 1)
        if outside.search(line)
    ]
    assert offenders == []


def test_licence_matches_setup_cfg() -> None:
    setup = configparser.ConfigParser()
    setup.read(ROOT / "setup.cfg")
    assert setup["metadata"]["license"] == "MIT"
    assert setup["metadata"]["license_files"].strip() == "LICENSE"
    assert (ROOT / "LICENSE").read_text(encoding="utf-8").startswith("MIT License")
