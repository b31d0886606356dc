"""Harness pieces that need no OneFlow model run: CUDA preflight decisions, staged child
processes (timeouts and signals by stage), atomic records, case selection, xfail mapping.
~10 s (a few plain Python children, one OneFlow import for the preflight)."""
import os
import shutil
import subprocess
import sys
import textwrap

import pytest

from harness import cases, records
from harness import status as st
from harness.cuda_preflight import decide, preflight
from harness.procs import run_staged
from harness.runner import RunOptions, _apply_xfail, run_case

H200_ABORT = textwrap.dedent("""\
    terminate called after throwing an instance of 'oneflow::RuntimeException'
      what():  Check failed: (cudaSuccess) == (err) no kernel image is available for execution on the device (209)
    """)
H200_INFO = '@@preflight {"oneflow": "0.9.0", "available": true, "name": "NVIDIA H200", "capability": [9, 0]}\n'


# --- CUDA preflight ----------------------------------------------------------------------
def test_preflight_parses_the_no_kernel_image_abort():
    pf = decide(-6, H200_INFO, H200_ABORT)
    assert not pf.usable and pf.skip_code == "cuda-arch-unsupported"
    assert pf.device == "NVIDIA H200" and pf.capability == (9, 0)
    for text in ("NVIDIA H200", "compute capability 9.0", "sm_60", "sm_86", "no PTX", "(209)"):
        assert text in pf.reason


def test_preflight_accepts_a_device_whose_kernel_runs():
    ok = H200_INFO.replace("H200", "A100").replace("[9, 0]", "[8, 0]") + '@@preflight {"kernel_result": 240.0}\n'
    assert decide(0, ok, "").usable


def test_preflight_reports_other_failures_without_crashing():
    assert decide(1, "", "ImportError: libcuda").skip_code == "cuda-preflight-failed"
    assert decide(-11, H200_INFO, "").skip_code == "cuda-preflight-failed"


@pytest.mark.skipif(shutil.which("nvidia-smi") is not None or os.path.exists("/dev/nvidia0"),
                    reason="this machine has an NVIDIA device")
def test_a_cuda_case_on_this_machine_is_infra_unless_skipping_is_allowed(tmp_path):
    """docs/design.md §7: a CUDA run on a device OneFlow cannot use is red (infra, with the
    reason and the GPUs that work), never an all-skip run; --allow-skip-device skips instead."""
    pf = preflight()
    assert not pf.usable and pf.skip_code == "no-cuda-device", pf
    case = cases.Case("torch", "resnet50", "ResNet", 13, "cuda", prepared_dir=str(tmp_path))
    results = str(tmp_path / "r.jsonl")
    rec = run_case(case, RunOptions(out_dir=str(tmp_path), results=results))
    assert rec["status"] == "infra" and "is_available() == False" in rec["error"], rec
    assert "compute capability 6.0, 6.1, 7.0, 7.5, 8.0, 8.6 only" in rec["error"]
    assert "--allow-skip-device" in rec["error"]
    assert [r["event"] for r in records.read(results)] == ["started", "final"]
    rec = run_case(case, RunOptions(out_dir=str(tmp_path), allow_skip_device=True))
    assert rec["status"] == "skip:no-cuda-device" and "is_available() == False" in rec["reason"]


# --- staged child processes --------------------------------------------------------------
def _child(body: str) -> list:
    prelude = "import os, signal, time\nfrom harness.procs import emit\n"
    return [sys.executable, "-c", prelude + textwrap.dedent(body)]


def test_a_hang_is_blamed_on_the_stage_that_hangs():
    out = run_staged(_child("""
        emit({"event": "stage", "stage": "convert"})
        emit({"event": "stage", "stage": "run"})
        time.sleep(60)
    """), dict(os.environ), {"startup": 30, "convert": 30, "run": 1}, "startup")
    assert out.timed_out and out.stage == "run" and out.timeout_seconds == 1
    assert out.seconds < 30


def test_a_signal_is_blamed_on_the_running_stage():
    out = run_staged(_child("""
        emit({"event": "stage", "stage": "convert"})
        os.kill(os.getpid(), signal.SIGABRT)
    """), dict(os.environ), {"startup": 30, "convert": 30}, "startup")
    assert not out.timed_out and out.stage == "convert" and out.signal_name == "SIGABRT"


def test_done_event_and_plain_output_are_separated():
    out = run_staged(_child("""
        print("library chatter")
        emit({"event": "done", "status": "pass"})
    """), dict(os.environ), {"startup": 30}, "startup")
    assert out.done == {"event": "done", "status": "pass"} and "library chatter" in out.stdout_tail


# --- records -------------------------------------------------------------------------------
def test_concurrent_appends_never_interleave(tmp_path):
    path = str(tmp_path / "r.jsonl")
    writer = ("import sys\nfrom harness.records import append\n"
              "for i in range(200): append(sys.argv[1], {'w': sys.argv[2], 'i': i, 'pad': 'x' * 3000})")
    procs = [subprocess.Popen([sys.executable, "-c", writer, path, str(w)]) for w in range(4)]
    assert all(p.wait() == 0 for p in procs)
    recs = records.read(path)      # every line parses
    assert len(recs) == 800 and {(r["w"], r["i"]) for r in recs} == {(str(w), i) for w in range(4) for i in range(200)}


