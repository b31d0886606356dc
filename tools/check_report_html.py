"""Open the generated support_matrix.html in headless Chromium and check that it renders.

    .venv/bin/python tools/check_report_html.py out/reports/support_matrix.html [--png shot.png] [--history]

Takes a real screenshot and counts the heatmap's status colours in its pixels, so a page
whose SVG failed to draw fails the check. Exit 0 when the heatmap shows (and, with --history,
the per-cell max-abs sparklines of reports/history.py too).
"""
from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
import tempfile

CHROMIUM_FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                  "--disable-background-networking", "--disable-component-update", "--disable-sync",
                  "--hide-scrollbars"]
# Heatmap colours (reports/html_page.py COLORS) that a rendered matrix must show.
STATUS_RGB = {"pass": (0x2E, 0x9E, 0x44), "fail": (0xD9, 0x30, 0x25), "xfail": (0xF9, 0xAB, 0x00),
              "skip": (0x9E, 0x9E, 0x9E)}
TREND_RGB = (0x1A, 0x73, 0xE8)      # reports/history.py TREND: the sparkline points


def find_chromium() -> str | None:
    for name in ("chromium", "chromium-browser", "google-chrome"):
        path = shutil.which(name)
        if path:
            return path
    return None


def screenshot(html_path: str, png_path: str, size=(1400, 2400), timeout=120) -> None:
    exe = find_chromium()
    if exe is None:
        raise FileNotFoundError("no chromium on PATH (Debian: apt-get install chromium)")
    with tempfile.TemporaryDirectory() as profile:
        cmd = [exe, *CHROMIUM_FLAGS, f"--user-data-dir={profile}", f"--window-size={size[0]},{size[1]}",
               f"--screenshot={os.path.abspath(png_path)}", "file://" + os.path.abspath(html_path)]
        proc = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout)
    if not os.path.exists(png_path):
        raise RuntimeError(f"chromium wrote no screenshot (exit {proc.returncode}): {proc.stderr[-800:]}")


def status_pixels(png_path: str) -> dict:
    """Pixels per status colour, plus "trend" for the history sparklines."""
    from PIL import Image

    img = Image.open(png_path).convert("RGB")
    lookup = {**{v: k for k, v in STATUS_RGB.items()}, TREND_RGB: "trend"}
    counts = {k: 0 for k in lookup.values()}
    for n, rgb in img.getcolors(maxcolors=1 << 24) or []:
        if n and tuple(rgb) in lookup:
            counts[lookup[tuple(rgb)]] += n
    return counts


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("html")
    ap.add_argument("--png", default=None, help="where to keep the screenshot")
    ap.add_argument("--history", action="store_true", help="also require the history sparklines")
    args = ap.parse_args(argv)
    png = args.png or os.path.join(tempfile.mkdtemp(), "support_matrix.png")
    screenshot(args.html, png)
    counts = status_pixels(png)
    print(f"screenshot: {png}")
    print("pixels by colour: " + ", ".join(f"{k}={v}" for k, v in counts.items()))
    if not any(counts[k] for k in STATUS_RGB):
        print("FAIL: no heatmap colour in the rendered page", file=sys.stderr)
        return 1
    if args.history and not counts["trend"]:
        print("FAIL: no history sparkline in the rendered page", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
