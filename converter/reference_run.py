"""ONNX Runtime as the CLI's reference, run in a child process.

ONNX Runtime dies on some inputs (an integer Div by zero raises SIGFPE in 1.19.2's CPU
kernels); in a child process that is a report, not a dead CLI. The child is this file run as
a script - it imports only onnxruntime and numpy, not the converter (and so not OneFlow):

    python reference_run.py MODEL.onnx JOB.pkl      # JOB: (feeds, output names) in; result out
"""
from __future__ import annotations

import os
import pickle
import signal
import subprocess
import sys
import tempfile
from dataclasses import dataclass


@dataclass
class Reference:
    kind: str              # "ok" (outputs), "error" (ORT refused: detail) or "crash" (signal)
    outputs: list = None
    detail: str = ""
    signal: int = 0


def run_reference(model_path: str, feeds: dict, output_names: list, timeout: float = None) -> Reference:
    """ONNX Runtime's CPU outputs for ``feeds``, computed in a child process."""
    with tempfile.TemporaryDirectory(prefix="onnx2oneflow-ort-") as tmp:
        job = os.path.join(tmp, "job.pkl")
        with open(job, "wb") as f:
            pickle.dump((feeds, list(output_names)), f)
        proc = subprocess.run([sys.executable, os.path.abspath(__file__), os.path.abspath(model_path), job],
                              stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, timeout=timeout)
        if proc.returncode < 0:
            return Reference("crash", signal=-proc.returncode, detail=_tail(proc.stderr))
        try:
            with open(job, "rb") as f:
                kind, value = pickle.load(f)
        except (OSError, EOFError, pickle.UnpicklingError, ValueError):
            return Reference("error", detail=f"the child exited with code {proc.returncode} without a result"
                                             f"{': ' + _tail(proc.stderr) if proc.stderr.strip() else ''}")
        return Reference("ok", outputs=value) if kind == "ok" else Reference("error", detail=value)


def signal_name(number: int) -> str:
    try:
        return signal.Signals(number).name
    except ValueError:
        return f"signal {number}"


def _tail(stderr: bytes) -> str:
    return stderr.decode(errors="replace").strip()[-800:]


def _child(model_path: str, job: str) -> None:
    import onnxruntime as ort

    with open(job, "rb") as f:
        feeds, output_names = pickle.load(f)
    opts = ort.SessionOptions()
    opts.log_severity_level = 3
    try:
        # A path lets ORT read external data itself (and models over protobuf's 2 GB limit).
        session = ort.InferenceSession(model_path, opts, providers=["CPUExecutionProvider"])
        result = ("ok", session.run(output_names, feeds))
    except Exception as e:  # noqa: BLE001 - ORT's refusal is the report
        result = ("error", str(e).strip())
    with open(job, "wb") as f:
        pickle.dump(result, f)


if __name__ == "__main__":
    _child(sys.argv[1], sys.argv[2])
