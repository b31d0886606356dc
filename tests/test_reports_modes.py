"""Reports with more than one mode and with an extra opset of a few cells: graph-mode records
(the converted model as oneflow.nn.Graph) are their own cells in the README table, the JSON,
the HTML, the history and the diff; a record without a mode is eager; an extra opset (the
seed's opset 10, three OneFlow cells) shows in the OneFlow column only."""
import json

import pytest

from reports import history, markdown
from reports.__main__ import generate
from reports.diff import main as diff_main
from reports.matrix import build
from reports.records import case_key, load

ROWS = (("alexnet", "AlexNet"), ("resnet50", "ResNet"), ("vgg16", "VGG"))


def _rec(fw, model, arch, opset=13, status="pass", mode=None, **kw):
    rec = {"event": "final", "case": f"{fw}-{model}-opset{opset}-cpu", "framework": fw, "model": model,
           "architecture": arch, "opset": opset, "device": "cpu", "status": status, "error": None,
           "reason": None, "max_abs": 1e-7 if status == "pass" else None, "max_rel": 1e-6, "time": 1764100000.0}
    rec.update(kw)
    return rec if mode is None else {**rec, "mode": mode}


def _write(path, recs):
    path.write_text("".join(json.dumps(r) + "\n" for r in recs))
    return path


def _table(md: str) -> list:
    start = md.index("| Architecture |")
    return md[start: md.index("\n\n", start)].splitlines()


@pytest.fixture
def three_opsets_and_opset10(tmp_path):
    """torch and oneflow at 11/13/17; oneflow alexnet and resnet50 also at 10 (not vgg16)."""
    recs = [_rec(fw, m, a, o) for fw in ("torch", "oneflow") for m, a in ROWS for o in (11, 13, 17)]
    recs += [_rec("oneflow", "alexnet", "AlexNet", 10),
             _rec("oneflow", "resnet50", "ResNet", 10, status="fail:parity", max_abs=0.5, error="differs")]
    return _write(tmp_path / "r.jsonl", recs)


def test_an_extra_opset_shows_in_its_column_only(three_opsets_and_opset10):
    md = markdown.render(build(load([three_opsets_and_opset10])))
    head, _, alexnet, resnet, vgg, summary = _table(md)
    assert head == "| Architecture | PyTorch cpu<br>11 · 13 · 17 | OneFlow (round trip) cpu<br>10 · 11 · 13 · 17 |"
    marks = [c.strip() for c in vgg.split("|")[2:4]]
    assert marks[1].startswith(markdown.NOT_A_CELL + "<span") and marks[1].count("✅") == 3
    assert marks[0].count("✅") == 3 and markdown.NOT_A_CELL not in marks[0]
    assert 'title="alexnet opset 10: converter gate not recorded; OneFlow vs the source: max abs 1.0e-07' in alexnet
    assert resnet.split("|")[3].strip().startswith("❌<sup>[1]")
    assert summary == "| **pass / total** | 3/3 · 3/3 · 3/3 | 1/2 · 3/3 · 3/3 · 3/3 |"
    assert markdown.LEGEND_NOT_A_CELL in md and markdown.LEGEND_GRAPH not in md
    assert "1. <a id=\"matrix-note-1\"></a>resnet50 (fail:parity): max abs 5.0e-01" in md


def test_a_missing_record_at_an_opset_every_column_has_stays_a_dash(three_opsets_and_opset10, tmp_path):
    recs = [json.loads(line) for line in three_opsets_and_opset10.read_text().splitlines()]
    recs = [r for r in recs if not (r["framework"] == "torch" and r["model"] == "vgg16" and r["opset"] == 17)]
    md = markdown.render(build(load([_write(tmp_path / "gap.jsonl", recs)])))
    vgg = _table(md)[4]
    assert vgg.split("|")[2].strip().endswith("—")


def test_one_opset_one_mode_keeps_the_plain_table(tmp_path):
    path = _write(tmp_path / "r.jsonl", [_rec("torch", m, a) for m, a in ROWS])
    md = markdown.render(build(load([path])))
    assert _table(md)[0] == "| Architecture | PyTorch cpu |"
    assert markdown.LEGEND_NOT_A_CELL not in md and markdown.LEGEND_GRAPH not in md


@pytest.fixture
def eager_and_graph(tmp_path):
    """Opset 13: eager records without a mode (as before modes), graph records with one."""
    recs = [_rec(fw, m, a) for fw in ("torch", "oneflow") for m, a in ROWS]
    recs += [_rec(fw, m, a, mode="graph") for fw in ("torch", "oneflow") for m, a in ROWS if m != "resnet50"]
    recs += [_rec("torch", "resnet50", "ResNet", mode="graph"),
             _rec("oneflow", "resnet50", "ResNet", status="fail:convert", mode="graph",
                  error="GraphModeError: node Resize_3 reads its sizes back")]
    return _write(tmp_path / "r.jsonl", recs)


