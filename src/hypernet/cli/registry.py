"""The registry of CLI-trainable recipes: ``recipe: NAME`` in a config picks the :class:`Recipe` registered under NAME.

A recipe says how to build its model from its config, how to train it (with
:func:`~hypernet.training.fit`, the shared loop, checkpointing into ``ctx.run_dir``), how to
evaluate it and how to read ``--cond`` for ``hypernet export``.

How a recipe registers itself: a library recipe is a subpackage ``hypernet/recipes/<name>/``;
give it a ``cli.py`` that defines the config schema and the :class:`Recipe` subclass and
decorates it with :func:`register_recipe`. Nothing else needs editing: the registry imports
``hypernet.recipes.<pkg>.cli`` of every subpackage that has one, the first time a name is
looked up (``hypernet.recipes.continual.cli`` is a complete example), plus the built-in
``hypermodel`` recipe. A package outside hypernet registers through the entry-point group
``hypernet.recipes`` (``[project.entry-points."hypernet.recipes"] mine = "mypkg.cli"``)::

    from typing import Literal
    from hypernet.training import Recipe, RunConfig, register_recipe

    class MyConfig(RunConfig):
        recipe: Literal["mine"] = "mine"
        width: int = 32

    @register_recipe("mine")
    class Mine(Recipe):
        config_class = MyConfig
        def build_model(self, config): ...
        def train(self, config, ctx): ...      # build data, then return fit(..., run_dir=ctx.run_dir)
        def evaluate(self, config, model): ...
        def parse_cond(self, config, text): ...  # for `hypernet export --cond TEXT`

Example:
    >>> from hypernet.training import list_recipes
    >>> {"hypermodel", "continual", "sweep"} <= set(list_recipes())
    True
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, ClassVar, TypeVar

from torch import nn

from .._registry import Registry
from ..training.distributed import DistInfo
from ..training.errors import UsageError
from ..training.loop import FitResult
from .schema import RunConfig


@dataclass
class RunContext:
    """Where and how a recipe trains.

    Attributes:
        run_dir: the run's directory (``<runs_dir>/<name>``), already holding ``config.*``.
        resume: continue from the newest checkpoint there.
        progress: draw progress bars (``None``: when in a terminal; ``False``: silent, ``--quiet``).
        dist: this process's rank and device (rank 0 of 1 without ``torchrun``).
    """

    run_dir: Path
    resume: bool = False
    progress: bool | None = None
    dist: DistInfo = field(default_factory=DistInfo)


class Recipe:
    """Base class of recipes; subclass, set ``config_class`` and register with :func:`register_recipe`."""

    name: ClassVar[str] = ""
    config_class: ClassVar[type[RunConfig]] = RunConfig

    def build_model(self, config: Any) -> nn.Module:
        """The untrained model described by ``config`` (its ``state_dict`` keys match the checkpoints)."""
        raise NotImplementedError

    def train(self, config: Any, ctx: RunContext) -> FitResult:
        """Train (normally one or more calls of :func:`~hypernet.training.fit` with ``run_dir=ctx.run_dir``)."""
        raise NotImplementedError

    def evaluate(self, config: Any, model: nn.Module) -> dict[str, float]:
        """Metrics of a trained model (used by ``hypernet eval``)."""
        raise NotImplementedError

    def parse_cond(self, config: Any, text: str | None) -> Any:
        """Turn ``hypernet export --cond TEXT`` into a condition for ``model.materialize``."""
        raise UsageError(
            f"expected a recipe that materializes plain weights, got recipe {self.name!r}, which does not support export; "
            "export a run of another recipe"
        )

    def materialize(self, config: Any, model: nn.Module, cond: Any) -> nn.Module:
        """The plain module ``hypernet export`` writes: by default ``model.materialize(cond)``."""
        materialize = getattr(model, "materialize", None)
        if materialize is None:
            raise UsageError(
                f"expected a run of a HyperModel recipe to export, got a {type(model).__name__}; pass the run directory of such a run"
            )
        return materialize(cond)


_RECIPES: Registry[type[Recipe]] = Registry("recipe")
R = TypeVar("R", bound=type[Recipe])


def register_recipe(name: str) -> Callable[[R], R]:
    """Class decorator registering a :class:`Recipe` under ``name`` (the config's ``recipe:`` value)."""
    return _RECIPES.register(name)  # type: ignore[return-value]


def unregister_recipe(name: str) -> None:
    """Remove ``name`` from the registry (for tests and plugins)."""
    _RECIPES.unregister(name)


_LOADED: list[bool] = []


def _load_builtin() -> None:
    """Import every module that registers a recipe (once): the built-in one, each ``hypernet.recipes.<pkg>.cli``, plugins."""
    if _LOADED:
        return
    _LOADED.append(True)
    import importlib
    import importlib.util
    from importlib.metadata import entry_points

    from .. import recipes

    # plugins, found by name as entry points are: they import this module, so it never imports them by name
    modules = [f"{__package__}.hypermodel"] + [f"{recipes.__name__}.{name}.cli" for name in recipes.SUBPACKAGES]
    for module in modules:
        if importlib.util.find_spec(module) is not None:
            importlib.import_module(module)
    for entry in entry_points(group="hypernet.recipes"):  # pragma: no cover - needs an installed plugin
        entry.load()


def list_recipes() -> list[str]:
    """Registered recipe names, sorted."""
    _load_builtin()
    return _RECIPES.names()


def get_recipe_class(name: str) -> type[Recipe]:
    """The class registered under ``name``."""
    _load_builtin()
    return _RECIPES.get(name)


def get_recipe(name: str) -> Recipe:
    """An instance of the recipe registered under ``name``."""
    return get_recipe_class(name)()
