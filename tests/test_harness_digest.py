"""The code digest a committed slice names (harness/digest.py, docs/design.md §3): the same in
every clone at one commit, moved by a change to converter/, zoo/ or harness/, and by nothing
else (tests, docs, README, results, timestamps, bytecode, untracked files)."""
import os
import subprocess
import sys

from harness.digest import code_files, compute
from harness.paths import REPO_ROOT

GIT = ["git", "-c", "user.name=t", "-c", "user.email=t@example.com"]


def _repo(tmp_path):
    root = tmp_path / "repo"
    for rel, text in {"converter/api.py": "x = 1\n", "zoo/catalogue.yaml": "models: {}\n",
                      "harness/runner.py": "y = 2\n", "tests/test_a.py": "t = 0\n", "README.md": "r\n",
                      "docs/design.md": "d\n", "reports/results/cpu-opset13.jsonl": "{}\n"}.items():
        (root / rel).parent.mkdir(parents=True, exist_ok=True)
        (root / rel).write_text(text)
    subprocess.run([*GIT, "init", "-q"], cwd=root, check=True)
    subprocess.run([*GIT, "add", "-A"], cwd=root, check=True)
    subprocess.run([*GIT, "commit", "-q", "-m", "c"], cwd=root, check=True)
    return root


def test_the_digest_reads_the_packages_code_only_and_is_the_same_in_a_clone(tmp_path):
    root = _repo(tmp_path)
    assert code_files(str(root)) == ["converter/api.py", "harness/runner.py", "zoo/catalogue.yaml"]
    before = compute(str(root))["digest"]
    clone = tmp_path / "clone"
    subprocess.run(["git", "clone", "-q", str(root), str(clone)], check=True)
    assert compute(str(clone))["digest"] == before
    # outside the packages, bytecode, untracked files, timestamps: no change
    for rel in ("tests/test_a.py", "README.md", "docs/design.md", "reports/results/cpu-opset13.jsonl"):
        (root / rel).write_text("changed\n")
    (root / "converter" / "__pycache__").mkdir()
    (root / "converter" / "__pycache__" / "api.cpython-39.pyc").write_bytes(b"\0")
    (root / "harness" / "scratch.py").write_text("untracked\n")
    os.utime(root / "converter" / "api.py", (1, 1))
    assert compute(str(root))["digest"] == before
    # a change to any package's code or to the catalogue moves it
    for rel in ("converter/api.py", "harness/runner.py", "zoo/catalogue.yaml"):
        original = (root / rel).read_text()
        (root / rel).write_text(original + "# changed\n")
        assert compute(str(root))["digest"] != before, rel
        (root / rel).write_text(original)
    assert compute(str(root))["digest"] == before


def test_python_m_harness_digest_prints_the_current_digest():
    proc = subprocess.run([sys.executable, "-m", "harness", "digest"], cwd=REPO_ROOT, capture_output=True,
                          text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.strip() == compute()["digest"]
