"""A small registry of generators by name (like timm's model registry)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, TypeVar

from ..errors import ConfigError
from ._base import Generator

_REGISTRY: dict[str, type[Generator]] = {}
G = TypeVar("G", bound=type[Generator])


def register_generator(name: str) -> Callable[[G], G]:
    """Class decorator that registers a :class:`Generator` under ``name``.

    Example:
        >>> import hypernet as hn
        >>> @hn.register_generator("my_mlp")
        ... class MyMLP(hn.generators.MLPGenerator):
        ...     pass
        >>> "my_mlp" in hn.list_generators()
        True
        >>> hn.generators.unregister_generator("my_mlp")
    """

    def deco(cls: G) -> G:
        if name in _REGISTRY and _REGISTRY[name] is not cls:
            raise ConfigError(f"expected a new generator name, got {name!r} which is already registered; pick another name")
        cls.name = name
        _REGISTRY[name] = cls
        return cls

    return deco


def unregister_generator(name: str) -> None:
    """Remove ``name`` from the registry (for tests and plugins)."""
    _REGISTRY.pop(name, None)


def list_generators() -> list[str]:
    """Registered generator names, sorted.

    Example:
        >>> import hypernet as hn
        >>> hn.list_generators()
        ['chunked', 'layerwise', 'lowrank', 'mlp']
    """
    return sorted(_REGISTRY)


def create_generator(name: str, **kwargs: Any) -> Generator:
    """Create an (unbound) generator by name; ``HyperModel`` binds it to a target.

    Example:
        >>> import hypernet as hn
        >>> hn.create_generator("chunked", chunk_size=64).name
        'chunked'
    """
    if not isinstance(name, str) or name not in _REGISTRY:
        raise ConfigError(f"expected a generator name in {list_generators()}, got {name!r}; or pass a hn.Generator instance")
    try:
        return _REGISTRY[name](**kwargs)
    except TypeError as exc:
        raise ConfigError(f"bad arguments for generator {name!r}: {exc}") from None
