"""Command line: convert an ONNX file, save the weights, optionally check against ONNX Runtime.

    onnx2oneflow model.onnx --out DIR [--device cpu|cuda] [--check [--graph]] [--codegen] [--no-optimize]
    onnx2oneflow model.onnx --check --input-shape x=1x3x48x320 --free-dim batch=2 --input sr=16000
    onnx2oneflow model.onnx --inventory
(``python -m converter`` is the same command.)

Exit codes (scripts can tell the failures apart):
  0 ok · 1 --check found outputs outside tolerance, or ONNX Runtime refused the model/inputs
  2 bad command line · 3 unreadable or malformed model · 4 unsupported operators
  5 device unavailable · 6 the converted model failed while running
  7 --codegen cannot write some nodes · 8 ONNX Runtime crashed (its child process died of a signal)
"""
from __future__ import annotations

import argparse
import collections
import os
import sys
import time

import numpy as np

from .numerics import compare_output, compare_outputs

EXIT_OK, EXIT_CHECK_FAILED, EXIT_USAGE, EXIT_BAD_MODEL = 0, 1, 2, 3
EXIT_UNSUPPORTED, EXIT_DEVICE, EXIT_RUN_FAILED, EXIT_CODEGEN = 4, 5, 6, 7
EXIT_REFERENCE_CRASHED = 8
DEFAULT_RTOL, DEFAULT_ATOL = 1e-3, 1e-5     # docs/design.md §4 fp32 defaults
CHECK_SEED = 0

_EPILOG = """--check inputs: shapes come from the declared dims. An open dim (named, '?', -1, unset) takes
--input-shape, --free-dim, or a default: a named dim whose name says batch/sequence/height/width
gets 1/16/224; otherwise dim 0 of a tensor of rank >= 2 is a batch (1), a 4-D input is an image
(3 channels, 224 x 224; NHWC when its last dim is 1-4), any other open dim is 16.
Values: floats standard normal, bools 0/1, integers uniform in [1, 2] (never 0: ONNX Runtime
dies on an integer division by zero), or [0, 1] for inputs named like a mask, token type or
segment id. Give others (a sample rate, real ids) with --input NAME=VALUE or NAME=FILE.npy.
ONNX Runtime runs in a child process: if it dies, the check reports "ONNX Runtime crashed
(signal N)" and exits 8.
exit codes: 0 ok, 1 check failed or ONNX Runtime refused, 2 usage, 3 bad model, 4 unsupported
operators, 5 device, 6 converted model failed, 7 codegen, 8 ONNX Runtime crashed"""


def parse_args(argv):
    ap = argparse.ArgumentParser(prog="onnx2oneflow", epilog=_EPILOG,
                                 formatter_class=argparse.RawDescriptionHelpFormatter,
                                 description="Convert an ONNX model into a OneFlow module "
                                             "(also: python -m converter).")
    ap.add_argument("model", help="path of the .onnx file")
    ap.add_argument("--out", help="directory for the weights (flow.save of the state_dict)")
    ap.add_argument("--device", default="cpu", choices=["cpu", "cuda"])
    ap.add_argument("--fold-limit", type=_byte_size, default=None, metavar="BYTES",
                    help="largest tensor computed at conversion time (constant folding), e.g. 64M or "
                         "1G; bigger ones are computed when the model runs (default 256M)")
    ap.add_argument("--no-optimize", action="store_true",
                    help="convert node for node, without the graph rewrites (fused LayerNorm/GELU/Linear, "
                         "Conv folding, Transpose pairs)")
    ap.add_argument("--check", action="store_true",
                    help="compare with ONNX Runtime on seeded random inputs")
    ap.add_argument("--graph", action="store_true",
                    help="--check also runs the model through oneflow.nn.Graph (static execution)")
    ap.add_argument("--input-shape", action="append", default=[], metavar="NAME=1x3x224x224",
                    help="--check: the shape of input NAME (repeatable; NAME= is a scalar)")
    ap.add_argument("--free-dim", action="append", default=[], metavar="DIM=SIZE",
                    help="--check: the size of the named dim (dim_param) DIM in every input (repeatable)")
    ap.add_argument("--input", action="append", default=[], metavar="NAME=FILE.npy|VALUE",
                    help="--check: input NAME from a .npy file, or filled with VALUE (repeatable)")
    ap.add_argument("--codegen", action="store_true",
                    help="also write DIR/codegen/model.py: standalone OneFlow source + its weights")
    ap.add_argument("--inventory", action="store_true",
                    help="list every unsupported operator use and exit (non-zero if any)")
    ap.add_argument("--rtol", type=float, default=DEFAULT_RTOL)
    ap.add_argument("--atol", type=float, default=DEFAULT_ATOL)
    ap.add_argument("--seed", type=int, default=CHECK_SEED)
    args = ap.parse_args(argv)
    if not args.inventory and not args.out and not args.check:
        ap.error("nothing to do: give --out DIR, --check or --inventory")
    if args.codegen and not args.out:
        ap.error("--codegen needs --out DIR")
    from .check_inputs import OptionError, parse_free_dim, parse_input, parse_shape
    try:
        args.shapes = _unique(parse_shape(t) for t in args.input_shape)
        args.free_dims = _unique(parse_free_dim(t) for t in args.free_dim)
        args.given = _unique(parse_input(t) for t in args.input)
    except OptionError as e:
        ap.error(str(e))
    return args


