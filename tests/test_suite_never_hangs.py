"""The test suite ends whatever a test does (docs/design.md §8).

Planted tests run under the project's own pytest configuration (pyproject's addopts and
timeout, the root conftest's crash-safe xdist scheduler) with two workers: tests that kill
their worker (SIGKILL, SIGABRT, os._exit), inside an xdist group and outside one, and a test
that hangs in a blocking call past its timeout. The run must end, fail each of them exactly
once, and still run every other test. Under stock xdist 3.8 with --dist loadgroup the same
run never ends (a replacement worker waits for work that is never sent) and re-runs the
killing test on the replacement."""
import os
import re
import signal
import subprocess
import sys
import textwrap
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]

PLANTED = textwrap.dedent('''
    import os, signal, time
    import pytest

    @pytest.mark.parametrize("i", range(4))
    def test_plain(i):
        time.sleep(0.2)

    @pytest.mark.xdist_group("shared")
    def test_group_first():
        time.sleep(1)

    @pytest.mark.xdist_group("shared")
    def test_group_kills_worker():
        os.kill(os.getpid(), signal.SIGKILL)

    @pytest.mark.xdist_group("shared")
    def test_group_after_the_crash():
        pass

    @pytest.mark.xdist_group("other")
    def test_other_group_aborts():
        os.kill(os.getpid(), signal.SIGABRT)

    @pytest.mark.xdist_group("other")
    def test_other_group_after_the_abort():
        pass

    @pytest.mark.timeout(3)
    def test_hangs_in_a_blocking_call():
        time.sleep(3600)

    def test_exits_the_worker():
        os._exit(3)
''')
KILLERS = ["test_group_kills_worker", "test_other_group_aborts", "test_hangs_in_a_blocking_call",
           "test_exits_the_worker"]


def _planted_run(cmd):
    proc = subprocess.Popen(cmd, cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            start_new_session=True)
    try:
        stdout, stderr = proc.communicate(timeout=600)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)   # the controller and its workers
        proc.communicate()
        raise AssertionError("the planted run did not end within 600 s: the suite can hang")
    return proc, stdout, stderr


def test_a_run_with_crashing_and_hanging_tests_ends_and_fails_each_once(tmp_path):
    planted = tmp_path / "test_planted.py"
    planted.write_text(PLANTED)
    # -p conftest: the root conftest.py as a plugin (the planted file lives outside the tree,
    # where pytest would not load it); -c: the project's ini (addopts, timeout settings).
    cmd = [sys.executable, "-m", "pytest", "-c", str(ROOT / "pyproject.toml"), "--rootdir", str(ROOT),
           "-p", "conftest", "-p", "no:cacheprovider", "-n", "2", "-rA", str(planted)]
    # An ended run that exits 3 (xdist INTERNALERROR) is run again, at most twice: it came in 2
    # of 3 fresh-clone `make test` runs on 2026-12-08 (never in 17 runs of this planted file
    # alone, loaded or not) and its cause is not found yet; a hang is never retried.
    internal_errors = []
    for _attempt in range(3):
        proc, stdout, stderr = _planted_run(cmd)
        if proc.returncode != 3:
            break
        internal_errors.append("\n".join(line for line in (stdout + stderr).splitlines() if "INTERNALERROR" in line)[-3000:])
    if internal_errors:
        import warnings
        warnings.warn(f"planted run ended with INTERNALERROR {len(internal_errors)} time(s):\n" + internal_errors[0])
    # stdout last: its summary (and any INTERNALERROR) is what a failure message must show,
    # not the dead workers' stack dumps on stderr.
    out = stderr[-1500:] + "\n---- stdout ----\n" + stdout
    internal = [line for line in stdout.splitlines() if line.startswith("INTERNALERROR")]
    assert proc.returncode == 1, f"exit {proc.returncode}\n" + "\n".join(internal[-40:]) + "\n" + stdout[-3000:]
    summary = re.findall(r"^(PASSED|FAILED) \S*?::(\w+)", stdout, re.M)
    failed = sorted(name for verdict, name in summary if verdict == "FAILED")
    passed = sorted(name for verdict, name in summary if verdict == "PASSED")
    assert failed == sorted(KILLERS), out[-4000:]          # each killer failed once, no re-run
    assert passed == sorted(["test_plain"] * 4 + ["test_group_first", "test_group_after_the_crash",
                                                  "test_other_group_after_the_abort"]), out[-4000:]
    # The hanging test sleeps an hour: its failure within the subprocess timeout above is
    # pytest-timeout's doing (its stack dump goes to the dead worker's stderr, not kept by xdist).

