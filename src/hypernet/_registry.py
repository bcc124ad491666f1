"""A small registry of named classes (generators, recipes), in the style of timm's model registry.

Example:
    >>> class Base:
    ...     name = ""
    >>> shapes: Registry[type[Base]] = Registry("shape")
    >>> @shapes.register("square")
    ... class Square(Base):
    ...     pass
    >>> shapes.names(), shapes.get("square").name
    (['square'], 'square')
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Generic, TypeVar

from .errors import ConfigError

C = TypeVar("C", bound=type)


class Registry(Generic[C]):
    """Classes registered under names; the decorator sets each class's ``name`` attribute."""

    def __init__(self, kind: str) -> None:
        self.kind = kind
        self._classes: dict[str, C] = {}

    def register(self, name: str) -> Callable[[C], C]:
        """Class decorator registering ``cls`` under ``name``; a name taken by another class is refused."""

        def deco(cls: C) -> C:
            if name in self._classes and self._classes[name] is not cls:
                raise ConfigError(f"expected a new {self.kind} name, got {name!r} which is already registered; pick another name")
            setattr(cls, "name", name)  # noqa: B010 - C is any class with a ``name`` attribute
            self._classes[name] = cls
            return cls

        return deco

    def unregister(self, name: str) -> None:
        """Remove ``name`` (for tests and plugins)."""
        self._classes.pop(name, None)

    def names(self) -> list[str]:
        """Registered names, sorted."""
        return sorted(self._classes)

    def get(self, name: str, hint: str = "") -> C:
        """The class registered under ``name``; an unknown name raises :class:`ConfigError` listing the known ones."""
        if not isinstance(name, str) or name not in self._classes:
            raise ConfigError(f"expected a {self.kind} name in {self.names()}, got {name!r}; pass one of these names{hint}")
        return self._classes[name]
