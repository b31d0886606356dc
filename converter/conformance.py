"""The ONNX backend conformance suite, run through the converter, one isolated case at a time.

    python -m converter.conformance [--filter REGEX] [--jobs N] [--json OUT] [--update-claimed [--allow-drop]]

Cases are the node tests shipped in the installed onnx wheel (``backend/test/data/node``)
and its 9 ``light`` models. Outputs are compared as onnx's own backend runner does: same
count, exact dtype and shape, ``|actual - expected| <= atol + rtol * |expected|`` with NaNs
equal (rtol 1e-3, atol 1e-7 unless the case's data.json says otherwise), exact equality for
non-numeric outputs. The few cases in SPEC_DEPARTURES are compared with ONNX Runtime instead:
their stored data follow onnx's reference where it departs from the spec text. Each case runs
in a long-lived worker process with a timeout, so a crash or a hang costs only that case.

Statuses: pass, fail:convert (with the unsupported ops), fail:run, fail:parity (with the
max error), crash, timeout.
"""
from __future__ import annotations

import argparse
import collections
import glob
import json
import os
import re
import sys
import time

import numpy as np
import onnx
from onnx import numpy_helper
from onnx.backend.test.loader import load_model_tests

from .numerics import compare_output

DATA_DIR = os.path.join(os.path.dirname(onnx.__file__), "backend", "test", "data")
CLAIMED_FILE = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))),
                            "tests", "conformance_claimed.txt")
LIGHT_TIMEOUT_FACTOR = 5
STATUSES = ("pass", "fail:convert", "fail:run", "fail:parity", "crash", "timeout")

# Cases whose stored outputs come from ONNX's Python reference where it departs from the spec
# text and ONNX Runtime (docs/operators.md notes say which we follow). These are compared with
# ONNX Runtime's outputs instead, and the record says so; the case still fails if the stored
# data stop departing (then the entry is stale and must go).
SPEC_DEPARTURES = {
    "node/test_resize_downsample_scales_linear_align_corners":
        "reference maps coordinates with the fractional length scale*input; spec and ORT use the integer length",
    "node/test_resize_downsample_scales_cubic_align_corners":
        "reference maps coordinates with the fractional length scale*input; spec and ORT use the integer length",
}


# --- the catalogue of cases -------------------------------------------------------------------
def discover() -> dict:
    """Case name ('node/test_abs', 'light/resnet50') -> case description (plain, picklable)."""
    cases = {}
    for t in load_model_tests(DATA_DIR, kind="node"):
        cases[f"node/{t.name}"] = {"name": f"node/{t.name}", "kind": "node",
                                   "model": os.path.join(t.model_dir, "model.onnx"),
                                   "data_sets": sorted(glob.glob(os.path.join(t.model_dir, "test_data_set*"))),
                                   "rtol": t.rtol, "atol": t.atol}
    # The 'real' kind lists the light models: their data.json points at light/<file>.onnx and
    # carries their tolerances; inputs are generated, expected outputs sit beside the model.
    for t in load_model_tests(DATA_DIR, kind="real"):
        if not (t.url or "").startswith("onnx/backend/test/data/light/"):
            continue
        model = os.path.join(DATA_DIR, "light", os.path.basename(t.url))
        cases[f"light/{t.model_name}"] = {"name": f"light/{t.model_name}", "kind": "light", "model": model,
                                          "data_sets": [],
                                          "rtol": t.rtol, "atol": t.atol}
    return dict(sorted(cases.items()))


def _read_proto(path: str, type_proto: onnx.TypeProto):
    with open(path, "rb") as f:
        raw = f.read()
    if type_proto.HasField("sequence_type"):
        seq = onnx.SequenceProto()
        seq.ParseFromString(raw)
        return numpy_helper.to_list(seq)
    if type_proto.HasField("optional_type"):
        opt = onnx.OptionalProto()
        opt.ParseFromString(raw)
        return numpy_helper.to_optional(opt)
    tensor = onnx.TensorProto()
    tensor.ParseFromString(raw)
    return numpy_helper.to_array(tensor)


def _light_inputs(model: onnx.ModelProto) -> list:
    """onnx's runner feeds light models arange(n)/n in the input's shape (unknown dims = 1)."""
    inits = {i.name for i in model.graph.initializer}
    feeds = []
    for vi in model.graph.input:
        if vi.name in inits:
            continue
        shape = tuple(d.dim_value if d.HasField("dim_value") else 1 for d in vi.type.tensor_type.shape.dim)
        n = int(np.prod(shape))
        feeds.append((np.arange(n).reshape(shape) / n).astype(np.float32))
    return feeds


