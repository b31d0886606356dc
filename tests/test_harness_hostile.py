"""Hostile inputs to `python -m harness repro`: exit 2 and one line naming the file."""
import json
import subprocess
import sys

import pytest

from harness.paths import REPO_ROOT


def _repro(bundle):
    return subprocess.run([sys.executable, "-m", "harness", "repro", str(bundle)], capture_output=True,
                          text=True, cwd=REPO_ROOT, timeout=120)


@pytest.mark.parametrize("meta, problem", [
    (None, "no such bundle directory"),
    ("{not json", "not JSON"),
    ("[1, 2]", "JSON object"),
    (json.dumps({"case": "torch-x-opset13-cpu"}), "lacks status, device"),
])
def test_repro_refuses_a_bad_bundle(tmp_path, meta, problem):
    bundle = tmp_path / "bundle"
    if meta is not None:
        bundle.mkdir()
        (bundle / "meta.json").write_text(meta)
    proc = _repro(bundle)
    assert proc.returncode == 2, proc.stdout + proc.stderr
    err = proc.stderr.strip()
    assert len(err.splitlines()) == 1 and str(bundle) in err and problem in err, err
