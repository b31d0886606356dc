"""The catalogue's vocabulary (zoo/vocabulary.py) has one home that zoo, harness and reports
read: the module imports nothing, reports and the harness import nothing else of the zoo's,
no module spells one of its lists again, and every presentation table covers it."""
import ast
import glob
import os
import subprocess
import sys

import pytest

from zoo import vocabulary as v

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
VOCABULARY = os.path.join(ROOT, "zoo", "vocabulary.py")
# Lists a module would otherwise spell again (ordered or not).
LISTS = {name: set(getattr(v, name)) for name in (
    "FRAMEWORKS", "SOURCE_FRAMEWORKS", "TASKS", "STAGES", "STATUS_KINDS", "RED_KINDS", "GATES", "DEVICES",
    "MODES", "MATRIX_OPSETS")}


def _python_files(*packages):
    return sorted(p for pkg in packages for p in glob.glob(os.path.join(ROOT, pkg, "**", "*.py"), recursive=True))


def _imports(path) -> set:
    with open(path) as f:
        tree = ast.parse(f.read(), path)
    out = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            out |= {a.name for a in node.names}
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            out |= {node.module} | {f"{node.module}.{a.name}" for a in node.names}
    return out


def test_importing_the_vocabulary_imports_nothing_else():
    code = ("import sys; before = set(sys.modules); import zoo.vocabulary; "
            "print(sorted(set(sys.modules) - before))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120, cwd=ROOT)
    assert out.stdout.strip() == "['zoo', 'zoo.vocabulary']", out.stdout + out.stderr


# docs/design.md §1: reports read record files (which name each exporter patch's upstream bug)
# and the vocabulary; the harness reads the catalogue through `python -m zoo list
# --json`, never the loader or a source framework's builder. One exception: the OneFlow process
# of a OneFlow-column case rebuilds the native module with the zoo's OneFlow builder, to time the
# converted model against it (harness/latency.py; docs/design.md §9).
ZOO_MODULES_READ = {"reports": ("zoo.vocabulary",),
                    "harness": ("zoo.vocabulary", "zoo.frameworks.oneflow_exporter")}


@pytest.mark.parametrize("package", sorted(ZOO_MODULES_READ))
def test_reports_and_harness_take_only_the_vocabulary_from_the_zoo(package):
    allowed = ZOO_MODULES_READ[package]
    found = {f"{os.path.relpath(p, ROOT)}: {name}" for p in _python_files(package) for name in _imports(p)
             if name.split(".")[0] == "zoo" and name != "zoo"
             and not any(name == a or name.startswith(a + ".") for a in allowed)}
    found |= {f"{os.path.relpath(p, ROOT)}: {name}" for p in _python_files("reports") for name in _imports(p)
              if package == "reports" and name.split(".")[0] == "harness"}
    assert not found, sorted(found)


def test_no_module_spells_a_vocabulary_list_again():
    again = []
    for path in _python_files("zoo", "harness", "reports"):
        if path == VOCABULARY:
            continue
        with open(path) as f:
            tree = ast.parse(f.read(), path)
        for node in ast.walk(tree):
            if isinstance(node, (ast.Tuple, ast.List, ast.Set)) and node.elts \
                    and all(isinstance(e, ast.Constant) for e in node.elts):
                values = {e.value for e in node.elts}
                for name, wanted in LISTS.items():
                    if len(node.elts) > 1 and values == wanted:
                        again.append(f"{os.path.relpath(path, ROOT)}:{node.lineno} spells {name}")
    assert not again, again


def test_the_converter_compares_with_the_catalogue_default_tolerance():
    # The converter is installed on its own and keeps its own default (docs/design.md §1).
    from converter import numerics

    assert (numerics.DEFAULT_RTOL, numerics.DEFAULT_ATOL) == (v.DEFAULT_RTOL, v.DEFAULT_ATOL) == (1e-3, 1e-5)


def test_every_status_kind_and_framework_has_its_presentation():
    from harness.matrix import STYLE
    from reports import html_page, markdown
    from reports.matrix import FRAMEWORK_TITLES

    for table in (markdown.SYMBOL, html_page.COLORS, html_page.LABELS, STYLE):
        assert set(v.STATUS_KINDS) <= set(table), set(v.STATUS_KINDS) - set(table)
    assert set(v.FRAMEWORKS) <= set(FRAMEWORK_TITLES)


@pytest.mark.parametrize("status, kind", [("fail:parity", "fail"), ("pass", "pass"), ("skip:unavailable", "skip"),
                                          (None, "infra"), ("", "infra")])
def test_status_kind(status, kind):
    assert v.status_kind(status) == kind
