"""reports: records -> Markdown / JSON / HTML, and the README section swap."""
import json

import pytest

from reports import markdown
from reports.__main__ import generate, main
from reports.matrix import build
from reports.records import RecordError, load


def _rec(fw, model, arch, status, device="cpu", **kw):
    base = {"event": "final", "case": f"{fw}-{model}-opset13-{device}", "framework": fw, "model": model,
            "architecture": arch, "opset": 13, "device": device, "status": status, "stage": None,
            "error": None, "reason": None, "max_abs": None, "max_rel": None, "time": 1764100000.0,
            "versions": {"python": "3.9.18", "oneflow": "0.9.0", fw: "1.0"}}
    base.update(kw)
    return base


@pytest.fixture
def results(tmp_path):
    recs = [
        {"event": "run", "command": "python -m harness matrix --opset 13", "commit": "abc1234"},
        {"event": "started", "case": "torch-resnet50-opset13-cpu"},
        _rec("torch", "resnet50", "ResNet", "fail:parity", max_abs=0.5, max_rel=0.1, error="outputs differ"),
        _rec("torch", "resnet50", "ResNet", "pass", max_abs=1.5e-6, max_rel=2e-5),   # newer record wins
        _rec("paddle", "resnet50", "ResNet", "fail:convert", error="Unsupported | op Foo"),
        _rec("torch", "vit_b_16", "ViT", "xfail:export", reason="exporter bug X"),
        _rec("paddle", "vit_b_16", "ViT", "skip:unavailable", reason="no such model"),
        _rec("torch", "vit_b_16", "ViT", "skip:cuda", device="cuda", reason="no CUDA device"),
        {"event": "started", "case": "paddle-unet-opset13-cpu"},
    ]
    path = tmp_path / "results.jsonl"
    path.write_text("".join(json.dumps(r) + "\n" for r in recs))
    return path


def test_matrix_rows_columns_counts(results):
    m = build(load([results]))
    assert m.rows == ["ResNet", "ViT"]
    assert [(c.framework, c.device) for c in m.columns] == [("torch", "cpu"), ("torch", "cuda"), ("paddle", "cpu")]
    assert m.counts["pass"] == 1 and m.counts["fail"] == 1 and m.counts["xfail"] == 1 and m.counts["skip"] == 2
    assert [r["case"] for r in m.unfinished] == ["paddle-unet-opset13-cpu"]
    assert m.run["commit"] == "abc1234" and m.run["time"].endswith("UTC")


def test_markdown_cells_notes_and_footer(results):
    md = markdown.render(build(load([results])))
    assert "max abs 1.5e-06" in md                     # hover text of the pass
    assert "❌ convert" in md and "Unsupported \\| op Foo" in md   # stage + escaped note
    assert "⚠️ export" in md and "exporter bug X" in md
    assert "⏭" in md and "no CUDA device" in md
    assert "Command: `python -m harness matrix --opset 13`" in md
    assert "1 started but never finished" in md
    assert "| **pass / total**" in md


def test_generate_writes_all_and_rewrites_readme(results, tmp_path):
    readme = tmp_path / "README.md"
    readme.write_text(f"intro\n{markdown.START}\nold table\n{markdown.END}\noutro\n")
    paths = generate([results], str(tmp_path / "out"), str(readme))
    text = readme.read_text()
    assert "old table" not in text and text.startswith("intro\n") and text.endswith("outro\n")
    assert markdown.readme_section(text) == (tmp_path / "out" / "support_matrix.md").read_text().strip("\n")
    data = json.loads((tmp_path / "out" / "support_matrix.json").read_text())
    assert data["rows"][0]["cells"]["torch/cpu/13"]["status"] == "pass"
    page = (tmp_path / "out" / "support_matrix.html").read_text()
    assert 'id="heatmap"' in page and page.count('class="cell"') == 2 * 3
    assert 'id="error-chart"' in page
    assert set(paths) == {"md", "json", "html", "readme"}


