"""Guard: every design citation in the repository ("docs/design.md §N", or the older
"DESIGN §N") names a numbered section of docs/design.md, and nothing cites a design
document outside the repository."""
import re
import subprocess
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
DOC = ROOT / "docs" / "design.md"
CITATION = re.compile(r"(?:docs/design\.md|DESIGN)\)?\s*(§\s*\d+(?:\s*(?:,|and)\s*§?\s*\d+)*)")
OUTSIDE = re.compile(r"shared/DESIGN\.md|\.\./shared|DESIGN\.md")


def _sections() -> set:
    return {int(n) for n in re.findall(r"^## (\d+)\. ", DOC.read_text(), flags=re.M)}


def _tracked_text_files() -> list:
    out = subprocess.run(["git", "ls-files", "--cached", "--others", "--exclude-standard"], cwd=ROOT,
                         capture_output=True, text=True, check=True).stdout.split()
    files = []
    for name in out:
        path = ROOT / name
        if path.suffix in (".py", ".md", ".sh", ".yaml", ".yml", ".toml", ".ini", ".txt", "") and path.is_file():
            files.append(path)
    return files


def test_design_doc_has_numbered_sections():
    assert _sections() >= set(range(1, 8))


def test_every_design_citation_resolves():
    sections = _sections()
    bad, count = [], 0
    for path in _tracked_text_files():
        try:
            text = path.read_text()
        except UnicodeDecodeError:
            continue
        for m in CITATION.finditer(text):
            for n in map(int, re.findall(r"\d+", m.group(1))):
                count += 1
                if n not in sections:
                    bad.append(f"{path.relative_to(ROOT)}: {m.group(0)!r}")
    assert count >= 20, f"only {count} citations found: is the pattern still right?"
    assert not bad, f"citations of sections docs/design.md does not have: {bad}"


def test_nothing_cites_a_design_document_outside_the_repository():
    bad = [str(p.relative_to(ROOT)) for p in _tracked_text_files() if p != Path(__file__)
           and p.suffix != "" and OUTSIDE.search(p.read_text(errors="replace"))]
    assert not bad, f"files citing a design document outside the repository: {bad}"


def test_nothing_points_at_notes_outside_the_repository():
    """A reason, exclusion or comment must be readable in a clone: no path into this machine's
    /work tree (the README's generated footer quotes the command a run was made with)."""
    bad = [str(p.relative_to(ROOT)) for p in _tracked_text_files() if p != Path(__file__)
           and p != ROOT / "README.md" and p.suffix != "" and re.search(r"/work/(?:notes|shared|main|prompts)\b",
                                                                      p.read_text(errors="replace"))]
    assert not bad, f"files pointing at paths outside the repository: {bad}"
