"""``import hypernet`` loads only its core dependencies; recipes are imported on first use."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

import hypernet as hn

HEAVY = (
    "sklearn",
    "pydantic",
    "matplotlib",
    "tensorboard",
    "pandas",
    "yaml",
    "transformers",
    "peft",
    "flwr",
)  # tqdm: torch itself imports it


def test_import_hypernet_loads_no_optional_dependency() -> None:
    code = f"import sys, hypernet; print(sorted(m for m in {HEAVY!r} if m in sys.modules))"
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert done.stdout.strip() == "[]"


def test_every_recipe_subpackage_is_an_attribute_of_hypernet_recipes() -> None:
    on_disk = sorted(p.parent.name for p in Path(hn.recipes.__file__).parent.glob("*/__init__.py"))
    assert {"adapters", "federated", "graph", "continual"} <= set(on_disk)
    code = f"import hypernet.recipes as r; print(sorted(n for n in {on_disk!r} if getattr(r, n).__name__ == 'hypernet.recipes.' + n))"
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)  # fresh: nothing imported yet
    assert done.stdout.strip() == repr(on_disk)


def test_recipe_names_resolve_lazily_and_unknown_names_raise() -> None:
    assert hn.HyperparameterSweep.__name__ == "HyperparameterSweep"
    assert hn.recipes.compression.default_lr is not None
    assert set(hn.__all__) <= set(dir(hn))
    with pytest.raises(AttributeError, match="no attribute 'Nope'"):
        _ = hn.Nope
    with pytest.raises(AttributeError, match="no attribute 'Nope'"):
        _ = hn.recipes.Nope


def test_hypernet_data_holds_loaders_only() -> None:
    assert not any(name.startswith("fetch") for name in hn.data.__all__)
    with pytest.raises(AttributeError, match="no attribute 'fetch_mnist'"):
        _ = hn.data.fetch_mnist
    code = "import sys, hypernet.data.mnist, hypernet.data.tabular; print(sorted(m for m in sys.modules if m.startswith('hypernet.cli')))"
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert done.stdout.strip() == "[]"


def test_training_reexports_the_cli_names_lazily() -> None:
    import hypernet.training as training
    from hypernet.cli.config import RunConfig

    assert training.RunConfig is RunConfig and "hypermodel" in training.list_recipes()
    with pytest.raises(AttributeError, match="no attribute 'nope'"):
        _ = training.nope


def test_the_data_modules_forward_no_fetcher_names() -> None:
    import hypernet.data.fashion_mnist as fm
    import hypernet.data.mnist as mnist
    import hypernet.data.tabular as tabular

    for module, name in ((mnist, "fetch_mnist"), (fm, "apt_download"), (tabular, "fetch_mlbench")):
        with pytest.raises(AttributeError, match=f"no attribute '{name}'"):
            getattr(module, name)