def test_bad_inputs_are_clear(tmp_path, capsys):
    bad = tmp_path / "bad.jsonl"
    bad.write_text("{not json\n")
    with pytest.raises(RecordError, match="bad.jsonl:1"):
        load([bad])
    assert main(["--results", str(tmp_path / "missing.jsonl"), "--out", str(tmp_path)]) == 2
    assert "missing.jsonl" in capsys.readouterr().err
    readme = tmp_path / "R.md"
    readme.write_text("no markers")
    with pytest.raises(ValueError, match="markers"):
        markdown.replace_readme_section(readme.read_text(), "x")


def test_two_models_of_one_architecture_get_two_rows(tmp_path):
    path = tmp_path / "r.jsonl"
    recs = [_rec("torch", "resnet50", "ResNet", "pass", max_abs=1e-6), _rec("torch", "resnet18", "ResNet", "fail:run"),
            _rec("paddle", "resnet50", "ResNet", "pass", max_abs=2e-6)]
    path.write_text("".join(json.dumps(r) + "\n" for r in recs))
    m = build(load([path]))
    assert m.rows == ["ResNet", "ResNet (resnet18)"]
    assert m.models == {"ResNet": {"torch": "resnet50", "paddle": "resnet50"}, "ResNet (resnet18)": {"torch": "resnet18"}}
    assert sum(1 for _ in m.cells) == 3


@pytest.mark.parametrize("line, problem", [
    ('[1, 2]', "JSON list"),
    ('{"event": "final", "framework": "torch", "model": "m", "opset": 13, "device": "cpu"}', "lacks case"),
    ('{"event": "final", "case": "c", "framework": "torch", "opset": 13, "device": "cpu"}', "lacks model"),
])
def test_hostile_records_exit_2_naming_file_and_line(tmp_path, capsys, line, problem):
    path = tmp_path / "r.jsonl"
    path.write_text(json.dumps(_rec("torch", "resnet50", "ResNet", "pass")) + "\n" + line + "\n")
    assert main(["--results", str(path), "--out", str(tmp_path / "o")]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and f"{path}:2" in err and problem in err


def test_exporter_bug_cells_say_what_the_converter_did(tmp_path):
    """'exporter bug; converter matches ORT' is a different cell from '...; converter untested'."""
    path = tmp_path / "r.jsonl"
    gate = {"max_abs": 1e-7, "max_rel": 1e-6, "min_atol": 0.0, "rtol": 1e-3, "atol": 1e-5, "ok": True}
    recs = [_rec("oneflow", "vit_b_16", "ViT", "xfail:ort", reason="bug A", converter="matches ORT",
                 oneflow_vs_ort=gate),
            _rec("oneflow", "googlenet", "GoogLeNet", "xfail:ort", reason="bug B", converter="untested"),
            _rec("paddle", "darknet53", "DarkNet", "fail:ort", error="bug C", converter="differs from ORT")]
    path.write_text("".join(json.dumps(r) + "\n" for r in recs))
    generate([path], str(tmp_path / "out"))
    md = (tmp_path / "out" / "support_matrix.md").read_text()
    assert "⚠️ ort (converter ✅)" in md and "⚠️ ort (converter untested)" in md and "❌ ort (converter ❌)" in md
    assert "exporter bug; converter matches ORT" in md and "exporter bug; converter untested" in md
    data = json.loads((tmp_path / "out" / "support_matrix.json").read_text())
    verdicts = {c["model"]: c["verdict"] for row in data["rows"] for c in row["cells"].values() if c}
    assert verdicts == {"vit_b_16": "exporter bug; converter matches ORT",
                        "googlenet": "exporter bug; converter untested",
                        "darknet53": "exporter bug; converter differs from ORT"}
    page = (tmp_path / "out" / "support_matrix.html").read_text()
    assert "exporter bug; converter matches ORT" in page and "(converter untested)" in page


GATE = {"max_abs": 3.0e-6, "max_rel": 2.0e-4, "min_atol": 1.2e-6, "rtol": 1e-3, "atol": 1e-5, "ok": True}


def test_a_cell_shows_the_converter_gate_and_marks_a_loosened_gate_with_its_reason():
    loose = {"rtol": 1e-3, "atol": 3.1e-5, "reason": "measured: atol 2.60e-5 at batch 1; paddle noise"}
    default = {"rtol": 1e-3, "atol": 1e-5, "reason": None}
    plain = _rec("torch", "a", "A", "pass", max_abs=9e-6, max_rel=1e-4, oneflow_vs_ort=GATE,
                 tolerance=default, converter_tolerance=default)
    notes = markdown._Notes()
    text = markdown.cell(plain, notes)
    assert "converter gate (OneFlow vs ORT): max abs 3.0e-06, max rel 2.0e-04, needs atol 1.2e-06 (allowed 1.0e-05)" \
        in text and "OneFlow vs the source: max abs 9.0e-06" in text
    assert markdown.LOOSENED not in text
    text = markdown.cell({**plain, "tolerance": loose}, notes)
    assert text.endswith(f">{markdown.LOOSENED}</span>")
    assert "source gate loosened to rtol 0.001, atol 3.1e-05 (default rtol 0.001, atol 1e-05): measured: atol 2.60e-5" in text
    batch = markdown.cell({**plain, "batch_tolerances": {"3": loose}}, notes)
    assert "converter gate at batch 3 loosened" in batch
    # failing cells carry the mark too; skipped ones judged nothing
    assert markdown.LOOSENED in markdown.cell({**plain, "status": "fail:parity", "converter_tolerance": loose}, notes)
    assert markdown.LOOSENED not in markdown.cell({**plain, "status": "skip:unavailable", "tolerance": loose}, notes)


def test_reports_name_patches_from_the_record_without_importing_the_zoo(tmp_path):
    # Reports read records and the catalogue's vocabulary only (docs/design.md §1).
    import subprocess
    import sys

    note = {"name": "p1", "exporter": "oneflow-onnx==0.6.2", "bug": "drops the axes", "fix": "passes them"}
    rec = _rec("oneflow", "a", "A", "pass", exporter_patches=["p1"], exporter_patch_notes=[note])
    path = tmp_path / "r.jsonl"
    path.write_text(json.dumps(rec) + "\n")
    script = ("import sys; from reports.__main__ import main; "
              f"main(['--results', {str(path)!r}, '--out', {str(tmp_path / 'out')!r}]); "
              "print(sorted(m for m in sys.modules if m == 'zoo' or m.startswith('zoo.')))")
    proc = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=120,
                          cwd=str(__import__("pathlib").Path(__file__).resolve().parents[1]))
    assert proc.returncode == 0 and proc.stdout.strip().splitlines()[-1] == "['zoo', 'zoo.vocabulary']", proc.stdout + proc.stderr
    md = (tmp_path / "out" / "support_matrix.md").read_text()
    assert "patch p1 (oneflow-onnx==0.6.2): upstream bug: drops the axes; fix: passes them" in md


