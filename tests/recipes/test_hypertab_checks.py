"""scikit-learn's own estimator checks on HyperTabClassifier (small settings so they run in seconds)."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Callable

from sklearn.utils.estimator_checks import parametrize_with_checks

from hypernet.recipes.hypertab import EXPECTED_FAILED_CHECKS, HyperTabClassifier

SMALL = "n_members=4, hidden=(16,), epochs=15, lr=1e-2, batch_size=32, cond_dim=16, hyper_hidden=32, random_state=0"


def small() -> HyperTabClassifier:
    return HyperTabClassifier(n_members=4, hidden=(16,), epochs=15, lr=1e-2, batch_size=32, cond_dim=16, hyper_hidden=32, random_state=0)


def _array_api_in_subprocess() -> None:
    """sklearn skips its array-API check unless SCIPY_ARRAY_API=1 is set before scipy is imported: run it in a fresh process."""
    code = (
        "from sklearn.utils.estimator_checks import check_array_api_input\n"
        "from hypernet.recipes.hypertab import HyperTabClassifier\n"
        f"est = HyperTabClassifier({SMALL})\n"
        "check_array_api_input('HyperTabClassifier', est, array_namespace='numpy', expect_only_array_outputs=False)\n"
    )
    done = subprocess.run(
        [sys.executable, "-W", "error", "-c", code], env={**os.environ, "SCIPY_ARRAY_API": "1"}, capture_output=True, text=True
    )
    assert done.returncode == 0, done.stderr[-2000:]


@parametrize_with_checks([small()], expected_failed_checks=lambda est: EXPECTED_FAILED_CHECKS)
def test_sklearn_estimator_checks(estimator: HyperTabClassifier, check: Callable[[HyperTabClassifier], None]) -> None:
    if getattr(check, "func", check).__name__ == "check_array_api_input" and os.environ.get("SCIPY_ARRAY_API") != "1":
        _array_api_in_subprocess()
        return
    check(estimator)
