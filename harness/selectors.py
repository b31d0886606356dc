"""The case selectors shared by ``python -m harness matrix`` and the pytest options."""
from __future__ import annotations

import argparse

from .cases import DEVICES, FRAMEWORKS
from .runner import DEFAULT_TIMEOUTS


def add_selector_arguments(add) -> None:
    """``add`` is argparse's add_argument or pytest's parser.addoption."""
    add("--framework", action="append", default=[], choices=FRAMEWORKS,
        help="source framework (repeatable; default: all)")
    add("--model", action="append", default=[],
        help="case-insensitive substring of the model id or catalogue architecture, e.g. resnet (repeatable)")
    add("--opset", action="append", default=[], type=int,
        help="ONNX opset (repeatable; default 13; python -m harness matrix: 11, 13, 17 and each cell's "
             "catalogue extra_opsets). At an extra opset (e.g. 10) only the cells naming it run")
    add("--device", action="append", default=[], choices=DEVICES, help="cpu or cuda (repeatable; default cpu)")
    add("--keep", action="store_true", default=False, help="keep the repro bundle of passing cases too")


def parse_timeouts(items) -> dict:
    """['convert=60', 'export=1200'] -> DEFAULT_TIMEOUTS updated."""
    timeouts = dict(DEFAULT_TIMEOUTS)
    for item in items or ():
        stage, _, seconds = item.partition("=")
        if stage not in timeouts or not seconds:
            raise argparse.ArgumentTypeError(f"--timeout {item!r}: use STAGE=SECONDS with STAGE in {list(timeouts)}")
        timeouts[stage] = float(seconds)
    return timeouts