def test_graph_mode_is_one_more_mark_per_framework(eager_and_graph, tmp_path):
    runset = load([eager_and_graph])
    assert runset.duplicates == [] and len(runset.finals) == 12
    m = build(runset)
    md = markdown.render(m)
    head, _, alexnet, resnet, vgg, summary = _table(md)
    assert head == ("| Architecture | PyTorch cpu<br>13 · nn.Graph 13 | "
                    "OneFlow (round trip) cpu<br>13 · nn.Graph 13 |")
    assert 'title="alexnet opset 13 nn.Graph: converter gate not recorded; OneFlow vs the source: max abs 1.0e-07' in alexnet
    assert resnet.split("|")[3].strip().endswith("❌<sup>[1](#matrix-note-1)</sup>")
    assert "resnet50 nn.Graph (fail:convert): GraphModeError: node Resize_3" in md
    assert summary == "| **pass / total** | 3/3 · 3/3 | 3/3 · 2/3 |"
    assert markdown.LEGEND_GRAPH in md and markdown.LEGEND_NOT_A_CELL not in md
    paths = generate([eager_and_graph], str(tmp_path / "out"))
    data = json.load(open(paths["json"]))
    assert {c["key"] for c in data["columns"]} == {"torch/cpu/13", "torch/cpu/13/graph", "oneflow/cpu/13",
                                                   "oneflow/cpu/13/graph"}
    resnet_row = next(r for r in data["rows"] if r["architecture"] == "ResNet")
    assert resnet_row["cells"]["oneflow/cpu/13"]["status"] == "pass"
    assert resnet_row["cells"]["oneflow/cpu/13/graph"]["status"] == "fail:convert"
    page = open(paths["html"]).read()
    assert "<th>OneFlow (round trip) cpu nn.Graph</th>" in page and page.count('class="cell"') == 3 * 4


def test_history_and_diff_key_cells_by_mode(eager_and_graph, tmp_path, capsys):
    """Before: every graph cell passed. After: one graph cell fails, its eager twin still passes."""
    before = [json.loads(line) for line in eager_and_graph.read_text().splitlines()]
    for r in before:
        if r.get("mode") == "graph":
            r.update(status="pass", error=None, max_abs=1e-7)
    base = _write(tmp_path / "base.jsonl", before)
    assert diff_main([str(base), str(eager_and_graph), "--json"]) == 1
    out = json.loads(capsys.readouterr().out)
    assert [(c["category"], c["case"], c["mode"]) for c in out["changes"]] == [
        ("regression", "oneflow-resnet50-opset13-cpu (graph mode)", "graph")]
    assert diff_main([str(eager_and_graph), str(eager_and_graph)]) == 0
    assert "no changes" in capsys.readouterr().out
    h = history.load([[str(base)], [str(eager_and_graph)]])
    key = ("oneflow", "resnet50", 13, "cpu", "graph")
    assert [run[key]["status"] for run in h.runs] == ["pass", "fail:convert"]
    assert [run[key[:4] + ("eager",)]["status"] for run in h.runs] == ["pass", "pass"]
    html = history.section_html(build(load([eager_and_graph])), h)
    assert html.count('class="trend"') == 12


def test_a_record_without_a_mode_is_eager():
    rec = _rec("torch", "alexnet", "AlexNet")
    assert case_key(rec) == case_key({**rec, "mode": "eager"}) == ("torch", "alexnet", 13, "cpu", "eager")
    assert case_key({**rec, "mode": "graph"})[-1] == "graph"


def test_a_graph_run_that_died_is_unfinished_only_in_its_mode(tmp_path):
    started = {"event": "started", "case": "torch-alexnet-opset13-cpu", "mode": "graph"}
    path = _write(tmp_path / "r.jsonl", [_rec("torch", "alexnet", "AlexNet"), started])
    assert [r["case"] for r in load([path]).unfinished] == ["torch-alexnet-opset13-cpu"]
    # the runner's started records name no mode: a final of that case in any mode finishes it
    path = _write(tmp_path / "r2.jsonl", [{k: v for k, v in started.items() if k != "mode"},
                                          _rec("torch", "alexnet", "AlexNet", mode="graph")])
    assert load([path]).unfinished == []


def test_rows_follow_the_full_slice_whatever_file_comes_first(tmp_path):
    """reports/results/*.jsonl sorts cpu-opset10.jsonl (a few cells) before the full slices."""
    small = _write(tmp_path / "cpu-opset10.jsonl", [_rec("oneflow", "vgg16", "VGG", 10)])
    graph = _write(tmp_path / "cpu-opset13-graph.jsonl", [_rec("oneflow", "resnet50", "ResNet", mode="graph")])
    full = _write(tmp_path / "cpu-opset13.jsonl", [_rec("oneflow", m, a) for m, a in ROWS])
    assert build(load([small, graph, full])).rows == ["AlexNet", "ResNet", "VGG"]
