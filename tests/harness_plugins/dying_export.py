"""The real ``python -m zoo.export``, except that exporting the opset named by
$DYING_EXPORT_OPSET kills the process (SIGSEGV) or, with $DYING_EXPORT_MODE=hang, hangs.
The harness tests run it in place of zoo.export to see a crash or hang in the middle of a
multi-opset export process."""
import os
import signal
import sys
import time

from zoo import export

_real_export_case = export.export_case


def _export_case(cell, opset, out_dir, seed=export.DEFAULT_SEED, built=None):
    if opset == int(os.environ.get("DYING_EXPORT_OPSET", "-1")):
        if os.environ.get("DYING_EXPORT_MODE") == "hang":
            time.sleep(3600)
        os.kill(os.getpid(), signal.SIGSEGV)
    return _real_export_case(cell, opset, out_dir, seed, built)


export.export_case = _export_case

if __name__ == "__main__":
    sys.exit(export.main())