def _unique(pairs) -> dict:
    from .check_inputs import OptionError
    found = {}
    for name, value in pairs:
        if name in found:
            raise OptionError(f"{name!r} is given twice")
        found[name] = value
    return found


_UNITS = {"": 1, "K": 2**10, "M": 2**20, "G": 2**30, "T": 2**40}


def _byte_size(text: str) -> int:
    """'268435456', '256M', '1G' -> bytes (binary units)."""
    t = text.strip().upper().removesuffix("IB").removesuffix("B")
    unit = t[-1:] if t[-1:] in _UNITS and t[-1:] else ""
    try:
        value = int(float(t[:-1] if unit else t) * _UNITS[unit])
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a size (e.g. 268435456, 256M, 1G)") from None
    if value < 0:
        raise argparse.ArgumentTypeError(f"{text!r}: a size cannot be negative")
    return value


def main(argv=None) -> int:
    args = parse_args(argv)
    import oneflow as flow

    from . import api
    from .errors import ConverterError, InvalidModelError, ModelLoadError, UnsupportedOperatorError
    from .graph import load

    t0 = time.perf_counter()
    try:
        graph = load(args.model)
        _progress("load", t0)
        problems = api.inventory_of_loaded(graph)
    except (ModelLoadError, InvalidModelError) as e:
        return _fail(EXIT_BAD_MODEL, e)
    except ConverterError as e:   # e.g. a node whose attributes a handler's check cannot read
        return _fail(EXIT_BAD_MODEL, e)
    if args.inventory:
        if not problems:
            print(f"{graph.source}: every operator is supported ({len(graph.graph.node)} nodes)")
            return EXIT_OK
        print(UnsupportedOperatorError(problems, graph.source))
        return EXIT_UNSUPPORTED
    if problems:
        return _fail(EXIT_UNSUPPORTED, UnsupportedOperatorError(problems, graph.source))

    from .errors import DeviceError
    from .folding import DEFAULT_FOLD_LIMIT_BYTES
    try:
        api.resolve_device(args.device)
    except DeviceError as e:
        return _fail(EXIT_DEVICE, f"--device {args.device}: {e}")
    fold_limit = DEFAULT_FOLD_LIMIT_BYTES if args.fold_limit is None else args.fold_limit
    t1 = time.perf_counter()
    try:
        optimized, fired = api.rewrite(graph, not args.no_optimize)
        module = api.convert_loaded(optimized, device=args.device, fold_limit_bytes=fold_limit)
        module.rewrites = fired
    except UnsupportedOperatorError as e:
        return _fail(EXIT_UNSUPPORTED, e)
    except ConverterError as e:
        return _fail(EXIT_BAD_MODEL, e)
    _progress("convert", t1)
    seconds = time.perf_counter() - t0
    _print_summary(graph, module, seconds)

    if args.out:
        try:
            os.makedirs(args.out, exist_ok=True)
            weights = os.path.join(args.out, "weights")
            flow.save(module.state_dict(), weights)
        except OSError as e:
            return _fail(EXIT_USAGE, f"--out {args.out}: cannot write the weights ({e})")
        print(f"weights: {weights} (flow.save of the state_dict)")
        if args.codegen:
            from .codegen import codegen
            from .errors import CodegenError
            try:
                path = codegen(args.model, os.path.join(args.out, "codegen"))
            except CodegenError as e:
                return _fail(EXIT_CODEGEN, e)
            print(f"codegen: {path} (+ weights beside it; needs only oneflow)")

    if args.check:
        return _check(graph, module, args, fold_limit, optimized)
    return EXIT_OK


def run() -> None:
    """Entry point of the ``onnx2oneflow`` console script and ``python -m converter``."""
    sys.exit(main())


def _progress(step: str, since: float) -> None:
    print(f"[{step}] {time.perf_counter() - since:.2f} s", flush=True)


