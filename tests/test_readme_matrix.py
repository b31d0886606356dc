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
    # The first tier's table and the second tier's, one per task (reports.matrix.sections).
    section = markdown.readme_section(README.read_text())
    tables = section[section.index("| Architecture |"): section.index("<details><summary>Environment")]
    rows = set(re.findall(r"^\| ([^|]+?) \| ", tables, flags=re.M)) - {"Architecture", "**pass / total**"}
    assert rows == _catalogue_architectures()


def _slice_header(path):
    """The ``slice`` header `harness complete --publish` writes first (None: a file published
    before slices named their code, record_version 2)."""
    first = json.loads(path.read_text().splitlines()[0])
    return first if first.get("event") == "slice" else None


def digest_verdict(paths, current: str):
    """(skip reason or None, problems) of the guard below for the slice files ``paths``
    against HEAD's digest ``current``. Skipped only while no slice names a digest."""
    headers = {p.name: _slice_header(p) for p in paths}
    if all(h is None for h in headers.values()):
        return ("the committed slices were published before slices named their code digest (no `slice` "
                "header, record_version 2): nothing to compare until `make matrix` re-runs them"), []
    out = [f"{name}: no code digest, beside slices that have one" for name, h in sorted(headers.items())
           if h is None or not h.get("code_digest")]
    out += [f"{name}: made by code {h['code_digest']} (commit {h.get('commit')}), HEAD's is {current}"
            for name, h in sorted(headers.items()) if h and h.get("code_digest") and h["code_digest"] != current]
    return None, out


@needs_results
def test_committed_slices_were_made_by_this_code():
    """The README's table is what HEAD's code produces: every committed slice names the
    digest of the code and exporters it ran (harness/digest.py, `python -m harness digest`),
    and it must be HEAD's. After a change to converter/, zoo/ or harness/, `make matrix`
    (and `make matrix-graph`) refresh the slices."""
    from harness.digest import compute

    skip, found = digest_verdict(RESULTS, compute()["digest"])
    if skip:
        pytest.skip(skip)
    assert not found, "; ".join(found) + ": re-run `make matrix` / `make matrix-graph` and commit " \
                                         "reports/results/ and README.md"


def test_the_digest_guard_fails_on_other_code_and_skips_only_before_digests(tmp_path):
    def slice_file(name, header):
        path = tmp_path / name
        final = {"event": "final", "case": "c", "framework": "torch", "model": "m", "opset": 13, "device": "cpu"}
        path.write_text("".join(json.dumps(r) + "\n" for r in ([header] if header else []) + [final]))
        return path

    legacy = slice_file("cpu-opset11.jsonl", None)
    assert digest_verdict([legacy], "abc")[0]                               # before digests: skipped
    ours = slice_file("cpu-opset13.jsonl", {"event": "slice", "code_digest": "abc", "commit": "1"})
    assert digest_verdict([ours], "abc") == (None, [])
    theirs = slice_file("cpu-opset17.jsonl", {"event": "slice", "code_digest": "old", "commit": "0"})
    skip, found = digest_verdict([ours, theirs], "abc")
    assert skip is None and found == ["cpu-opset17.jsonl: made by code old (commit 0), HEAD's is abc"]
    skip, found = digest_verdict([ours, legacy], "abc")                     # one with, one without: fails
    assert skip is None and found == ["cpu-opset11.jsonl: no code digest, beside slices that have one"]


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
            # the verdict is the converter gate's: matches iff every comparison with ORT held
            gates = [r.get("oneflow_vs_ort")] + list((r.get("batches") or {}).values())
            if r.get("oneflow_vs_ort") is None:
                assert str(r.get("converter")).startswith("fails at "), (r["case"], r.get("converter"))
            elif all(g["ok"] for g in gates):
                assert r.get("converter") == "matches ORT", (r["case"], r.get("converter"))
            else:
                assert r.get("converter") == "differs from ORT", (r["case"], r.get("converter"))


@needs_results
def test_committed_cpu_results_cover_every_matrix_opset():
    """The committed CPU eager slices are the whole cube: the matrix's opsets (11, 13, 17) and
    every catalogue extra opset (the seed's opset 10), one complete file each."""
    from harness.cases import extra_opsets, load_cells
    from harness.matrix import MATRIX_OPSETS
    have = {int(m.group(1)) for p in RESULTS if (m := re.fullmatch(r"cpu-opset(\d+)\.jsonl", p.name))}
    assert have == set(MATRIX_OPSETS) | extra_opsets(load_cells())
