"""Name -> class tables, imported lazily: the one registry mechanism of models and benchmarks.

Built-in entries are ``"package.module:Class"`` strings, so listing names imports nothing and
building one model imports only its module. Plugins register an import string or a class.
The order of registration is the order lists and tables use (the product first).
"""

from __future__ import annotations

import importlib
from typing import Generic, TypeVar

from mambano_core.errors import SpecError

T = TypeVar("T")


class Registry(Generic[T]):
    """Classes (subclasses of ``base``) registered under lower-case names.

    Parameters
    ----------
    kind
        What the entries are, for messages ("model", "benchmark").
    base
        The class every entry must derive from.
    builtin
        Name -> ``"module:Class"`` of the built-in entries, in their display order.
    """

    def __init__(self, kind: str, base: type[T], builtin: dict[str, str]) -> None:
        self.kind = kind
        self.base = base
        self._targets: dict[str, str | type[T]] = {}
        for name, target in builtin.items():
            self.register(name, target)

    def register(self, name: str, target: str | type[T]) -> None:
        """Register ``target`` (``"module:Class"`` or a class) under ``name``.

        Raises
        ------
        ValueError
            For a malformed import string, or a name already registered to another target.
        """
        key = name.lower()
        if isinstance(target, str) and target.count(":") != 1:
            raise ValueError(f"{self.kind} target must be 'module:Class', got {target!r}")
        current = self._targets.get(key)
        if current is not None and not self._same(current, target):
            raise ValueError(f"{self.kind} name {name!r} is already registered as {current!r}")
        self._targets[key] = target

    @staticmethod
    def _same(a: str | type, b: str | type) -> bool:
        as_text = lambda t: t if isinstance(t, str) else f"{t.__module__}:{t.__qualname__}"  # noqa: E731
        return as_text(a) == as_text(b)

    def names(self) -> list[str]:
        """Registered names in registration order."""
        return list(self._targets)

    def get(self, name: str) -> type[T]:
        """The class registered under ``name`` (imported on first use).

        Raises
        ------
        SpecError
            If nothing is registered under ``name``.
        TypeError
            If the target is not a subclass of the registry's base class.
        """
        key = name.lower()
        if key not in self._targets:
            raise SpecError(f"unknown {self.kind} {name!r}; available {self.kind}s: {', '.join(self.names())}")
        target = self._targets[key]
        if isinstance(target, str):
            module_name, class_name = target.split(":")
            target = getattr(importlib.import_module(module_name), class_name)
            self._targets[key] = target
        if not (isinstance(target, type) and issubclass(target, self.base)):
            raise TypeError(f"{self._targets[key]!r} registered as {self.kind} {name!r} is not a {self.base.__name__}")
        return target
