"""Under pytest-xdist every zoo case yields exactly one final record, the same set as
without xdist (issue: harness, records). Real cases: the smallest torch cell on two devices
(the cuda one takes the skip path without a GPU), run through pytest with -n 0 and with -n 2.
Both read the session's export of that cell (zoo_cache_dir, shared with the torch column's
smoke cell in one xdist group): the runs pay for process B and pytest, not for torch."""
import subprocess
import sys
from pathlib import Path

import pytest

from harness import records
from zoo_export_checks import TORCH_SMOKE_GROUP

ROOT = Path(__file__).resolve().parents[1]
SELECTION = ["--framework", "torch", "--model", "squeezenet1_1", "--device", "cpu",
             "--device", "cuda"]   # the cuda cell exercises the skip path on machines without a GPU

pytestmark = [pytest.mark.torch, pytest.mark.xdist_group(TORCH_SMOKE_GROUP)]


def _run(tmp_path, cache_dir, name, workers):
    results = tmp_path / f"{name}.jsonl"
    cmd = [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "tests/test_harness_zoo.py",
           *SELECTION, "--results", str(results), "--zoo-out", str(tmp_path / name),
           "--zoo-cache", cache_dir, "-n", str(workers)]
    proc = subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True, timeout=1800)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    return records.read(str(results))


def _finals(recs):
    return sorted((r["case"], r["status"]) for r in recs if r.get("event") == "final")


def test_xdist_gives_the_same_single_final_record_per_case(tmp_path, zoo_cache_dir):
    serial = _run(tmp_path, zoo_cache_dir, "serial", 0)
    parallel = _run(tmp_path, zoo_cache_dir, "parallel", 2)
    for recs in (serial, parallel):
        finals = [r["case"] for r in recs if r.get("event") == "final"]
        started = [r["case"] for r in recs if r.get("event") == "started"]
        assert len(finals) == len(set(finals)) == 2          # exactly one final per case
        assert sorted(started) == sorted(finals)             # and a started record before it
        assert sum(r.get("event") == "run" for r in recs) == 1
    assert _finals(serial) == _finals(parallel)
    assert all(s == "pass" or s.startswith("skip:") for _, s in _finals(serial)), _finals(serial)
