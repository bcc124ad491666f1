"""The registry of generators by name."""

from __future__ import annotations

import inspect
from collections.abc import Callable
from typing import Any, TypeVar

from .._registry import Registry
from ..errors import ConfigError
from ._base import Generator

_GENERATORS: Registry[type[Generator]] = Registry("generator")
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
    return _GENERATORS.register(name)  # type: ignore[return-value]


def unregister_generator(name: str) -> None:
    """Remove ``name`` from the registry (for tests and plugins)."""
    _GENERATORS.unregister(name)


def list_generators() -> list[str]:
    """Registered generator names, sorted.

    Example:
        >>> import hypernet as hn
        >>> {"chunked", "layerwise", "lowrank", "mlp"} <= set(hn.list_generators())
        True
    """
    return _GENERATORS.names()


def create_generator(name: str, **kwargs: Any) -> Generator:
    """Create an (unbound) generator by name; ``HyperModel`` binds it to a target.

    Example:
        >>> import hypernet as hn
        >>> hn.create_generator("chunked", chunk_size=64).name
        'chunked'
    """
    cls = _GENERATORS.get(name, hint=", or a hn.Generator instance")
    try:
        return cls(**kwargs)
    except TypeError as exc:
        accepted = [p for p in inspect.signature(cls.__init__).parameters if p != "self"]
        raise ConfigError(
            f"expected arguments of generator {name!r} among {accepted}, got {sorted(kwargs)} ({exc}); pass only those"
        ) from None
