"""A registry of one framework's own model definitions (``builder: zoo`` catalogue cells).

Each framework package makes one ``ModelRegistry`` naming its modules; those modules
register factories with ``@registry.register("<variant>")``. Modules are imported only when
a model is asked for, so listing the catalogue never imports a framework.
"""
from __future__ import annotations

import importlib


class ModelRegistry:
    def __init__(self, framework: str, package: str, modules: tuple):
        self.framework, self.package, self.modules = framework, package, modules
        self._factories: dict = {}

    def register(self, name: str):
        def add(factory):
            if name in self._factories:
                raise ValueError(f"{self.framework} zoo model {name!r} registered twice")
            self._factories[name] = factory
            return factory
        return add

    def _load_all(self) -> None:
        for module in self.modules:
            importlib.import_module(f"{self.package}.{module}")

    def names(self) -> list:
        self._load_all()
        return sorted(self._factories)

    def create(self, name: str, **kwargs):
        self._load_all()
        if name not in self._factories:
            raise KeyError(f"no {self.framework} zoo model {name!r}; known: {', '.join(sorted(self._factories))}")
        return self._factories[name](**kwargs)