def _timed(fw, model, arch, oneflow_ms, ort_ms, native_ms=None, **kw):
    block = {"oneflow_ms": oneflow_ms, "ort_ms": ort_ms, "vs_ort": round(oneflow_ms / ort_ms, 4), "iters": 5,
             "warmup": 1, "threads": {"oneflow": 2, "ort": 2}}
    if native_ms:
        block.update(native_ms=native_ms, vs_native=round(oneflow_ms / native_ms, 4))
    return _rec(fw, model, arch, "pass", max_abs=1e-6, latency=block, **kw)


def test_speed_view_per_cell_and_per_framework(tmp_path):
    """The latency block of each record (harness/latency.py) reaches the JSON cell, the HTML
    chart and the cell's tooltip, and the Markdown names the median ratio per framework."""
    recs = [_timed("torch", "resnet50", "ResNet", 40.0, 10.0), _timed("torch", "vgg16", "VGG", 90.0, 10.0),
            _timed("torch", "alexnet", "AlexNet", 20.0, 10.0),
            _timed("oneflow", "resnet50", "ResNet", 40.0, 8.0, native_ms=50.0),
            _rec("paddle", "resnet50", "ResNet", "fail:convert", error="no")]       # never ran: no timing
    path = tmp_path / "r.jsonl"
    path.write_text("".join(json.dumps(r) + "\n" for r in recs))
    generate([path], str(tmp_path / "out"))
    data = json.loads((tmp_path / "out" / "support_matrix.json").read_text())
    resnet = next(r for r in data["rows"] if r["architecture"] == "ResNet")["cells"]
    assert resnet["torch/cpu/13"]["speed"]["vs_ort"] == 4.0 and resnet["torch/cpu/13"]["speed"]["vs_native"] is None
    assert resnet["oneflow/cpu/13"]["speed"]["vs_ort"] == 5.0 and resnet["oneflow/cpu/13"]["speed"]["vs_native"] == 0.8
    assert resnet["paddle/cpu/13"]["speed"] is None
    assert data["speed"] == [
        {"framework": "torch", "mode": "eager", "cells": 3, "median_vs_ort": 4.0, "median_vs_native": None,
         "native_cells": 0},
        {"framework": "oneflow", "mode": "eager", "cells": 1, "median_vs_ort": 5.0, "median_vs_native": 0.8,
         "native_cells": 1}]
    md = (tmp_path / "out" / "support_matrix.md").read_text()
    assert "PyTorch 4.00× ORT (3 cells) · OneFlow (round trip) 5.00× ORT, 0.80× native (1 cell)" in md
    page = (tmp_path / "out" / "support_matrix.html").read_text()
    assert 'id="speed-chart"' in page
    assert page.count('data-ratio="vs_ort"') == 4 and page.count('data-ratio="vs_native"') == 1
    assert "latency: converted 40.0 ms, ONNX Runtime 8.0 ms (5.00×), OneFlow native 50.0 ms (0.80×)" in page


