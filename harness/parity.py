"""The harness compares with the project's one comparison, converter.numerics
(docs/design.md §4); this module only gives it the harness's names. The default tolerance of
a case is the catalogue's (zoo/vocabulary.py)."""
from converter.numerics import (  # noqa: F401 - re-exported
    OutputParity, all_passed, compare_outputs, top5_agreement,
)
from converter.numerics import compare_output as compare  # noqa: F401
