"""python -m harness matrix|repro|preflight|complete|digest ... (see each command's --help)."""
from __future__ import annotations

import sys

COMMANDS = {
    "matrix": "harness.matrix",
    "repro": "harness.repro",
    "preflight": "harness.cuda_preflight",
    "complete": "harness.complete",
    "digest": "harness.digest",
}


def main(argv=None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    if not argv or argv[0] not in COMMANDS:
        print(f"usage: python -m harness {{{'|'.join(COMMANDS)}}} ...", file=sys.stderr)
        return 2
    import importlib

    module = importlib.import_module(COMMANDS[argv[0]])
    sys.argv = [f"python -m harness {argv[0]}", *argv[1:]]
    return module.main(argv[1:])


if __name__ == "__main__":
    sys.exit(main())
