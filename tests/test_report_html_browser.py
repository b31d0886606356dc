"""The HTML report renders in a real headless Chromium and its heatmap shows."""
import json
import subprocess
import sys
from pathlib import Path

import pytest

from reports.__main__ import generate

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tools"))
import check_report_html  # noqa: E402

pytestmark = pytest.mark.skipif(check_report_html.find_chromium() is None,
                                reason="no chromium on PATH (Debian package 'chromium'; .ci/run installs it)")


def test_heatmap_renders_in_chromium(tmp_path):
    recs = []
    for i, status in enumerate(["pass", "fail:convert", "xfail:export", "skip:no-cuda-device"]):
        recs.append({"event": "final", "case": f"torch-m{i}-opset13-cpu", "framework": "torch", "model": f"m{i}",
                     "architecture": f"Arch{i}", "opset": 13, "device": "cpu", "status": status,
                     "max_abs": 1e-6 if status == "pass" else None, "versions": {"oneflow": "0.9.0"}})
    results = tmp_path / "r.jsonl"
    results.write_text("".join(json.dumps(r) + "\n" for r in recs))
    generate([results], str(tmp_path / "out"))
    png = tmp_path / "shot.png"
    proc = subprocess.run([sys.executable, str(ROOT / "tools" / "check_report_html.py"),
                           str(tmp_path / "out" / "support_matrix.html"), "--png", str(png)],
                          capture_output=True, text=True, timeout=180)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    counts = check_report_html.status_pixels(str(png))
    for status in ("pass", "fail", "xfail", "skip"):
        assert counts[status] > 500, counts        # every status cell is drawn, not just the legend
