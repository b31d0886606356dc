"""An architecture's layout is data written once (zoo/models/layouts.py) and read by every
framework's builder: no framework module defines a layout table of its own, and the builders
of one catalogue model in several frameworks read a common layout. Static checks (the
modules are parsed, not imported): no framework is imported here."""
import ast
import glob
import os

import pytest

from zoo import catalogue
from zoo.export import EXPORTERS

MODELS_DIR = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "zoo", "models")
LAYOUTS = os.path.join(MODELS_DIR, "layouts.py")
FRAMEWORK_MODULES = sorted(glob.glob(os.path.join(MODELS_DIR, "*", "*.py")))
# A constant with this many numbers is a layout table (stages, widths, a block list).
TABLE_NUMBERS = 3


def _tree(path):
    with open(path) as f:
        return ast.parse(f.read(), path)


def _numbers(node) -> int:
    return sum(isinstance(n, ast.Constant) and isinstance(n.value, (int, float)) and not isinstance(n.value, bool)
               for n in ast.walk(node))


def _relative(path):
    return os.path.relpath(path, os.path.dirname(MODELS_DIR))


def _registrations() -> dict:
    """(framework, variant) -> module path, from the modules' @register("<variant>") decorators."""
    out = {}
    for path in FRAMEWORK_MODULES:
        framework = os.path.basename(os.path.dirname(path))
        for node in ast.walk(_tree(path)):
            for deco in getattr(node, "decorator_list", ()):
                if (isinstance(deco, ast.Call) and getattr(deco.func, "id", None) == "register"
                        and deco.args and isinstance(deco.args[0], ast.Constant)):
                    out[(framework, deco.args[0].value)] = path
    return out


def _layouts_read(path) -> set:
    """The names a module reads from the layouts module: `layouts.X` and `from ..layouts import X`."""
    names = set()
    for node in ast.walk(_tree(path)):
        if isinstance(node, ast.Attribute) and getattr(node.value, "id", None) == "layouts":
            names.add(node.attr)
        if isinstance(node, ast.ImportFrom) and node.level == 2 and node.module == "layouts":
            names |= {a.name for a in node.names}
    return names


def test_the_layouts_module_imports_no_framework():
    imported = set()
    for node in ast.walk(_tree(LAYOUTS)):
        if isinstance(node, ast.Import):
            imported |= {a.name.split(".")[0] for a in node.names}
        elif isinstance(node, ast.ImportFrom):
            imported.add((node.module or "").split(".")[0])
    assert imported <= {"__future__", "types", "dataclasses", "typing"}, imported


def test_no_framework_module_defines_a_layout_table():
    tables = []
    for path in FRAMEWORK_MODULES:
        for node in _tree(path).body:   # module level: where a layout constant would go
            if isinstance(node, (ast.Assign, ast.AnnAssign)) and node.value is not None \
                    and _numbers(node.value) >= TABLE_NUMBERS:
                tables.append(f"{_relative(path)}:{node.lineno}")
    assert not tables, f"layout tables belong in zoo/models/layouts.py: {tables}"


def _shared_models():
    """Catalogue models built by our own definitions (`builder: zoo`) in two or more frameworks."""
    by_model = {}
    for cell in catalogue.cells():
        if cell.builder == "zoo":
            by_model.setdefault(cell.model, []).append(cell)
    return {m: cells for m, cells in by_model.items() if len(cells) > 1}


def test_there_are_models_defined_in_several_frameworks():
    # Guards the next test against passing on an empty list.
    assert {"shufflenet_v1", "unet", "darknet53", "xception65", "repvgg_a0"} <= set(_shared_models())


@pytest.mark.parametrize("model", sorted(_shared_models()))
def test_every_framework_builds_the_model_from_one_common_layout(model):
    registered = _registrations()
    read = {}
    for cell in _shared_models()[model]:
        path = registered.get((cell.framework, cell.variant))
        assert path, f"{cell.id}: no @register({cell.variant!r}) in zoo/models/{cell.framework}/"
        read[cell.framework] = {n for n in _layouts_read(path) if n.isupper()}
    common = set.intersection(*read.values())
    assert common, f"{model}: the frameworks' builders read no common layout from zoo/models/layouts.py: {read}"


def test_the_layouts_key_the_export_cache_of_every_zoo_cell():
    # A changed layout must re-export the cells built from it, as a changed builder does.
    for framework, spec in EXPORTERS.items():
        assert LAYOUTS in spec.code_files("zoo", framework), framework
