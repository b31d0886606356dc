"""Guards: the README's support table is exactly what `python -m reports` makes of the
committed results files (reports/results/<device>-opset<N>.jsonl, -graph.jsonl for graph mode),
each file is one complete run slice (`python -m harness complete`), and the table lists the
catalogue's architectures."""
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
RESULTS_DIR = ROOT / "reports" / "results"
RESULTS = sorted(RESULTS_DIR.glob("*.jsonl"))
README = ROOT / "README.md"

needs_results = pytest.mark.skipif(not RESULTS, reason="reports/results/*.jsonl not committed yet")


def _catalogue_architectures() -> set:
    proc = subprocess.run([sys.executable, "-m", "zoo", "list", "--json"], cwd=ROOT, capture_output=True,
                          text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr
    return {cell["architecture"] for cell in json.loads(proc.stdout)}


@needs_results
def test_readme_table_is_generated_from_the_committed_results():
    expected = markdown.render(build(load(RESULTS))).strip("\n")
    assert markdown.readme_section(README.read_text()) == expected, \
        "README support matrix is stale or hand-edited: run `make reports` and commit README.md"


@needs_results
def test_table_and_catalogue_list_the_same_architectures():
    section = markdown.readme_section(README.read_text())
    table = section[section.index("| Architecture |"): section.index("| **pass / total**")]
    rows = set(re.findall(r"^\| ([^|]+?) \| ", table, flags=re.M)) - {"Architecture"}
    assert rows == _catalogue_architectures()


@needs_results
@pytest.mark.parametrize("path", RESULTS, ids=lambda p: p.name)
def test_each_committed_results_file_is_one_complete_slice(path):
    from harness.cases import load_cells
    from harness.complete import mode, problems, read_records, slice_name

    recs = read_records(str(path))
    assert problems(recs, load_cells()) == []
    slices = {(r["device"], int(r["opset"]), mode(r)) for r in recs if r.get("event") == "final"}
    assert [slice_name(*s) for s in slices] == [path.name]


@needs_results
def test_every_record_that_reached_ort_carries_the_converter_gate():
    """docs/design.md §4: wherever ORT produced outputs the converter ran (or failed trying),
    and no pass has a failed converter gate."""
    runset = load(RESULTS)
    gated = [r for r in runset.finals if r.get("record_version", 1) >= 2]   # v1 records predate the gate
    if not gated:
        pytest.skip("the committed results predate the converter gate (record_version 1): re-run make matrix")
    for r in gated:
        if r["status"] == "pass":
            assert (r.get("oneflow_vs_ort") or {}).get("ok") is True, r["case"]
        if r.get("ort_vs_source") is not None:
            assert r.get("converter") is not None, r["case"]


@needs_results
def test_committed_cpu_results_cover_every_matrix_opset():
    """The committed CPU eager slices are the whole cube: the matrix's opsets (11, 13, 17) and
    every catalogue extra opset (the seed's opset 10), one complete file each."""
    from harness.cases import extra_opsets, load_cells
    from harness.matrix import MATRIX_OPSETS
    have = {int(m.group(1)) for p in RESULTS if (m := re.fullmatch(r"cpu-opset(\d+)\.jsonl", p.name))}
    assert have == set(MATRIX_OPSETS) | extra_opsets(load_cells())
