"""The CI workflows pass actionlint, and call the commands the README documents."""
import os
import shutil
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
WORKFLOWS = ROOT / ".github" / "workflows"


def _actionlint() -> str:
    exe = shutil.which("actionlint") or os.path.join(os.path.dirname(sys.executable), "actionlint")
    assert os.path.exists(exe), "actionlint is part of the pinned test set (pyproject.toml)"
    return exe


def test_workflows_pass_actionlint():
    files = sorted(WORKFLOWS.glob("*.yml"))
    assert {f.name for f in files} >= {"pull-request.yml", "nightly.yml"}
    proc = subprocess.run([_actionlint(), *map(str, files)], cwd=ROOT, capture_output=True, text=True)
    assert proc.returncode == 0, proc.stdout + proc.stderr


def test_actionlint_catches_a_broken_workflow(tmp_path):
    bad = tmp_path / ".github" / "workflows" / "bad.yml"
    bad.parent.mkdir(parents=True)
    bad.write_text("on: push\njobs:\n  x:\n    runs-on: ubuntu-22.04\n    steps:\n      - run: echo ${{ github.nope }}\n")
    proc = subprocess.run([_actionlint(), str(bad)], cwd=tmp_path, capture_output=True, text=True)
    assert proc.returncode != 0


def test_workflows_use_the_documented_commands():
    pr = (WORKFLOWS / "pull-request.yml").read_text()
    nightly = (WORKFLOWS / "nightly.yml").read_text()
    assert "make test" in pr and "make smoke" in pr
    assert "--device cuda" in nightly and "--readme README.md" in nightly
    assert "make test" in (ROOT / ".ci" / "run").read_text()