def _print_summary(graph, module, seconds: float) -> None:
    ops = collections.Counter(n.op_type for n in graph.graph.node)
    n_params = sum(p.numel() for p in module.parameters())
    n_buffers = sum(b.numel() for b in module.buffers())
    print(f"converted {graph.source}: {len(graph.graph.node)} nodes, {len(ops)} op types, "
          f"{n_params:,} parameter values, {n_buffers:,} buffer values, {seconds:.2f} s")
    print("ops: " + ", ".join(f"{op}×{n}" for op, n in sorted(ops.items(), key=lambda kv: (-kv[1], kv[0]))))
    print("rewrites: " + (", ".join(f"{k}×{v}" for k, v in getattr(module, "rewrites", {}).items()) or "none"))


def output_errors(actual: np.ndarray, reference: np.ndarray, rtol: float, atol: float):
    """(max abs error, max rel error, smallest passing atol at ``rtol``, passed): the
    project's one comparison (converter.numerics)."""
    p = compare_output("output", actual, reference, rtol, atol)
    return p.max_abs, p.max_rel, p.min_atol, p.passed


def _check(graph, module, args, fold_limit: int, optimized) -> int:
    """``graph``: the model as loaded (ORT reads its file); ``optimized``: after the rewrites, as converted."""
    import oneflow as flow

    from . import api
    from .check_inputs import InputError, OptionError, UndrawableInput, build_feeds
    from .dtypes import to_tensor
    from .errors import ConverterError
    from .reference_run import run_reference, signal_name

    try:
        feeds, notes = build_feeds(module.input_specs, shapes=args.shapes, free_dims=args.free_dims,
                                   given=args.given, seed=args.seed)
    except (OptionError, InputError) as e:
        return _fail(EXIT_USAGE, f"--check: {e}")
    except UndrawableInput as e:
        return _fail(EXIT_BAD_MODEL, f"--check: {e}")
    for note in notes:
        print(f"note: {note}")
    print("inputs: " + ", ".join(f"{n} {v.dtype}{list(v.shape)}" for n, v in feeds.items()))

    t = time.perf_counter()
    ref = run_reference(graph.source, feeds, module.output_names)
    if ref.kind == "crash":
        return _fail(EXIT_REFERENCE_CRASHED, f"--check: ONNX Runtime crashed (signal {ref.signal}, "
                                             f"{signal_name(ref.signal)}) running the model on these inputs"
                                             + (f"; its last words: {ref.detail}" if ref.detail else ""))
    if ref.kind == "error":
        return _fail(EXIT_CHECK_FAILED, f"--check: ONNX Runtime cannot run the model: {ref.detail}")
    _progress("ONNX Runtime", t)

    runs = [("eager", module)]
    if args.graph:
        from .graph_mode import to_graph
        runs.append(("nn.Graph", to_graph(module, api.graph_rebuild(optimized, args.device, fold_limit))))
    ok = True
    for label, runner in runs:
        t = time.perf_counter()
        try:
            with flow.no_grad():
                out = runner(*[to_tensor(feeds[s.name], args.device) for s in module.input_specs])
            outs = [o.numpy() for o in (out if isinstance(out, tuple) else (out,))]  # waits for OneFlow
        except ConverterError as e:
            return _fail(EXIT_RUN_FAILED, f"OneFlow ({label}): {e}")
        _progress(f"OneFlow {label}", t)
        ok &= _report(module, outs, ref.outputs, args, label)
    print("check passed" if ok else "check FAILED")
    return EXIT_OK if ok else EXIT_CHECK_FAILED


def _report(module, outs, reference, args, label: str) -> bool:
    ok = True
    print(f"check vs ONNX Runtime (OneFlow {label}, seed {args.seed}, rtol {args.rtol:g}, atol {args.atol:g}):")
    # Pairs by name: a missing or extra output is a failing row, never dropped by zip().
    got = {f"output {i}": o for i, o in enumerate(outs)}
    ref = {f"output {i}": np.asarray(r) for i, r in enumerate(reference)}
    for row, name in zip(compare_outputs(got, ref, args.rtol, args.atol),
                         list(module.output_names) + [f"(extra {n})" for n in got if n not in ref]):
        ok &= row.passed
        if row.error and not row.shape_ok:
            print(f"  {name}: {row.error} FAIL")
            continue
        scale = float(np.nanmax(np.abs(ref[row.name]), initial=0.0)) if ref[row.name].size else 0.0
        print(f"  {name}: shape {tuple(got[row.name].shape)} max_abs={row.max_abs:.3g} max_rel={row.max_rel:.3g} "
              f"passing atol>={row.min_atol:.3g} (reference max |value| {scale:.3g}) {'ok' if row.passed else 'FAIL'}"
              + (f" ({row.error})" if row.error else ""))
    return ok


def _fail(code: int, error) -> int:
    print(f"error: {error}", file=sys.stderr)
    return code
