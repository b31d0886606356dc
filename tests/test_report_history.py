"""The HTML report's per-cell history: status sequence + max-abs sparkline, after the heatmap;
rendered in a real headless Chromium when it is installed."""
import json
import re
import subprocess
import sys
from pathlib import Path

import pytest

from reports import history
from reports.__main__ import main

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tools"))
import check_report_html  # noqa: E402

STATUSES = ["pass", "fail:convert", "xfail:export", "skip:no-cuda-device"]


def _night(path, night):
    """Four cells; cell 0's error grows tenfold each night, cell 1 was passing on the first night."""
    recs = [{"event": "run", "commit": f"{night:07d}", "command": "python -m harness matrix"}]
    for i, status in enumerate(STATUSES):
        if i == 1 and night == 0:
            status = "pass"
        recs.append({"event": "final", "case": f"torch-m{i}-opset13-cpu", "framework": "torch", "model": f"m{i}",
                     "architecture": f"Arch{i}", "opset": 13, "device": "cpu", "status": status,
                     "time": 1764100000.0 + 86400 * night,
                     "max_abs": 1e-8 * 10 ** night if status == "pass" else None})
    path.write_text("".join(json.dumps(r) + "\n" for r in recs))
    return str(path)


def _page(tmp_path, nights=3) -> Path:
    runs = [_night(tmp_path / f"night{n}.jsonl", n) for n in range(nights)]
    args = [a for r in runs for a in ("--results", r)]
    assert main([*args, "--out", str(tmp_path / "out")]) == 0
    return tmp_path / "out" / "support_matrix.html"


def test_history_follows_the_heatmap_with_one_sequence_per_cell(tmp_path):
    page = _page(tmp_path).read_text()
    assert page.index('id="heatmap"') < page.index('id="history"') < page.index('id="matrix"')
    table = page[page.index('id="history"'): page.index('id="matrix"')]
    assert table.count('class="trend"') == len(STATUSES)
    assert table.count('class="run"') == 3 * len(STATUSES)
    # cell 0 passed three nights (3 points, rising); cell 1 passed on night 0 only
    cells = re.findall(r'<svg class="trend".*?</svg>', table)
    assert cells[0].count('class="point"') == 3 and cells[1].count('class="point"') == 1
    ys = [float(y) for y in re.findall(r'class="point" cx="[\d.]+" cy="([\d.]+)"', cells[0])]
    assert ys == sorted(ys, reverse=True)           # larger error is drawn higher
    assert "fail:convert" in cells[1] and "pass, max abs 1.00e-08" in cells[1]


def test_one_run_has_no_history_and_history_dirs_keep_name_order(tmp_path):
    single = _page(tmp_path, nights=1).read_text()
    assert 'id="history"' not in single and 'id="heatmap"' in single
    d = tmp_path / "hist"
    (d / "2026-11-02").mkdir(parents=True)
    _night(d / "2026-11-02" / "cpu.jsonl", 1)
    _night(d / "2026-11-01.jsonl", 0)
    (d / "notes.txt").write_text("ignored")
    runs = history.runs_in(d)
    assert runs == [[str(d / "2026-11-01.jsonl")], [str(d / "2026-11-02" / "cpu.jsonl")]]
    current = _night(tmp_path / "now.jsonl", 2)
    assert main(["--results", current, "--history", str(d), "--out", str(tmp_path / "o2")]) == 0
    assert "History (3 runs" in (tmp_path / "o2" / "support_matrix.html").read_text()
    assert main(["--results", current, "--history", str(tmp_path / "nowhere"), "--out", str(tmp_path)]) == 2


@pytest.mark.skipif(check_report_html.find_chromium() is None,
                    reason="no chromium on PATH (Debian package 'chromium'; .ci/run installs it)")
def test_history_renders_in_chromium(tmp_path):
    def check(page, png):
        return subprocess.run([sys.executable, str(ROOT / "tools" / "check_report_html.py"), str(page),
                               "--png", str(png), "--history"], capture_output=True, text=True, timeout=180)

    (tmp_path / "a").mkdir()
    proc = check(_page(tmp_path / "a"), tmp_path / "a.png")
    assert proc.returncode == 0, proc.stdout + proc.stderr
    counts = check_report_html.status_pixels(str(tmp_path / "a.png"))
    assert counts["trend"] > 30 and counts["pass"] > 500, counts      # 4 points of ~12 px each
    (tmp_path / "b").mkdir()
    proc = check(_page(tmp_path / "b", nights=1), tmp_path / "b.png")      # no history drawn: the check fails
    assert proc.returncode == 1 and "no history sparkline" in proc.stderr
