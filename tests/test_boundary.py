"""The recipes' public boundary: a failed mutating call restores the state, an interrupt keeps the progress."""

from __future__ import annotations

import pytest
import torch
from torch import nn

import hypernet as hn
from hypernet._boundary import guarded


@guarded(mutating=("fit",))
class _Learner(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.w = nn.Parameter(torch.zeros(3))

    def fit(self, steps: int, fail_with: BaseException | None = None) -> _Learner:
        for _ in range(steps):
            with torch.no_grad():
                self.w += 1.0
        if fail_with is not None:
            raise fail_with
        return self


def test_a_failing_fit_restores_the_state_and_names_the_call() -> None:
    model = _Learner().fit(1)
    with pytest.raises(hn.HypernetError, match=r"_Learner\.fit") as info:
        model.fit(2, fail_with=RuntimeError("shape mismatch"))
    assert isinstance(info.value, RuntimeError) and torch.equal(model.w, torch.ones(3))


def test_an_interrupted_fit_keeps_what_was_trained() -> None:
    model = _Learner()
    with pytest.raises(KeyboardInterrupt):
        model.fit(2, fail_with=KeyboardInterrupt())
    assert torch.equal(model.w, torch.full((3,), 2.0))
