"""Command line: convert an ONNX file, save the weights, optionally check against ONNX Runtime.

    python -m converter model.onnx --out DIR [--device cpu|cuda] [--check] [--graph] [--codegen] [--no-optimize]
    python -m converter model.onnx --inventory

Exit codes (scripts can tell the failures apart):
  0 ok · 1 --check found outputs outside tolerance · 2 bad command line (argparse)
  3 unreadable or malformed model · 4 unsupported operators · 5 device unavailable
  6 the converted model failed while running · 7 --codegen cannot write some nodes
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
DEFAULT_RTOL, DEFAULT_ATOL = 1e-3, 1e-5     # docs/design.md §4 fp32 defaults
CHECK_SEED = 0


def parse_args(argv):
    ap = argparse.ArgumentParser(prog="python -m converter",
                                 description="Convert an ONNX model into a OneFlow module.")
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
                    help="run the --check through oneflow.nn.Graph (static execution) instead of eagerly")
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
    return args


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
    try:
        optimized, fired = api.rewrite(graph, not args.no_optimize)
        module = api.convert_loaded(optimized, device=args.device, fold_limit_bytes=fold_limit)
        module.rewrites = fired
    except UnsupportedOperatorError as e:
        return _fail(EXIT_UNSUPPORTED, e)
    except ConverterError as e:
        return _fail(EXIT_BAD_MODEL, e)
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
        return _check(graph, module, args)
    return EXIT_OK


def _print_summary(graph, module, seconds: float) -> None:
    ops = collections.Counter(n.op_type for n in graph.graph.node)
    n_params = sum(p.numel() for p in module.parameters())
    n_buffers = sum(b.numel() for b in module.buffers())
    print(f"converted {graph.source}: {len(graph.graph.node)} nodes, {len(ops)} op types, "
          f"{n_params:,} parameter values, {n_buffers:,} buffer values, {seconds:.2f} s")
    print("ops: " + ", ".join(f"{op}×{n}" for op, n in sorted(ops.items(), key=lambda kv: (-kv[1], kv[0]))))
    print("rewrites: " + (", ".join(f"{k}×{v}" for k, v in getattr(module, "rewrites", {}).items()) or "none"))


def random_inputs(specs, seed: int) -> tuple[dict, list]:
    """Seeded inputs from the module's input specs; dynamic dims become 1 (and are reported)."""
    from .errors import TensorTooLarge
    from .folding import check_alloc

    rng = np.random.default_rng(seed)
    feeds, notes = {}, []
    for spec in specs:
        if spec.shape is None:
            raise ValueError(f"input {spec.name!r} has no declared rank; cannot build a random input")
        if spec.dtype is None:
            raise ValueError(f"input {spec.name!r} has no declared element type")
        shape = tuple(1 if d is None else d for d in spec.shape)
        try:   # the input, its float64 draw and ORT's copy: refuse what cannot fit, before numpy tries
            check_alloc(shape, np.float64, f"random input {spec.name!r}")
        except TensorTooLarge as e:
            raise ValueError(str(e)) from None
        if any(d is None for d in spec.shape):
            notes.append(f"input {spec.name!r}: dynamic dims set to 1 -> shape {shape}")
        dt = np.dtype(spec.dtype)
        if dt.kind == "f":
            value = rng.standard_normal(shape).astype(dt)
        elif dt.kind == "b":
            value = rng.integers(0, 2, shape).astype(dt)
        elif dt.kind in "iu":
            value = rng.integers(0, 8, shape).astype(dt)   # small: safe as indices of most axes
        else:
            raise ValueError(f"input {spec.name!r}: cannot build random values of dtype {dt}")
        feeds[spec.name] = value
    return feeds, notes


def output_errors(actual: np.ndarray, reference: np.ndarray, rtol: float, atol: float):
    """(max abs error, max rel error, smallest passing atol at ``rtol``, passed): the
    project's one comparison (converter.numerics)."""
    p = compare_output("output", actual, reference, rtol, atol)
    return p.max_abs, p.max_rel, p.min_atol, p.passed


def _check(graph, module, args) -> int:
    import oneflow as flow
    import onnxruntime as ort

    from .dtypes import to_tensor
    from .errors import ConverterError

    try:
        feeds, notes = random_inputs(module.input_specs, args.seed)
    except ValueError as e:
        return _fail(EXIT_BAD_MODEL, f"--check: {e}")
    for note in notes:
        print(f"note: {note}")
    try:
        opts = ort.SessionOptions()
        opts.log_severity_level = 3
        # A path lets ORT read external data itself (and models over protobuf's 2 GB limit).
        model = graph.source if os.path.isfile(graph.source) else graph.model.SerializeToString()
        session = ort.InferenceSession(model, opts, providers=["CPUExecutionProvider"])
        reference = session.run(module.output_names, feeds)
    except Exception as e:  # noqa: BLE001 - ORT's own errors are the reference's problem
        return _fail(EXIT_CHECK_FAILED, f"--check: ONNX Runtime cannot run the model: {e}")

    runner = module
    if args.graph:
        from .graph_mode import to_graph
        runner = to_graph(module)
    try:
        with flow.no_grad():
            out = runner(*[to_tensor(feeds[s.name], args.device) for s in module.input_specs])
    except ConverterError as e:
        return _fail(EXIT_RUN_FAILED, e)
    outs = out if isinstance(out, tuple) else (out,)
    ok = True
    print(f"check vs ONNX Runtime (seed {args.seed}, rtol {args.rtol:g}, atol {args.atol:g}"
          f"{', nn.Graph' if args.graph else ''}):")
    # Pairs by name: a missing or extra output is a failing row, never dropped by zip().
    got = {f"output {i}": o.numpy() for i, o in enumerate(outs)}
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
    print("check passed" if ok else "check FAILED")
    return EXIT_OK if ok else EXIT_CHECK_FAILED


def _fail(code: int, error) -> int:
    print(f"error: {error}", file=sys.stderr)
    return code
