"""docs/operators.md is generated from the handler registry and must match it.

The pass-count column comes from a conformance run and is not compared here (the claimed
cases guard in test_conformance.py covers those); every registry-derived cell is.
"""
from pathlib import Path

from converter import optable

DOC = Path(__file__).resolve().parents[1] / "docs" / "operators.md"
REGENERATE = ("python -m converter.conformance --json /tmp/conformance.json && "
              "python -m converter.optable --results /tmp/conformance.json --out docs/operators.md")


def test_operator_table_matches_the_registry():
    committed = [row[:-1] for row in optable.parse_table(DOC.read_text())]
    current = optable.registry_rows()
    stale = sorted(set(committed) ^ set(current))
    assert committed == current, f"docs/operators.md is stale ({len(stale)} rows differ, e.g. {stale[:3]}); " \
                                 f"regenerate: {REGENERATE}"


def test_unconverted_list_matches_the_registry():
    text = DOC.read_text()
    missing = optable.unconverted_ops()
    assert f"## Not converted ({len(missing)} ONNX operators" in text
    assert ", ".join(missing) in text, f"regenerate: {REGENERATE}"


def test_every_registered_version_is_a_real_onnx_schema_version():
    # A version ONNX never defined would silently never be selected by lookup().
    import onnx.defs
    from converter.registry import all_handlers

    defined = {}
    for s in onnx.defs.get_all_schemas_with_history():
        defined.setdefault((s.domain, s.name), set()).add(s.since_version)
    wrong = [(h.op_type, sorted(set(h.versions) - defined[("", h.op_type)])) for h in all_handlers()
             if h.domain == "" and ("", h.op_type) in defined and not set(h.versions) <= defined[("", h.op_type)]]
    assert not wrong, f"registered versions that are not ONNX schema versions: {wrong}"
