"""Names a package imports on first use (PEP 562 module ``__getattr__``), declared once.

Example:
    >>> import types
    >>> pkg = types.ModuleType("pkg")
    >>> pkg.__getattr__, pkg.__dir__ = lazy_attributes("pkg", {"sqrt": "math"}, vars(pkg))
    >>> pkg.sqrt(4.0), "sqrt" in dir(pkg)
    (2.0, True)
"""

from __future__ import annotations

import importlib
from collections.abc import Callable, Iterable, Mapping, MutableMapping
from typing import Any


def lazy_attributes(
    module: str, names: Mapping[str, str], namespace: MutableMapping[str, Any], submodules: Iterable[str] = ()
) -> tuple[Callable[[str], Any], Callable[[], list[str]]]:
    """The ``(__getattr__, __dir__)`` pair of the module ``module`` whose globals are ``namespace``.

    Args:
        module: the module's ``__name__``.
        names: public name -> the module defining it, absolute or relative to ``module``
            (``".recipes.continual"``); ``hn.ContinualLearner`` imports it on first access.
        namespace: the module's ``globals()``: a resolved name is stored there, so the next access is a
            plain attribute lookup.
        submodules: submodules of ``module`` imported on first access (``hn.recipes``).

    Returns:
        Functions to assign to the module's ``__getattr__`` and ``__dir__``. An unknown name raises
        ``AttributeError`` as a module without them would.
    """
    table = dict(names)
    subs = tuple(submodules)

    def __getattr__(name: str) -> Any:
        if name in table:
            value = getattr(importlib.import_module(table[name], module), name)
        elif name in subs:
            value = importlib.import_module(f"{module}.{name}")
        else:
            raise AttributeError(f"module {module!r} has no attribute {name!r}")
        namespace[name] = value
        return value

    def __dir__() -> list[str]:
        return sorted(set(namespace) | set(table) | set(subs))

    return __getattr__, __dir__