def test_a_case_whose_runner_died_gets_an_infra_record(tmp_path):
    path = str(tmp_path / "r.jsonl")
    a, b = (cases.Case("torch", m, "X", 13, "cpu") for m in ("a", "b"))
    for case in (a, b):
        records.append(path, records.started(case))
    records.append(path, {"event": "final", "case": a.case_id, "status": "pass"})
    assert records.close_unfinished(path) == [b.case_id]
    assert records.close_unfinished(path) == []
    finals = {r["case"]: r for r in records.finals(path)}
    assert finals[b.case_id]["status"] == "infra" and finals[b.case_id]["model"] == "b"


# --- selection and statuses ----------------------------------------------------------------
CELLS = (
    {"framework": "torch", "model": "resnet50", "architecture": "ResNet", "task": "classification"},
    {"framework": "paddle", "model": "resnet50_v2", "architecture": "ResNetV2", "xfail": {"stage": "convert", "reason": "r"}},
    {"framework": "torch", "model": "unet", "architecture": "UNet", "task": "segmentation", "marks": ["slow"],
     "tolerance": [{"rtol": 1e-2, "atol": 1e-4, "reason": "deep"}, {"device": "cuda", "rtol": 2e-2, "atol": 1e-3}]},
)


def test_select_by_architecture_or_id_case_insensitive():
    ids = lambda cs: [c.case_id for c in cs]  # noqa: E731
    assert ids(cases.select(models=["RESNET"], cells=CELLS)) == ["torch-resnet50-opset13-cpu", "paddle-resnet50_v2-opset13-cpu"]
    assert ids(cases.select(models=["resnetv2"], cells=CELLS)) == ["paddle-resnet50_v2-opset13-cpu"]
    assert ids(cases.select(frameworks=["torch"], opsets=[13, 17], devices=["cpu", "cuda"], models=["unet"], cells=CELLS)) == [
        "torch-unet-opset13-cpu", "torch-unet-opset13-cuda", "torch-unet-opset17-cpu", "torch-unet-opset17-cuda"]
    with pytest.raises(cases.CatalogueError, match="mxnet"):
        cases.select(frameworks=["mxnet"], cells=CELLS)


def test_tolerance_rows_per_device_and_classifier_flag():
    cpu, cuda = (cases.case_from_cell(CELLS[2], 13, d) for d in ("cpu", "cuda"))
    assert (cpu.tolerance.rtol, cpu.tolerance.atol, cpu.tolerance.reason) == (1e-2, 1e-4, "deep")
    assert (cuda.tolerance.rtol, cuda.tolerance.atol) == (2e-2, 1e-3)
    assert not cpu.classifier and cases.case_from_cell(CELLS[0], 13, "cpu").tolerance == cases.Tolerance()


def test_records_name_the_cells_task_and_tier():
    # The reports group rows by them (reports.matrix.sections) without reading the zoo.
    bert = {"framework": "torch", "model": "bert_tiny", "architecture": "BERT", "task": "text-encoder", "tier": 2,
            "export_module": "zoo.signature_export"}
    ident = cases.case_from_cell(bert, 13, "cpu").identity()
    assert (ident["task"], ident["tier"]) == ("text-encoder", 2)
    first = cases.case_from_cell(CELLS[0], 13, "cpu").identity()
    assert (first["task"], first["tier"]) == ("classification", 1)


def test_xfail_mapping():
    case = cases.case_from_cell(CELLS[1], 13, "cpu")
    assert _apply_xfail(case, "fail:convert", "convert") == ("xfail:convert", "r")
    assert _apply_xfail(case, "crash:convert", "convert")[0] == "xfail:convert"
    assert _apply_xfail(case, st.PASS, None)[0] == st.XPASS
    status, why = _apply_xfail(case, "fail:parity", "parity")
    assert status == "fail:parity" and "expected to fail at convert" in why
    assert st.is_unexpected("fail:parity") and not st.is_unexpected("xfail:convert")
    assert not st.is_unexpected(st.XPASS) and not st.is_unexpected("skip:no-cuda-device")


SPAWN_FROM_THREADS = textwrap.dedent("""
    import sys, threading
    import oneflow as flow
    flow.ones(4, 4).matmul(flow.ones(4, 4)).numpy()   # OneFlow's VM and OpenMP are live
    from harness import procs
    def go():
        for _ in range(5):
            procs.spawn([sys.executable, "-c", "pass"]).wait()
    threads = [threading.Thread(target=go) for _ in range(6)]
    [t.start() for t in threads]
    [t.join() for t in threads]
    print("ok")
""")


def test_children_started_from_threads_beside_oneflow_do_not_deadlock():
    """Scheduler threads start children at once; in a process that imported OneFlow, concurrent
    fork()s deadlock in its atfork handlers (1 run in 3 hung without procs.spawn's lock)."""
    proc = subprocess.run([sys.executable, "-c", SPAWN_FROM_THREADS], capture_output=True, text=True,
                          timeout=180, cwd=os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
    assert proc.returncode == 0 and proc.stdout.strip() == "ok", proc.stderr[-2000:]
