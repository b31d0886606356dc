"""Latency in every record (docs/design.md §3): process B times the converted module, ONNX
Runtime and, in the OneFlow column, OneFlow's own module, interleaved, and the final record
carries the block. The numbers are checked for sanity (positive, finite, the rounds asked
for), never against a speed: speed targets live in benchmarks/.

Cost: the torch squeezenet1_1 opset-13 export is the session's (the smoke cell's); process B
twice (eager, graph) ~30 s; the OneFlow column's squeezenet1_1 adds its export (~25 s cold).
"""
import collections
import math
import time

import pytest

from harness import status as st
from harness.cases import select
from harness.complete import latency_problems, record_problems
from harness.latency import interleave, summary
from harness.records import RECORD_VERSION, finals
from harness.runner import RunOptions, run_case
from zoo_export_checks import TORCH_SMOKE_GROUP


def test_interleave_gives_every_variant_the_same_rounds_within_the_budget():
    calls = collections.Counter()
    variants = {"slow": lambda: (calls.update(["slow"]), time.sleep(0.02)), "quick": lambda: calls.update(["quick"])}
    times = interleave(variants, warmup=2, iters=50, budget_s=0.1)
    rounds = len(times["slow"])
    assert len(times["quick"]) == rounds and 1 <= rounds <= 5      # a round sleeps >= 0.02 s
    assert calls["slow"] == calls["quick"] == rounds + 2            # warm-up rounds are untimed
    assert {k: len(v) for k, v in interleave(variants, warmup=0, iters=3, budget_s=1e3).items()} == \
        {"slow": 3, "quick": 3}
    with pytest.raises(ValueError):
        interleave(variants, iters=0)


def test_summary_is_medians_and_the_median_of_per_round_ratios():
    out = summary({"oneflow": [0.010, 0.012, 0.030], "ort": [0.005, 0.004, 0.006]})
    assert out == {"oneflow_ms": 12.0, "ort_ms": 5.0, "vs_ort": 3.0, "vs_ort_range": [2.0, 5.0], "iters": 3}


def _sane(block: dict, iters: int) -> None:
    assert latency_problems(block) == [], block
    assert "error" not in block, block
    for key in ("oneflow_ms", "ort_ms", "vs_ort"):
        assert math.isfinite(block[key]) and block[key] > 0, (key, block)
    assert 1 <= block["iters"] <= iters and block["iters_requested"] == iters, block
    assert block["threads"] == {"oneflow": 2, "ort": 2} and block["warmup"] == 1, block
    lo, hi = block["vs_ort_range"]
    assert lo <= block["vs_ort"] <= hi, block


def _run(case, cache, tmp_path, mode="eager", iters=3):
    opts = RunOptions(out_dir=str(tmp_path / mode), results=str(tmp_path / f"{mode}.jsonl"), cache=cache,
                      mode=mode, run_id="latency-test", threads=2, latency_iters=iters, latency_warmup=1)
    rec = run_case(case, opts)
    assert rec["status"] == st.PASS, (rec["status"], rec["error"])
    (written,) = finals(opts.results)
    assert written["record_version"] == RECORD_VERSION and written["latency"] == rec["latency"]
    assert record_problems(written) == []
    return rec["latency"]


@pytest.mark.torch
@pytest.mark.xdist_group(TORCH_SMOKE_GROUP)
def test_a_torch_case_records_converted_and_ort_latency_eager_and_as_a_graph(zoo_cache_dir, tmp_path):
    (case,) = select(["torch"], ["squeezenet1_1"], [13], ["cpu"])
    assert case.native is None                       # only the OneFlow column has a native module
    eager = _run(case, zoo_cache_dir, tmp_path)
    _sane(eager, 3)
    assert not {"native_ms", "native_error", "graph_compile_s"} & set(eager), eager
    graph = _run(case, zoo_cache_dir, tmp_path, "graph")
    _sane(graph, 3)
    assert math.isfinite(graph["graph_compile_s"]) and graph["graph_compile_s"] > 0, graph


@pytest.mark.oneflow
def test_the_oneflow_column_times_oneflows_own_module_beside_the_converted_one(zoo_cache_dir, tmp_path):
    (case,) = select(["oneflow"], ["squeezenet1_1"], [13], ["cpu"])
    assert case.native == {"builder": "flowvision", "variant": "squeezenet1_1", "kwargs": {}, "seed": 0}
    block = _run(case, zoo_cache_dir, tmp_path, iters=2)
    _sane(block, 2)
    assert "native_error" not in block, block
    assert math.isfinite(block["native_ms"]) and block["native_ms"] > 0 and block["vs_native"] > 0, block
