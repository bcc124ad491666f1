"""``import hypernet`` loads only its core dependencies; recipes are imported on first use."""

from __future__ import annotations

import subprocess
import sys

import pytest

import hypernet as hn

HEAVY = ("sklearn", "pydantic", "matplotlib", "tensorboard", "pandas", "yaml")  # tqdm: torch itself imports it


def test_import_hypernet_loads_no_optional_dependency() -> None:
    code = f"import sys, hypernet; print(sorted(m for m in {HEAVY!r} if m in sys.modules))"
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert done.stdout.strip() == "[]"


def test_recipe_names_resolve_lazily_and_unknown_names_raise() -> None:
    assert hn.HyperparameterSweep.__name__ == "HyperparameterSweep"
    assert hn.recipes.compression.default_lr is not None
    assert set(hn.__all__) <= set(dir(hn))
    with pytest.raises(AttributeError, match="no attribute 'Nope'"):
        _ = hn.Nope
    with pytest.raises(AttributeError, match="no attribute 'Nope'"):
        _ = hn.recipes.Nope
