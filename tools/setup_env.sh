#!/usr/bin/env bash
# One idempotent set-up step: Python 3.9/3.10 interpreter -> .venv (uv) -> pinned set
# -> per-framework import check. Facts behind each step: docs/design.md §7.
# Re-running with pyproject.toml and this script unchanged only prints the versions.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
VENV="$ROOT/.venv"
STAMP="$VENV/.setup-stamp"
VERSIONS="$VENV/.setup-versions"
# oneflow-onnx is installed without its dependencies: onnx-simplifier does not build on 3.9.
ONEFLOW_ONNX_PIN="oneflow-onnx==0.6.2"

say() { printf '[setup] %s\n' "$*" >&2; }
die() { printf '[setup] error: %s\n' "$*" >&2; exit 1; }

stamp_of() { cat "$ROOT/pyproject.toml" "$ROOT/tools/setup_env.sh" "$ROOT/tools/build-constraints.txt" | sha256sum | cut -d' ' -f1; }

if [[ -x "$VENV/bin/python" && -f "$STAMP" && "$(cat "$STAMP")" == "$(stamp_of)" ]]; then
    say "environment up to date ($VENV)"
    cat "$VERSIONS" >&2
    exit 0
fi

# --- (a) an interpreter OneFlow 0.9.0 has wheels for -------------------------------------
works() { "$1" -c 'import sys; assert sys.version_info[:2] in ((3, 9), (3, 10))' >/dev/null 2>&1; }
# The interpreter itself, not a launcher (pyenv shims resolve differently per directory).
real_exe() { "$1" -c 'import sys; print(sys.executable)'; }

find_python() {
    local c
    if [[ -n "${SETUP_PYTHON:-}" ]]; then works "$SETUP_PYTHON" && { echo "$SETUP_PYTHON"; return; }
        die "SETUP_PYTHON=$SETUP_PYTHON is not a working Python 3.9/3.10"; fi
    for c in python3.9 python3.10 /usr/bin/python3.9 /usr/bin/python3.10; do
        if command -v "$c" >/dev/null 2>&1 && works "$(command -v "$c")"; then real_exe "$(command -v "$c")"; return; fi
    done
    # pyenv keeps versions it does not expose on PATH; use them when present.
    if [[ "${SETUP_SKIP_PYENV:-0}" != 1 ]]; then
        for c in "${PYENV_ROOT:-$HOME/.pyenv}"/versions/3.9*/bin/python3.9 \
                 "${PYENV_ROOT:-$HOME/.pyenv}"/versions/3.10*/bin/python3.10; do
            [[ -x "$c" ]] && works "$c" && { echo "$c"; return; }
        done
    fi
    return 1
}

provision_python39_debian() {
    # Debian 12 has no 3.9: take it from Debian 11 (bullseye) as an extra apt source.
    local SUDO=""
    [[ $(id -u) -ne 0 ]] && SUDO="sudo"
    say "no Python 3.9/3.10 found: installing python3.9 from Debian 11 (bullseye)"
    local src=/etc/apt/sources.list.d/bullseye-python39.list
    if [[ ! -f $src ]]; then
        echo "deb http://deb.debian.org/debian bullseye main" | $SUDO tee "$src" >/dev/null
        # Keep bookworm preferred: only what we ask for by name comes from bullseye.
        printf 'Package: *\nPin: release n=bullseye\nPin-Priority: 100\n' \
            | $SUDO tee /etc/apt/preferences.d/bullseye-python39 >/dev/null
    fi
    $SUDO apt-get update -qq
    # Only the interpreter: uv makes the venv, so python3.9-venv (which drags in the
    # conflicting distutils package) is not needed.
    DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq -t bullseye python3.9 >/dev/null
}

ensure_distutils() {
    # uv refuses a 3.9 without distutils. bullseye's python3-distutils conflicts with
    # bookworm's lib2to3 by metadata only: unpack it instead of installing it (it only
    # adds /usr/lib/python3.9/distutils/; libpython3.9-stdlib ships a stub of that dir).
    # -S: without site, setuptools' distutils shim in dist-packages cannot stand in for it.
    "$1" -S -c 'import distutils.sysconfig' >/dev/null 2>&1 && return 0
    [[ "$1" == /usr/bin/python3.9 ]] || die "$1 lacks distutils: install your distribution's distutils package"
    local SUDO="" tmp
    [[ $(id -u) -ne 0 ]] && SUDO="sudo"
    say "unpacking python3-distutils from bullseye"
    tmp="$(mktemp -d)"
    chmod 755 "$tmp"   # apt downloads as user _apt
    (cd "$tmp" && apt-get download -qq python3-distutils/bullseye >/dev/null)
    $SUDO dpkg -x "$tmp"/python3-distutils_*.deb /
    rm -rf "$tmp"
}

PY="$(find_python || true)"
if [[ -z "$PY" ]]; then
    if [[ -r /etc/os-release ]] && grep -qiE '^(ID|ID_LIKE)=.*(debian|ubuntu)' /etc/os-release; then
        if grep -qi '^ID=ubuntu' /etc/os-release; then
            die "no Python 3.9/3.10: on Ubuntu install it with 'apt-get install python3.10 python3.10-venv' and re-run"
        fi
        provision_python39_debian
        PY="$(find_python)" || die "python3.9 was installed but does not run"
    else
        die "no Python 3.9 or 3.10 found. OneFlow 0.9.0 ships wheels for CPython 3.7-3.10 only: install python3.9 or python3.10 (or set SETUP_PYTHON=/path/to/python) and re-run"
    fi
fi
ensure_distutils "$PY"
say "interpreter: $PY ($("$PY" -V 2>&1))"

# --- (b) uv and the venv ------------------------------------------------------------------
if ! command -v uv >/dev/null 2>&1; then
    say "installing uv with pip"
    python3 -m pip install --quiet --user uv 2>/dev/null || python3 -m pip install --quiet uv
    export PATH="$HOME/.local/bin:$PATH"
fi
command -v uv >/dev/null 2>&1 || die "uv is not on PATH after 'pip install uv'"

if [[ ! -x "$VENV/bin/python" ]] || ! works "$VENV/bin/python"; then
    rm -rf "$VENV"
    uv venv --quiet -p "$PY" "$VENV"
fi

# --- (c) the pinned set -------------------------------------------------------------------
say "installing the pinned set (pyproject.toml extras: all)"
export VIRTUAL_ENV="$VENV"
t0=$SECONDS
# flowvision 0.2.2 is an sdist whose setup.py needs setuptools<70 (build-constraints.txt).
uv pip install --quiet --build-constraint "$ROOT/tools/build-constraints.txt" -e "$ROOT[all]"
uv pip install --quiet --no-deps "$ONEFLOW_ONNX_PIN"
say "installed in $((SECONDS - t0)) s"

# --- (d) every framework imports, each in its own process ----------------------------------
"$VENV/bin/python" -m harness.versions --check | tee "$VERSIONS" >&2
stamp_of > "$STAMP"
say "environment ready: $VENV"