def load_data_sets(case: dict, model: onnx.ModelProto) -> list:
    """[(inputs, expected outputs)] for one case."""
    g = model.graph
    if case["kind"] == "light":
        prefix = os.path.splitext(case["model"])[0]
        expected = [_read_proto(f"{prefix}_output_{i}.pb", o.type) for i, o in enumerate(g.output)]
        return [(_light_inputs(model), expected)]
    sets = []
    for d in case["data_sets"]:
        n_in = len(glob.glob(os.path.join(d, "input_*.pb")))
        n_out = len(glob.glob(os.path.join(d, "output_*.pb")))
        inputs = [_read_proto(os.path.join(d, f"input_{i}.pb"), g.input[i].type) for i in range(n_in)]
        outputs = [_read_proto(os.path.join(d, f"output_{i}.pb"), g.output[i].type) for i in range(n_out)]
        sets.append((inputs, outputs))
    return sets


# --- comparison -----------------------------------------------------------------------------
def compare(actual: list, expected: list, rtol: float, atol: float) -> tuple:
    """(problem or '', max abs error, max rel error) over every output, as onnx's runner compares."""
    if len(actual) != len(expected):
        return f"{len(actual)} outputs, expected {len(expected)}", None, None
    worst_abs = worst_rel = 0.0
    for i, (a, e) in enumerate(zip(actual, expected)):
        if isinstance(e, list):
            if not isinstance(a, (list, tuple)) or len(a) != len(e):
                return f"output {i}: expected a sequence of {len(e)} tensors", None, None
            problem, ab, rel = compare(list(a), e, rtol, atol)
            if problem:
                return f"output {i}{problem[len('output'):] if problem.startswith('output') else ': ' + problem}", ab, rel
            worst_abs, worst_rel = max(worst_abs, ab or 0.0), max(worst_rel, rel or 0.0)
            continue
        # The project's one comparison (converter.numerics), with onnx's exact-dtype rule.
        p = compare_output(f"output {i}", a, e, rtol, atol, check_dtype=True)
        numeric = np.issubdtype(np.asarray(e).dtype, np.number) and np.asarray(a).dtype == np.asarray(e).dtype
        if not p.shape_ok or not numeric:
            if not p.passed:
                return p.error or f"output {i}: values differ", None, None
            continue
        worst_abs, worst_rel = max(worst_abs, p.max_abs), max(worst_rel, p.max_rel)
        if not p.passed:
            return (p.error or f"output {i}: max abs error {p.max_abs:.3g}, max rel error {p.max_rel:.3g}"), \
                p.max_abs, p.max_rel
    return "", worst_abs, worst_rel


# --- one case (runs inside a worker process) --------------------------------------------------
def run_case(case: dict) -> dict:
    """Convert, run and compare one case. Never raises for the case's own failures."""
    import oneflow as flow

    import converter
    from converter.dtypes import to_tensor

    times = {}
    t = time.perf_counter()
    model = onnx.load(case["model"])
    data_sets = load_data_sets(case, model)
    try:
        module = converter.convert(model)
    except converter.UnsupportedOperatorError as e:
        return {"status": "fail:convert", "error": str(e)[:2000],
                "unsupported": [{"op": u.op_type, "domain": u.domain, "version": u.version,
                                 "reason": u.reason} for u in e.unsupported]}
    except Exception as e:  # noqa: BLE001 - any converter failure is this case's record
        return {"status": "fail:convert", "error": f"{type(e).__name__}: {e}"[:2000]}
    times["convert"] = round(time.perf_counter() - t, 4)

    departure = SPEC_DEPARTURES.get(case["name"])
    worst_abs = worst_rel = 0.0
    t = time.perf_counter()
    for inputs, expected in data_sets:
        if departure:
            stored, expected = expected, _ort_outputs(case["model"], model, inputs)
            if not compare(expected, stored, case["rtol"], case["atol"])[0]:
                return {"status": "fail:parity", "seconds": times,
                        "error": "listed in SPEC_DEPARTURES but ONNX Runtime now agrees with the stored "
                                 f"outputs: drop the entry ({departure})"}
        try:
            args = [_to_flow(x, to_tensor) for x in inputs]
            with flow.no_grad():
                out = module(*args)
            outs = list(out) if isinstance(out, tuple) else [out]
            actual = [_to_numpy(o, flow) for o in outs]   # OneFlow is async: errors surface here
        except Exception as e:  # noqa: BLE001 - any run-time failure is this case's fail:run record
            return {"status": "fail:run", "error": f"{type(e).__name__}: {e}"[:2000], "seconds": times}
        problem, ab, rel = compare(actual, expected, case["rtol"], case["atol"])
        if problem:
            return {"status": "fail:parity", "error": problem, "max_abs_err": ab, "max_rel_err": rel,
                    "seconds": times}
        worst_abs, worst_rel = max(worst_abs, ab), max(worst_rel, rel)
    times["run"] = round(time.perf_counter() - t, 4)
    record = {"status": "pass", "max_abs_err": worst_abs, "max_rel_err": worst_rel, "seconds": times}
    if departure:
        record.update(reference="onnxruntime", departure=departure)
    return record


