"""Run one case through its stages, isolated, and produce its one final record.

    export (process A, source framework)  ->  ort, convert, run, parity (process B, OneFlow)

Every outcome becomes a status (docs/design.md §3): a stage error is ``fail:<stage>``, a signal
``crash:<stage>``, an overrun ``timeout:<stage>``; a failure of the OneFlow process before
any stage (import, plumbing) is ``infra``. Known failures become ``xfail:<stage>``, and a
known failure that passes is ``xpass``.
"""
from __future__ import annotations

import json
import os
import shlex
import sys
import time
import traceback
from dataclasses import dataclass, field
from typing import Optional

from . import bundle as bundles
from . import latency, records
from . import status as st
from .cases import patch_notes
from .cuda_preflight import cuda_env, preflight
from .export_stage import export
from .paths import DEFAULT_OUT, REPO_ROOT, bundles_dir, cache_dir
from .pool import worker_record
from .procs import run_staged
from .versions import framework_env

# Errors that are the machine's fault, not the model's (docs/design.md §3: infra).
INFRA_MARKERS = ("No space left on device", "MemoryError", "Cannot allocate memory")
# Seconds per stage. "startup" is the OneFlow process importing its libraries.
DEFAULT_TIMEOUTS = {"export": 900, "startup": 180, "ort": 300, "convert": 300, "run": 600, "latency": 300,
                    "parity": 300}


@dataclass
class RunOptions:
    out_dir: str = DEFAULT_OUT
    results: Optional[str] = None       # JSON-lines file; None: records are only returned
    keep: bool = False                  # keep bundles of passing cases too
    timeouts: dict = field(default_factory=lambda: dict(DEFAULT_TIMEOUTS))
    cache: Optional[str] = None         # export cache (default <out_dir>/cache)
    mode: str = "eager"                 # or "graph": the converted module runs as oneflow.nn.Graph
    pool: bool = False                  # harness.scheduler.run_cases runs cases in pooled workers
    workers: Optional[object] = field(default=None, repr=False, compare=False)   # its WorkerPool
    run_id: Optional[str] = None        # named by every record (harness/records.py)
    # A CUDA device OneFlow cannot run (harness/cuda_preflight.py) is the machine's fault:
    # `infra`, so a CUDA run there is red. True: the cases are `skip:<reason>` instead.
    allow_skip_device: bool = False
    # Process B's timing (harness/latency.py): intra-op threads of OneFlow and ORT, timed
    # rounds at most, warm-up rounds, seconds of timed rounds per case.
    threads: int = latency.DEFAULT_THREADS
    latency_iters: int = latency.DEFAULT_ITERS
    latency_warmup: int = latency.DEFAULT_WARMUP
    latency_budget: float = latency.DEFAULT_BUDGET_S

    def latency_args(self) -> list:
        return ["--threads", str(self.threads), "--latency-iters", str(self.latency_iters),
                "--latency-warmup", str(self.latency_warmup), "--latency-budget", repr(self.latency_budget)]

    def __post_init__(self):
        # Children run from the repository root: hand them absolute paths.
        self.out_dir = os.path.abspath(self.out_dir)
        self.results = self.results and os.path.abspath(self.results)
        self.cache = self.cache and os.path.abspath(self.cache)

    @property
    def cache_dir(self) -> str:
        return self.cache or cache_dir(self.out_dir)

    def bundle_path(self, case) -> str:
        # a graph-mode run keeps its bundles apart from the eager run's of the same case
        suffix = "" if self.mode == "eager" else f"-{self.mode}"
        return os.path.join(bundles_dir(self.out_dir), case.case_id + suffix)


def run_case(case, opts: RunOptions, exported=None, announce: bool = True) -> dict:
    """Run ``case``; append its ``started`` (unless ``announce`` is False: the scheduler wrote
    it) and ``final`` records to opts.results. ``exported``: its export, already done."""
    if opts.results and announce:
        records.append(opts.results, records.started(case, opts.mode, opts.run_id))
    t0 = time.monotonic()
    try:
        record = _run(case, opts, exported)
    except Exception as e:  # noqa: BLE001 - a harness bug must still leave one final record
        record = _base_record(case, opts)
        record.update(status=st.INFRA, error=f"harness error: {type(e).__name__}: {e}",
                      traceback=traceback.format_exc())
    record["seconds"]["total"] = round(time.monotonic() - t0, 3)
    record["time"] = time.time()
    if opts.results:
        records.append(opts.results, {k: v for k, v in record.items() if k != "traceback"})
    return record


def _base_record(case, opts: RunOptions) -> dict:
    return {"event": "final", "record_version": records.RECORD_VERSION, "run_id": opts.run_id,
            "case": case.case_id, **case.identity(), "mode": opts.mode, "status": None, "stage": None, "error": None, "reason": None,
            "max_abs": None, "max_rel": None, "min_tolerance": None, "top5": None,
            "tolerance": {"rtol": case.tolerance.rtol, "atol": case.tolerance.atol,
                          "reason": case.tolerance.reason or None},
            "converter_tolerance": {"rtol": case.converter_tolerance.rtol, "atol": case.converter_tolerance.atol,
                                    "reason": case.converter_tolerance.reason or None},
            **({"batch_tolerances": {str(b): {"rtol": t.rtol, "atol": t.atol, "reason": t.reason or None}
                                     for b, t in case.batch_tolerances}} if case.batch_tolerances else {}),
            "seconds": {}, "versions": {}, "cached": None, "bundle": None}


