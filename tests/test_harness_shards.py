"""--shard K/N: deterministic, the union of the shards is the whole run, export groups stay
whole, and the shards are balanced on the committed results' recorded costs."""
import glob
import os

import pytest

from harness.cases import case_from_cell, load_cells
from harness.costs import load_finals
from harness.export_stage import group_key
from harness.paths import REPO_ROOT
from harness.shards import ShardError, parse, partition, recorded_costs, select_shard

COMMITTED = sorted(glob.glob(os.path.join(REPO_ROOT, "reports", "results", "cpu-*.jsonl")))
OPSETS = (11, 13, 17)


@pytest.fixture(scope="module")
def cases():
    return [case_from_cell(cell, opset, "cpu") for cell in load_cells() for opset in OPSETS]


@pytest.fixture(scope="module")
def costs():
    assert COMMITTED, "no committed results in reports/results/"
    return recorded_costs(load_finals(COMMITTED))


def test_parse():
    assert parse("1/2") == (1, 2) and parse(" 3 / 3 ") == (3, 3)
    for bad in ("0/2", "3/2", "1", "a/b", "1/0", ""):
        with pytest.raises(ShardError):
            parse(bad)


@pytest.mark.parametrize("n", [1, 2, 3, 4])
def test_union_is_the_whole_run_and_groups_stay_whole(cases, costs, n):
    shards = [select_shard(cases, f"{k}/{n}", costs) for k in range(1, n + 1)]
    ids = [c.case_id for shard in shards for c in shard]
    assert sorted(ids) == sorted(c.case_id for c in cases) and len(ids) == len(set(ids))
    owner = {}
    for k, shard in enumerate(shards):
        for c in shard:
            assert owner.setdefault(group_key(c), k) == k, f"{group_key(c)} split across shards"
    for shard in shards:   # catalogue order inside a shard
        assert shard == [c for c in cases if c in shard]


def test_deterministic(cases, costs):
    first = [c.case_id for c in select_shard(cases, "2/3", costs)]
    again = [c.case_id for c in select_shard(list(cases), "2/3", dict(reversed(list(costs.items()))))]
    assert first == again


def test_balanced_within_25_percent_on_the_committed_costs(cases, costs):
    from harness.shards import case_cost

    for n in (2, 3):
        loads = [sum(case_cost(c, costs) for c in shard) for shard in partition(cases, n, costs)]
        print(f"{n} shards: {[round(x) for x in loads]} s")
        assert max(loads) <= 1.25 * min(loads), loads


def test_cost_falls_back_to_the_model_then_the_framework_then_the_default(cases):
    from harness.shards import DEFAULT_SECONDS, case_cost

    case = next(c for c in cases if c.framework == "torch" and c.opset == 11)
    assert case_cost(case, {}) == DEFAULT_SECONDS["torch"]
    assert case_cost(case, {("torch", "other", 13, "cpu"): 7.0}) == 7.0
    assert case_cost(case, {("torch", case.model, 13, "cpu"): 5.0, ("torch", "other", 13, "cpu"): 7.0}) == 5.0
    assert case_cost(case, {("torch", case.model, 11, "cpu"): 3.0}) == 3.0


def test_reports_merge_shard_files_into_the_unsharded_matrix(cases, costs, tmp_path):
    """Split the committed run along the shards; python -m reports on the shard files gives
    the whole file's cells (reports.records.load reads several files as one run)."""
    import json

    from reports import markdown
    from reports.matrix import build
    from reports.records import load

    source = COMMITTED[0]
    lines = [json.loads(line) for line in open(source) if line.strip()]
    owner = {group_key(c)[:2]: k for k, shard in enumerate(partition(cases, 2, costs)) for c in shard}
    paths = [tmp_path / f"shard{k}.jsonl" for k in (1, 2)]
    for k, path in enumerate(paths):
        with open(path, "w") as f:
            for rec in lines:
                if rec.get("event") == "run" or owner.get((rec.get("framework"), rec.get("model"))) == k:
                    f.write(json.dumps(rec) + "\n")
    whole, merged = build(load([source])), build(load(paths))
    # rows come in the order records do (shard by shard): compare them as a set, then the table
    assert sorted(merged.rows) == sorted(whole.rows) and merged.cells == whole.cells
    merged.rows = list(whole.rows)
    assert markdown.render_table(merged) == markdown.render_table(whole)
    assert sorted(r["case"] for r in load(paths).finals) == sorted(r["case"] for r in load([source]).finals)


def test_matrix_command_line_selects_its_shard():
    """Through `python -m harness matrix`'s own parser: the shards of the default matrix are
    disjoint and cover it (this path once handed the raw records to the partition)."""
    from harness.matrix import build_parser, selected_cases
    whole = {c.case_id for c in selected_cases(build_parser().parse_args([]))}
    parts = [{c.case_id for c in selected_cases(build_parser().parse_args(["--shard", f"{k}/2"]))}
             for k in (1, 2)]
    assert parts[0] and parts[1] and not parts[0] & parts[1] and parts[0] | parts[1] == whole


def test_costs_are_taken_from_the_run_mode_only():
    finals = [{"framework": "torch", "model": "m", "opset": 13, "device": "cpu", "seconds": {"total": 5.0}},
              {"framework": "torch", "model": "m", "opset": 13, "device": "cpu", "mode": "graph",
               "seconds": {"total": 50.0}}]
    assert recorded_costs(finals)[("torch", "m", 13, "cpu")] == 5.0
    assert recorded_costs(finals, "graph")[("torch", "m", 13, "cpu")] == 50.0
