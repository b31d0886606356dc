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
    proc, stdout, stderr = _planted_run(cmd)
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



class _Worker:
    """What the scheduler reads of an xdist WorkerController: its gateway id and the commands
    sent to it (the scheduler is the code under test; no process is started)."""

    shutting_down = False

    def __init__(self, name):
        self.gateway = type("Gateway", (), {"id": name})()
        self.sent = []

    def send_runtest_some(self, indices):
        self.sent.append(list(indices))

    def shutdown(self):
        self.shutting_down = True


class _Config:
    class option:
        loadscopereorder = False

    @staticmethod
    def getvalue(name):
        return ["2*popen"] if name == "tx" else None


def _root_conftest():
    import importlib.util
    spec = importlib.util.spec_from_file_location("root_conftest_under_test", ROOT / "conftest.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_a_replacement_worker_still_collecting_is_not_given_work():
    # Two workers crash; two replacements start. When the first replacement's collection is
    # in, xdist 3.8 reschedules on every node, the one still collecting included, and ended the
    # run with INTERNALERROR (KeyError in _assign_work_unit): 2 of 3 fresh-clone runs.
    sched = _root_conftest().CrashSafeLoadGroupScheduling(_Config())
    ids = [f"t.py::test_{i}" for i in range(12)]
    a, b = _Worker("a"), _Worker("b")
    for node in (a, b):
        sched.add_node(node)
        sched.add_node_collection(node, ids)
    sched.schedule()
    assert sched.remove_node(a) is not None and sched.remove_node(b) is not None   # both die mid-test
    c, d = _Worker("c"), _Worker("d")
    sched.add_node(c)
    sched.add_node(d)
    sched.add_node_collection(d, ids)
    sched.schedule()                       # d's collection is in; c is still collecting
    assert d.sent and not c.sent
    sched.add_node_collection(c, ids)
    sched.schedule()
    assert c.sent or not sched.workqueue
