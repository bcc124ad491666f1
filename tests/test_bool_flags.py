"""Flags that must be ``True`` / ``False`` reject ``0`` / ``1`` / strings with one message, naming owner and flag."""

from __future__ import annotations

from collections.abc import Callable

import pytest
import torch

import hypernet as hn
from hypernet._validation import check_bool
from hypernet.recipes.architecture import MLPSupernet
from hypernet.recipes.instant.tasks import ImageEpisodes


def test_check_bool_returns_a_bool_unchanged() -> None:
    assert check_bool(True, "flag") is True
    assert check_bool(False, "flag", owner="Owner") is False


@pytest.mark.parametrize("value", [1, 0, "yes", None, torch.tensor(True)])
def test_check_bool_names_owner_flag_and_value(value: object) -> None:
    with pytest.raises(hn.ConfigError, match=r"expected Owner\(flag=\.\.\.\) to be True or False, got .*; pass True or False"):
        check_bool(value, "flag", owner="Owner")


def _episodes(**kw: object) -> object:
    images, labels = torch.zeros(20, 1, 4, 4), torch.arange(20) % 4
    return ImageEpisodes(images, labels, [0, 1, 2, 3], ways=2, **kw)  # type: ignore[arg-type]


CALLS: dict[str, tuple[str, Callable[[], object]]] = {
    "GraphHyperNetwork": ("flatten_maps", lambda: hn.GraphHyperNetwork(flatten_maps=1)),  # type: ignore[arg-type]
    "MultiArchPolicy": ("critic_arch", lambda: hn.MultiArchPolicy(critic_arch=1)),  # type: ignore[arg-type]
    "MLPSupernet": ("fan_in_scaling", lambda: MLPSupernet(hn.MLPSpace(4, 2), fan_in_scaling="no")),  # type: ignore[arg-type]
    "ImageEpisodes": ("rotations", lambda: _episodes(rotations=1)),
}


@pytest.mark.parametrize("owner", sorted(CALLS))
def test_public_flags_reject_non_bools(owner: str) -> None:
    flag, call = CALLS[owner]
    with pytest.raises(hn.ConfigError, match=rf"expected {owner}\({flag}=\.\.\.\) to be True or False"):
        call()