def _run(case, opts: RunOptions, exported=None) -> dict:
    rec = _base_record(case, opts)
    if case.unavailable:
        return _finish(rec, case, st.skip("unavailable"), reason=case.unavailable)
    if case.device == "cuda":
        pf = preflight()
        if not pf.usable and opts.allow_skip_device:
            return _finish(rec, case, st.skip(pf.skip_code), reason=pf.reason)
        if not pf.usable:   # never an all-skip "complete" CUDA run (docs/design.md §7)
            rec["error"] = f"{pf.reason} ({pf.skip_code}; {pf.supported_text()}; --allow-skip-device skips instead)"
            return _finish(rec, case, st.INFRA)
    bundle_dir = opts.bundle_path(case)

    # --- process A: build + export (cached) --------------------------------------------
    if case.prepared_dir:
        case_dir, export_command = case.prepared_dir, None
    else:
        ex = exported or export(case, opts.cache_dir, opts.timeouts["export"], opts.workers)
        rec["seconds"]["export"], rec["cached"], export_command = ex.seconds, ex.cached, ex.command
        if getattr(ex, "worker", None):
            rec.setdefault("worker", {})["export"] = worker_record(ex.worker)
        if getattr(ex, "build_seconds", None) is not None:
            rec["seconds"]["build"] = ex.build_seconds
        if getattr(ex, "reuse", None):
            rec["export_reuse"] = ex.reuse
        if ex.status:
            rec.update(status=ex.status, stage=ex.stage, error=ex.error)
            bundles.prepare(bundle_dir)
            return _finish(rec, case, ex.status, bundle_dir=bundle_dir, opts=opts,
                           extra={"command": _shell(ex.command), "traceback": ex.traceback})
        case_dir = ex.case_dir
    with open(os.path.join(case_dir, "meta.json")) as f:
        export_meta = json.load(f)
    rec["versions"].update(export_meta.get("versions", {}))
    rec["exporter_patches"] = export_meta.get("exporter_patches", [])  # zoo/frameworks/patches
    # what the reports print about them: reports read records only (docs/design.md §1)
    rec["exporter_patch_notes"] = patch_notes(rec["exporter_patches"])
    classifier = bool(export_meta.get("classifier", case.classifier))

    # --- process B: ort, convert, run, parity --------------------------------------------
    bundles.prepare(bundle_dir)
    cmd = oneflow_side_command(case_dir, case.device, bundle_dir, case.tolerance.rtol, case.tolerance.atol,
                               classifier, converter_tolerance=case.converter_tolerance, batches=case.batches,
                               mode=opts.mode, batch_tolerances=case.batch_tolerances, native=case.native)
    cmd += opts.latency_args()
    staged = opts.workers.run if opts.workers else run_staged
    child = staged(cmd, oneflow_env(case.device, native=bool(case.native)), opts.timeouts, "startup", cwd=REPO_ROOT)
    done = child.done or {}
    if child.worker:   # a pooled worker (docs/design.md §2): which one, and its cases before this one
        rec.setdefault("worker", {})["oneflow"] = worker_record(child.worker)
    rec["seconds"].update({k: v for k, v in child.stage_seconds.items() if k != "startup"})
    rec["seconds"]["startup"] = child.stage_seconds.get("startup")   # ~0 in a reused worker
    rec["versions"].update(done.get("versions", {}))
    for key in ("max_abs", "max_rel", "top5"):
        rec[key] = done.get(key)
    # The two gates' verdicts and what the converter did (docs/design.md §4), where they exist.
    for key in ("ort_vs_source", "oneflow_vs_ort", "oneflow_vs_source", "converter", "batches", "sizes", "latency"):
        if done.get(key) is not None:
            rec[key] = done[key]
    if done.get("min_atol") is not None:
        rec["min_tolerance"] = {"rtol": case.tolerance.rtol, "atol": done["min_atol"]}
    per_output = output_rows(done)
    if len(per_output) > 1:   # several outputs (docs/design.md §4): each one's numbers, by name
        rec["outputs"] = per_output
    status, stage, error, tb = classify(child)
    rec.update(stage=stage if status != st.PASS else None, error=error)
    return _finish(rec, case, status, bundle_dir=bundle_dir, opts=opts, case_dir=case_dir,
                   extra={"command": _shell(cmd), "export_command": _shell(export_command) if export_command else None,
                          "traceback": tb, "export_meta": export_meta, "case_dir": case_dir,
                          "classifier": classifier, "parity": {k: done.get(k) for k in (
                              "ort_parity", "oneflow_parity", "oneflow_vs_ort_outputs")}})


