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


def test_data_fetchers_stay_importable_from_hypernet_data() -> None:
    from hypernet.cli.fetch.mlbench import fetch_mlbench as from_cli
    from hypernet.data import fetch_mlbench, fetch_mnist

    assert fetch_mlbench is from_cli and callable(fetch_mnist)
    with pytest.raises(AttributeError, match="no attribute 'nope'"):
        _ = hn.data.nope


def test_training_reexports_the_cli_names_lazily() -> None:
    import hypernet.training as training
    from hypernet.cli.config import RunConfig

    assert training.RunConfig is RunConfig and "hypermodel" in training.list_recipes()
    with pytest.raises(AttributeError, match="no attribute 'nope'"):
        _ = training.nope


def test_moved_fetcher_names_still_resolve_from_the_data_modules() -> None:
    import hypernet.cli.fetch.fashion_mnist as fetch_fm
    import hypernet.cli.fetch.mnist as fetch_mnist
    import hypernet.data.fashion_mnist as fm
    import hypernet.data.mnist as mnist
    import hypernet.data.tabular as tabular

    assert mnist.fetch_mnist is fetch_mnist.fetch_mnist and mnist.MNIST_SHA256 == fetch_mnist.MNIST_SHA256
    assert fm.apt_download is fetch_fm.apt_download and callable(tabular.fetch_mlbench)
    for module in (mnist, fm, tabular):
        with pytest.raises(AttributeError, match="no attribute 'nope'"):
            _ = module.nope
