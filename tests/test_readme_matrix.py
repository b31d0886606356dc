"""Guards: the README's support table is exactly what `python -m reports` makes of the
committed results file, and it lists the same architectures as the zoo catalogue."""
import json
import re
import subprocess
import sys
from pathlib import Path

import pytest

from reports import markdown
from reports.matrix import build
from reports.records import load

ROOT = Path(__file__).resolve().parents[1]
RESULTS = ROOT / "reports" / "results" / "cpu-opset13.jsonl"
README = ROOT / "README.md"

needs_results = pytest.mark.skipif(not RESULTS.exists(), reason=f"{RESULTS.relative_to(ROOT)} not committed yet")


def _catalogue_architectures() -> set:
    proc = subprocess.run([sys.executable, "-m", "zoo", "list", "--json"], cwd=ROOT, capture_output=True,
                          text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr
    return {cell["architecture"] for cell in json.loads(proc.stdout)}


@needs_results
def test_readme_table_is_generated_from_the_committed_results():
    expected = markdown.render(build(load([RESULTS]))).strip("\n")
    assert markdown.readme_section(README.read_text()) == expected, \
        "README support matrix is stale or hand-edited: run `make reports` and commit README.md"


@needs_results
def test_table_and_catalogue_list_the_same_architectures():
    section = markdown.readme_section(README.read_text())
    table = section[section.index("| Architecture |"): section.index("| **pass / total**")]
    rows = set(re.findall(r"^\| ([^|]+?) \| ", table, flags=re.M)) - {"Architecture"}
    assert rows == _catalogue_architectures()


@needs_results
def test_committed_run_is_a_full_cpu_opset13_run():
    runset = load([RESULTS])
    assert {(r["device"], r["opset"]) for r in runset.finals} == {("cpu", 13)}
    assert {r["framework"] for r in runset.finals} >= {"torch", "tensorflow", "paddle"}
    assert not runset.unfinished
