"""The error summary the noise-floor tools print (tools/*_noise_floor.py): one definition."""
import numpy as np

RTOL = 1e-3


def stats(got, ref) -> str:
    """Max and median abs error of ``got`` against the float64 ``ref``, and the atol it needs at RTOL.

    The median too: with logits in the thousands the needed atol hangs on the one small
    element, while the error's scale shows whether two results are the same kind of noise.
    """
    d = np.abs(np.asarray(got).astype(np.float64) - ref)
    return (f"max abs {d.max():.3g}, median abs {np.median(d):.3g}, "
            f"needs atol {max(0.0, float((d - RTOL * np.abs(ref)).max())):.3g}")
