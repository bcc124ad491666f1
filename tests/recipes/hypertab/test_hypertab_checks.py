"""scikit-learn's own estimator checks on HyperTabClassifier (small settings so they run in seconds)."""

from __future__ import annotations

from collections.abc import Callable

import pytest
from sklearn.utils.estimator_checks import parametrize_with_checks

from hypernet.recipes.hypertab import EXPECTED_FAILED_CHECKS, HyperTabClassifier


def small() -> HyperTabClassifier:
    return HyperTabClassifier(n_members=4, hidden=(16,), epochs=15, lr=1e-2, batch_size=32, cond_dim=16, hyper_hidden=32, random_state=0)


@parametrize_with_checks([small()], expected_failed_checks=lambda est: EXPECTED_FAILED_CHECKS)
def test_sklearn_estimator_checks(
    estimator: HyperTabClassifier, check: Callable[[HyperTabClassifier], None], monkeypatch: pytest.MonkeyPatch
) -> None:
    # sklearn skips its array-API check unless SCIPY_ARRAY_API=1 (it reads the variable when the check runs):
    # set it so the check runs (with NumPy arrays and array_api_dispatch on) instead of being skipped.
    monkeypatch.setenv("SCIPY_ARRAY_API", "1")
    check(estimator)
