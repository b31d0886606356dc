"""Operator handlers keyed by (domain, op_type, schema version).

A handler is registered for the explicit list of ONNX schema versions it implements
(``onnx.defs`` since_versions). A model's opset import selects the schema version in force;
a handler serves it only if that exact version is listed, so a newer op version with new
semantics is reported as unsupported instead of being converted wrongly.
"""
from __future__ import annotations

import functools
from dataclasses import dataclass, field
from typing import Callable, Optional

import onnx.defs

DEFAULT_DOMAIN = ""
_DOMAIN_ALIASES = {"ai.onnx": ""}


def canonical_domain(domain: str) -> str:
    return _DOMAIN_ALIASES.get(domain, domain)


@dataclass(frozen=True)
class Handler:
    op_type: str
    domain: str
    versions: tuple
    build: Callable             # build(ctx) -> callable or oneflow.nn.Module
    family: str                 # module name of the op family, for the operator table
    notes: str = ""             # restrictions, shown in docs/operators.md
    check: Optional[Callable] = field(default=None, compare=False)  # check(ctx) -> reason | None


_REGISTRY: dict = {}


def register(op_type: str, *versions: int, domain: str = DEFAULT_DOMAIN, notes: str = "",
             check: Optional[Callable] = None):
    """Decorator: ``@register("Relu", 6, 13, 14)`` registers ``build(ctx)`` for those versions."""
    if not versions:
        raise ValueError(f"{op_type}: list the schema versions the handler implements")

    def deco(build):
        family = build.__module__.rsplit(".", 1)[-1]
        built = _empty_safe(build) if op_type in _elementwise() and canonical_domain(domain) == "" else build
        handler = Handler(op_type, canonical_domain(domain), tuple(sorted(versions)), built,
                          family, notes, check)
        key = (handler.domain, op_type)
        existing = _REGISTRY.setdefault(key, [])
        clash = set(handler.versions) & {v for h in existing for v in h.versions}
        if clash:
            raise ValueError(f"{op_type}: versions {sorted(clash)} registered twice")
        existing.append(handler)
        return build

    return deco


def _elementwise():
    from .ops._util import ELEMENTWISE
    return ELEMENTWISE


def _empty_safe(build):
    """An elementwise handler whose callables never run OneFlow on an empty broadcast result
    (ops/_util.empty_broadcast); layers and folded constants pass through."""
    from .ops._util import empty_broadcast

    @functools.wraps(build)
    def wrapped(ctx):
        built = build(ctx)
        return empty_broadcast(built) if callable(built) and not hasattr(built, "parameters") else built
    return wrapped


@functools.lru_cache(maxsize=None)
def schema_version(op_type: str, opset: int, domain: str = DEFAULT_DOMAIN) -> int:
    """since_version of the op's schema in force at ``opset`` (0 if ONNX does not define it)."""
    try:
        return onnx.defs.get_schema(op_type, opset, canonical_domain(domain)).since_version
    except onnx.defs.SchemaError:
        return 0


def lookup(op_type: str, opset: int, domain: str = DEFAULT_DOMAIN):
    """Return (handler or None, schema version, reason when None)."""
    domain = canonical_domain(domain)
    handlers = _REGISTRY.get((domain, op_type))
    version = schema_version(op_type, opset, domain)
    if not handlers:
        if version == 0 and domain == DEFAULT_DOMAIN:
            return None, 0, "not an ONNX operator at this opset"
        return None, version, "no converter for this operator"
    if version == 0:
        # Custom domains have no schema: the handler's own versions are opset numbers.
        candidates = [(v, h) for h in handlers for v in h.versions if v <= opset]
        if candidates:
            v, h = max(candidates, key=lambda c: c[0])
            return h, v, ""
        return None, 0, f"no converter for opset {opset}"
    for h in handlers:
        if version in h.versions:
            return h, version, ""
    have = sorted(v for h in handlers for v in h.versions)
    return None, version, f"version {version} not implemented (converter has {have})"


def all_handlers():
    """Every registered handler, sorted by domain and op type."""
    return [h for key in sorted(_REGISTRY) for h in sorted(_REGISTRY[key], key=lambda h: h.versions)]
