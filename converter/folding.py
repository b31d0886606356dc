"""Build-time constants: what a handler returns when its outputs are known statically."""
from __future__ import annotations

import numpy as np


class Folded:
    """A handler's build result meaning "this node's outputs are these constants"."""

    def __init__(self, *values):
        self.values = [np.asarray(v) for v in values]