def _ort_outputs(path: str, model: onnx.ModelProto, inputs: list) -> list:
    """ONNX Runtime's outputs for one data set (the reference of a SPEC_DEPARTURES case)."""
    import onnxruntime as ort

    sess = ort.InferenceSession(path, providers=["CPUExecutionProvider"])
    names = [i.name for i in model.graph.input if i.name not in {t.name for t in model.graph.initializer}]
    return sess.run(None, dict(zip(names, inputs)))


def warm_up() -> None:
    """Import OneFlow and the converter once per worker, before it takes cases."""
    import converter  # noqa: F401


def _to_flow(x, to_tensor):
    if x is None:
        return None
    if isinstance(x, list):
        return [_to_flow(v, to_tensor) for v in x]
    return to_tensor(x)


def _to_numpy(o, flow):
    if isinstance(o, (list, tuple)):
        return [_to_numpy(v, flow) for v in o]
    return o.numpy() if isinstance(o, flow.Tensor) else np.asarray(o)


# --- a run --------------------------------------------------------------------------------------
def run(names, *, jobs: int = 2, timeout: float = 60.0, progress=None) -> dict:
    """Run the named cases; return name -> record. ``progress(done, total, name, record)``."""
    from ._worker_pool import run_isolated
    from .conformance import run_case as task, warm_up   # by module name, even under `python -m`

    cases = discover()
    unknown = [n for n in names if n not in cases]
    if unknown:
        raise KeyError(f"unknown conformance case(s): {unknown[:10]}")
    # OneFlow and numpy each start a thread per core by default; with N workers on a small
    # machine that oversubscribes the CPU.
    os.environ.setdefault("OMP_NUM_THREADS", "1")
    results = {}
    # Light models are whole CNNs whose weights are built at conversion (ConstantOfShape):
    # tens of seconds each on a busy 2-core machine.
    def limit(name):
        return timeout * LIGHT_TIMEOUT_FACTOR if name.startswith("light/") else timeout

    for outcome in run_isolated(task, [(n, cases[n]) for n in names], jobs=jobs,
                                timeout=limit, warmup=warm_up):
        if outcome.kind == "ok":
            record = outcome.value
        elif outcome.kind == "error":
            record = {"status": "fail:run", "error": f"conformance runner error: {outcome.detail}"[-2000:]}
        else:
            record = {"status": outcome.kind, "error": outcome.detail[-2000:]}
        record["wall_s"] = round(outcome.seconds, 3)
        results[outcome.key] = record
        if progress:
            progress(len(results), len(names), outcome.key, record)
    return dict(sorted(results.items()))


def summarize(results: dict) -> dict:
    counts = collections.Counter(r["status"] for r in results.values())
    missing = collections.Counter()
    for r in results.values():
        for op in {u["op"] for u in r.get("unsupported", [])}:
            missing[op] += 1
    by_kind = collections.defaultdict(collections.Counter)
    for name, r in results.items():
        by_kind[name.split("/", 1)[0]][r["status"]] += 1
    return {"total": len(results), "counts": {s: counts.get(s, 0) for s in STATUSES},
            "by_kind": {k: dict(v) for k, v in sorted(by_kind.items())},
            "missing_ops": dict(missing.most_common())}


def read_claimed(path: str | None = None) -> list:
    path = path or CLAIMED_FILE
    if not os.path.exists(path):
        return []
    with open(path) as f:
        return [line.strip() for line in f if line.strip() and not line.startswith("#")]


