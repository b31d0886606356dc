"""The policy of one example: who refuses what, and what counts as a failure.

* ONNX rejects the drawn graph (strict shape inference / checker): the example is discarded.
* ORT has no kernel for it (NOT_IMPLEMENTED): discarded - nothing to compare with.
* ORT refuses it as invalid (bad graph, bad argument, run-time failure): the converter must
  refuse it too, with a typed ConverterError at conversion or at run time. Converting and
  running it silently, an untyped error or a dead worker is a failure.
* ORT runs it: the converter must either declare the op use unsupported up front
  (UnsupportedOperatorError: an honest, typed limit, counted as an event) or give the same
  outputs: same count, dtypes and shapes, values under prop_oracle.mismatch.
"""
from __future__ import annotations

import json
import os

from hypothesis import event, reject

from prop_exclusions import excluded, spec_reference
from prop_oracle import build_model, mismatch, run_ort


def check(family: str, example, runner) -> None:
    reason = excluded(example)
    if reason:
        event(f"excluded: {reason}")
        reject()
    model = build_model(example)
    if model is None:
        event("discarded: invalid per onnx")
        reject()
    ref = run_ort(model, example.inputs)
    spec = spec_reference(example)
    if spec:
        event(f"reference: spec, not ORT ({spec[0]})")
        ref.kind, ref.outputs = "ok", spec[1](example)
    if ref.kind == "unimplemented":
        event("discarded: ORT has no kernel")
        reject()
    mode = getattr(runner, "mode", "eager")
    stage, kind, payload = runner(model, list(example.inputs.values()))
    if ref.kind == "refused":
        if stage in ("unsupported", "convert", "run"):
            return _record(family, example, "both-refuse", "", mode)
        return _fail(family, example, "ORT refuses, converter does not", mode,
                     f"ORT: {ref.detail[:400]}\nconverter: {stage} {kind} {str(payload)[:600]}")
    if stage == "unsupported":
        event("converter: declared unsupported")
        return _record(family, example, "unsupported", payload[:300], mode)
    if stage != "ok":
        return _fail(family, example, f"converter {stage}", mode, f"{kind}: {payload}")
    problem = mismatch(payload, ref.outputs)
    if problem:
        return _fail(family, example, "wrong", mode, problem)
    _record(family, example, "pass", "", mode)


def _record(family, example, outcome, detail, mode="eager") -> None:
    path = os.environ.get("PROP_SURVEY")
    if path:
        with open(path, "a") as f:
            f.write(json.dumps({"family": family, "mode": mode, "outcome": outcome, "ops": [n.op_type for n in example.nodes],
                                "opset": example.opset, "example": example.describe()[:600],
                                "detail": detail[:800]}) + "\n")


def _fail(family, example, outcome, mode, detail) -> None:
    if os.environ.get("PROP_SURVEY"):
        return _record(family, example, outcome, detail, mode)
    raise AssertionError(f"{outcome} ({mode}): {detail}\n  model: {example.describe()}")
