"""Can OneFlow run kernels on this machine's CUDA device? Asked once, in a throw-away process.

OneFlow 0.9.0 reports ``cuda.is_available()`` on GPUs it has no kernels for, and its first
kernel there aborts the whole process (docs/design.md §7: on an H200, "no kernel image is available
for execution on the device (209)", SIGABRT). So a tiny kernel runs in a child first; when
it cannot, every CUDA case of a run is ``infra`` (``--allow-skip-device``: skipped) with a
reason naming the device, its compute capability and the architectures the OneFlow build has.

    python -m harness preflight           # prints the decision as JSON; exit 1 when unusable
    python -m harness preflight --github  # also a GitHub Actions error saying which GPUs work
"""
from __future__ import annotations

import argparse
import functools
import json
import re
import subprocess
import sys
from dataclasses import asdict, dataclass
from typing import Optional

from .paths import REPO_ROOT
from .versions import framework_env

# CUDA architectures each OneFlow build ships kernels for (no PTX), measured from the wheel.
ONEFLOW_CUDA_ARCHS = {"0.9.0": ("sm_60", "sm_61", "sm_70", "sm_75", "sm_80", "sm_86")}
PREFIX = "@@preflight "
NO_KERNEL_IMAGE = re.compile(r"no kernel image is available for execution on the device(?: \((\d+)\))?")

# Prints what it knows before the kernel runs, so a crash still leaves the device's name.
PROBE = f"""
import json
import converter, oneflow as flow
info = {{"oneflow": flow.__version__, "available": bool(flow.cuda.is_available())}}
if info["available"]:
    info["name"] = flow.cuda.get_device_name(0)
    info["capability"] = list(flow.cuda.get_device_capability(0))
print({PREFIX!r} + json.dumps(info), flush=True)
if info["available"]:
    x = flow.arange(16, dtype=flow.float32, device="cuda")
    print({PREFIX!r} + json.dumps({{"kernel_result": float((x * 2).sum().numpy())}}), flush=True)
"""
KERNEL_EXPECTED = 240.0


@dataclass(frozen=True)
class Preflight:
    usable: bool
    reason: str                     # why not (empty when usable)
    skip_code: str = ""             # the <reason> in status "skip:<reason>"
    device: Optional[str] = None
    capability: Optional[tuple] = None
    oneflow: Optional[str] = None

    def to_dict(self) -> dict:
        return asdict(self)

    def supported_text(self) -> str:
        return supported_gpus(self.oneflow)


def supported_gpus(version: Optional[str] = None) -> str:
    """Which GPUs a OneFlow build can run, for the messages of a run that cannot."""
    version = version or next(iter(ONEFLOW_CUDA_ARCHS))
    archs = ONEFLOW_CUDA_ARCHS.get(version)
    if not archs:
        return f"OneFlow {version}: kernel architectures unknown"
    caps = ", ".join(f"{a[3:-1]}.{a[-1]}" for a in archs)
    return (f"OneFlow {version} runs on compute capability {caps} only ({', '.join(archs)}, no PTX): "
            "e.g. P100, V100, T4, A100, A10 or RTX 30xx; not Ada (8.9) or Hopper (9.0: H100/H200)")


def _arch_text(version: Optional[str]) -> str:
    archs = ONEFLOW_CUDA_ARCHS.get(version or "")
    return f"kernels for {', '.join(archs)} only, no PTX" if archs else "unknown kernel architectures"


def decide(returncode: int, stdout: str, stderr: str) -> Preflight:
    """Turn the probe's exit code and output into a decision (pure: unit-tested)."""
    info, kernel = {}, None
    for line in stdout.splitlines():
        if line.startswith(PREFIX):
            event = json.loads(line[len(PREFIX):])
            if "kernel_result" in event:
                kernel = event["kernel_result"]
            else:
                info = event
    version = info.get("oneflow")
    name = info.get("name")
    cap = tuple(info["capability"]) if info.get("capability") else None
    cap_text = f"compute capability {cap[0]}.{cap[1]}" if cap else "compute capability unknown"
    device = f"CUDA device {name!r} ({cap_text})" if name else "the CUDA device"
    if not info:
        tail = (stderr.strip().splitlines() or [f"exit code {returncode}"])[-1]
        return Preflight(False, f"OneFlow could not be imported for the CUDA preflight: {tail}",
                         "cuda-preflight-failed")
    if not info.get("available"):
        return Preflight(False, f"no CUDA device: OneFlow {version} reports cuda.is_available() == False",
                         "no-cuda-device", oneflow=version)
    no_image = NO_KERNEL_IMAGE.search(stderr)
    if no_image:
        code = f" ({no_image.group(1)})" if no_image.group(1) else ""
        return Preflight(False, f"{device} cannot run OneFlow {version}: the build has {_arch_text(version)}; "
                                f"its first kernel aborted with 'no kernel image is available for execution "
                                f"on the device{code}'", "cuda-arch-unsupported", name, cap, version)
    if returncode != 0 or kernel is None:
        how = f"signal {-returncode}" if returncode < 0 else f"exit code {returncode}"
        tail = (stderr.strip().splitlines() or [""])[-1]
        return Preflight(False, f"{device}: OneFlow {version}'s first kernel failed ({how}): {tail}",
                         "cuda-preflight-failed", name, cap, version)
    if abs(kernel - KERNEL_EXPECTED) > 1e-3:
        return Preflight(False, f"{device}: OneFlow {version}'s test kernel returned {kernel}, "
                                f"expected {KERNEL_EXPECTED}", "cuda-preflight-failed", name, cap, version)
    return Preflight(True, "", "", name, cap, version)


def cuda_env() -> dict:
    env = framework_env("oneflow")
    env["NVIDIA_TF32_OVERRIDE"] = "0"     # docs/design.md §4: no TF32 on either side
    return env


@functools.lru_cache(maxsize=1)
def preflight(timeout: float = 180) -> Preflight:
    try:
        proc = subprocess.run([sys.executable, "-c", PROBE], capture_output=True, text=True,
                              timeout=timeout, env=cuda_env(), cwd=REPO_ROOT)
    except subprocess.TimeoutExpired:
        return Preflight(False, f"the CUDA preflight did not finish within {timeout:.0f} s",
                         "cuda-preflight-failed")
    return decide(proc.returncode, proc.stdout, proc.stderr)


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(prog="python -m harness preflight", description=__doc__.splitlines()[0])
    ap.add_argument("--github", action="store_true",
                    help="on an unusable device also print a GitHub Actions ::error:: line naming the GPUs that work")
    args = ap.parse_args(argv)
    result = preflight()
    print(json.dumps(result.to_dict(), indent=2))
    if not result.usable and args.github:
        print(f"::error title=CUDA device unusable::{result.reason}. {result.supported_text()}. "
              "Run the CUDA matrix on such a runner (a run here would be all infra).")
    return 0 if result.usable else 1


if __name__ == "__main__":
    sys.exit(main())