def test_records_without_latency_leave_the_markdown_as_it_was(results):
    md = markdown.render(build(load([results])))
    assert "Speed" not in md


def test_second_tier_rows_get_a_table_per_task_with_only_their_columns(tmp_path):
    # Records carry their tier and task (harness/cases.py); reports group by them (issue 22).
    from reports import html_page
    from reports.matrix import sections, to_json

    recs = [_rec("torch", "resnet18", "ResNet", "pass", task="classification", tier=1),
            _rec("paddle", "resnet18", "ResNet", "pass"),                     # an older record: the first tier
            _rec("torch", "llama_tiny", "LLaMA", "fail:parity", task="language-model", tier=2),
            _rec("torch", "bert_tiny", "BERT", "pass", task="text-encoder", tier=2),
            _rec("torch", "gpt2_tiny", "GPT-2", "pass", task="language-model", tier=2)]
    path = tmp_path / "r.jsonl"
    path.write_text("".join(json.dumps(r) + "\n" for r in recs))
    m = build(load([str(path)]))
    assert m.rows == ["ResNet", "BERT", "LLaMA", "GPT-2"]       # tier 1, then tier 2 by the vocabulary's task order
    parts = sections(m)
    assert [t for t, _ in parts] == ["", "Tier 2: text-encoder", "Tier 2: language-model"]
    lm = parts[2][1]
    assert lm.rows == ["LLaMA", "GPT-2"] and [c.framework for c in lm.columns] == ["torch"]
    assert lm.counts["pass"] == 1 and lm.counts["fail"] == 1
    text = markdown.render(m)
    assert text.index("| ResNet |") < text.index("#### Tier 2: text-encoder") < text.index("| BERT |") \
        < text.index("#### Tier 2: language-model") < text.index("| LLaMA |")
    assert text.count("| **pass / total**") == 3
    rows = {r["architecture"]: (r["tier"], r["task"]) for r in to_json(m)["rows"]}
    assert rows == {"ResNet": (1, "classification"), "BERT": (2, "text-encoder"), "LLaMA": (2, "language-model"),
                    "GPT-2": (2, "language-model")}
    page = html_page.render(m)
    assert page.count('<tr class="group">') == 2 and "Tier 2: language-model" in page


def test_first_tier_only_renders_one_table_as_before(tmp_path):
    from reports.matrix import sections

    path = tmp_path / "r.jsonl"
    path.write_text(json.dumps(_rec("torch", "resnet18", "ResNet", "pass")) + "\n")
    m = build(load([str(path)]))
    assert [t for t, _ in sections(m)] == [""] and "####" not in markdown.render(m)