def write_claimed(names, path: str | None = None) -> None:
    path = path or CLAIMED_FILE
    with open(path, "w") as f:
        f.write("# Conformance cases claimed to pass; tests/test_conformance.py guards them.\n"
                "# Regenerate: python -m converter.conformance --update-claimed\n")
        f.writelines(f"{n}\n" for n in sorted(set(names)))


def _headline(record: dict) -> str:
    """One line saying why a case failed."""
    if record.get("unsupported"):
        return "; ".join(f"{u['op']}-{u['version']}: {u['reason']}" for u in record["unsupported"])[:160]
    lines = [ln for ln in record.get("error", "").strip().splitlines() if ln.strip()]
    return lines[-1][:160] if record["status"] in ("crash", "timeout") and len(lines) > 1 else \
        (lines[0][:160] if lines else "")


def _versions() -> dict:
    import oneflow

    return {"onnx": onnx.__version__, "oneflow": oneflow.__version__}


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(prog="python -m converter.conformance", description=__doc__.split("\n")[0])
    ap.add_argument("--filter", default="", help="regex on case names (e.g. 'node/test_gather', '^light/')")
    ap.add_argument("--jobs", type=int, default=2, help="worker processes (default 2)")
    ap.add_argument("--timeout", type=float, default=60.0, help="seconds per node case before it is a timeout (light models: 5x)")
    ap.add_argument("--json", dest="json_out", help="write every case's record and the summary here")
    ap.add_argument("--update-claimed", action="store_true",
                    help=f"rewrite {os.path.relpath(CLAIMED_FILE)} for the cases run: claim exactly those that passed")
    ap.add_argument("--allow-drop", action="store_true",
                    help="with --update-claimed: drop claimed cases that now fail (each is printed)")
    ap.add_argument("--verbose", "-v", action="store_true", help="print every case, not only failures")
    args = ap.parse_args(argv)

    pattern = re.compile(args.filter)
    names = [n for n in discover() if pattern.search(n)]
    if not names:
        print(f"no case matches {args.filter!r}", file=sys.stderr)
        return 2
    started = time.time()
    tally = collections.Counter()

    def progress(done, total, name, record):
        tally[record["status"]] += 1
        if args.verbose or record["status"] != "pass":
            print(f"[{done:4d}/{total}] {record['status']:12s} {name}  {_headline(record)}", flush=True)
        elif done % 100 == 0 or done == total:
            print(f"[{done:4d}/{total}] " + " ".join(f"{s}={tally[s]}" for s in STATUSES if tally[s])
                  + f"  ({time.time() - started:.0f} s)", flush=True)

    results = run(names, jobs=args.jobs, timeout=args.timeout, progress=progress)
    summary = summarize(results)
    elapsed = round(time.time() - started, 1)
    print(f"\n{summary['total']} cases in {elapsed} s: "
          + ", ".join(f"{s} {c}" for s, c in summary["counts"].items()))
    for kind, counts in summary["by_kind"].items():
        print(f"  {kind}: pass {counts.get('pass', 0)} of {sum(counts.values())}")
    if summary["missing_ops"]:
        top = list(summary["missing_ops"].items())[:25]
        print("top missing ops (cases): " + ", ".join(f"{op} {n}" for op, n in top))
    if args.json_out:
        with open(args.json_out, "w") as f:
            json.dump({"versions": _versions(), "filter": args.filter, "wall_s": elapsed,
                       "summary": summary, "cases": results}, f, indent=1)
    if args.update_claimed:
        return update_claimed(results, args.allow_drop)
    return 0


def update_claimed(results: dict, allow_drop: bool, path: str | None = None) -> int:
    """Claim exactly the cases that passed among those run. A claimed case that now fails
    is never dropped silently: each is printed, and without ``allow_drop`` nothing is written."""
    path = path or CLAIMED_FILE
    claimed = read_claimed(path)
    dropped = [n for n in claimed if n in results and results[n]["status"] != "pass"]
    for n in dropped:
        print(f"claimed case now {results[n]['status']}: {n}  {_headline(results[n])}")
    if dropped and not allow_drop:
        print(f"refusing to drop {len(dropped)} claimed case(s) from {path}: fix them, or re-run with "
              f"--allow-drop to drop them", file=sys.stderr)
        return 1
    kept = [n for n in claimed if n not in results]
    write_claimed(kept + [n for n, r in results.items() if r["status"] == "pass"], path)
    print(f"updated {path}" + (f" (dropped {len(dropped)})" if dropped else ""))
    return 0


if __name__ == "__main__":
    sys.exit(main())