def output_rows(done: dict) -> dict:
    """{output name: {gate: {max_abs, min_atol, ok}}} from process B's per-output rows: the
    exporter's gate (ort_vs_source) and the converter's (oneflow_vs_ort), where they ran."""
    out: dict = {}
    for gate, key in (("ort_vs_source", "ort_parity"), ("oneflow_vs_ort", "oneflow_vs_ort_outputs")):
        for row in done.get(key) or ():
            out.setdefault(row["name"], {})[gate] = {"max_abs": row["max_abs"], "min_atol": row["min_atol"],
                                                     "ok": row["passed"]}
    return out


def _finish(rec: dict, case, status: str, reason=None, bundle_dir=None, opts=None, case_dir=None, extra=None) -> dict:
    status, xreason = _apply_xfail(case, status, rec.get("stage"))
    rec["status"] = status
    rec["reason"] = reason or xreason
    if bundle_dir is None:
        return rec
    if st.is_failure(status) or status == st.XPASS or opts.keep:
        meta = {**rec, **(extra or {}), "repro": bundles.repro_command(bundle_dir)}
        rec["bundle"] = bundles.write(bundle_dir, case_dir, meta)
    else:
        bundles.discard(bundle_dir)
    return rec


def _apply_xfail(case, status: str, stage) -> tuple:
    """Map a status through the case's known failure: (status, xfail reason or None)."""
    if not case.xfail:
        return status, None
    expected_stage, why = case.xfail.get("stage"), case.xfail.get("reason")
    if status == st.PASS:
        return st.XPASS, f"stale xfail ({expected_stage}): {why}"
    if st.is_failure(status) and status != st.INFRA and stage == expected_stage:
        return st.xfail(stage), why
    return status, f"expected to fail at {expected_stage} ({why}) but got {status}" if st.is_failure(status) else None


def _shell(cmd) -> str:
    return " ".join(shlex.quote(str(c)) for c in cmd)


def classify(child) -> tuple:
    """(status, stage, error, traceback) of a finished OneFlow-side process."""
    done = child.done or {}
    stage = child.stage
    tb = done.get("traceback")
    if child.timed_out:
        status = st.timeout(stage) if stage in st.STAGES else st.INFRA
        error = f"{stage} did not finish within {child.timeout_seconds:.0f} s"
        tb = child.stderr_tail
    elif child.signal_name == "SIGKILL":
        # Not our timeout kill: the kernel's OOM killer is the usual sender (docs/design.md §3: infra).
        status, tb = st.INFRA, child.stderr_tail
        error = f"OneFlow-side process killed by SIGKILL during {stage} (out of memory?)"
    elif child.signal_name:
        status = st.crash(stage) if stage in st.STAGES else st.INFRA
        error = f"OneFlow-side process killed by {child.signal_name} during {stage}"
        tb = child.stderr_tail
    elif done:
        status, stage, error = done["status"], done.get("stage"), done.get("error")
        if error and any(m in error for m in INFRA_MARKERS):
            status = st.INFRA
        if done.get("source_frameworks_imported"):
            status, error = st.INFRA, f"isolation broken: OneFlow side imported {done['source_frameworks_imported']}"
    else:
        tail = child.stderr_tail.strip().splitlines()
        status = st.fail(stage) if stage in st.STAGES else st.INFRA
        error = f"OneFlow-side process exited {child.returncode} during {stage}: {tail[-1] if tail else 'no output'}"
        tb = child.stderr_tail
    return status, stage, error, tb


def oneflow_side_command(case_dir: str, device: str, work_dir: str, rtol: float, atol: float,
                         classifier: bool, divergence: bool = False, converter_tolerance=None,
                         batches=(), mode: str = "eager", batch_tolerances=(), native=None) -> list:
    cmd = [sys.executable, "-m", "harness.oneflow_side", case_dir, "--device", device,
           "--work-dir", work_dir, "--rtol", repr(rtol), "--atol", repr(atol)]
    if mode != "eager":
        cmd += ["--mode", mode]
    if converter_tolerance is not None:
        cmd += ["--converter-rtol", repr(converter_tolerance.rtol), "--converter-atol", repr(converter_tolerance.atol)]
    if batches:
        cmd += ["--batches", ",".join(map(str, batches))]
    for b, tol in batch_tolerances:
        cmd += ["--batch-tolerance", f"{b}={tol.rtol!r},{tol.atol!r}"]
    if native:
        cmd += ["--native", json.dumps(native, sort_keys=True)]
    return cmd + (["--classifier"] if classifier else []) + (["--divergence"] if divergence else [])


# Set in process B of the OneFlow column, which also builds OneFlow's own module (flowvision and
# zoo/frameworks/oneflow_exporter.py's shims come along): pooled workers are matched by their
# whole environment (harness/pool.py), so such a worker never serves another column's case.
NATIVE_ENV = "HARNESS_NATIVE_ONEFLOW"


def oneflow_env(device: str, native: bool = False) -> dict:
    env = cuda_env() if device == "cuda" else framework_env("oneflow")
    return {**env, NATIVE_ENV: "1"} if native else env
