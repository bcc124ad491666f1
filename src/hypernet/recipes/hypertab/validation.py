"""Input and parameter checks of :class:`~hypernet.HyperTabClassifier`, with messages naming what is wrong.

Example:
    >>> import numpy as np
    >>> X = np.array([[1.0, np.nan, 2.0], [np.inf, 0.0, 1.0]])
    >>> try:
    ...     check_finite(X, np.array(["age", "bmi", "glucose"]))
    ... except TabularInputError as e:
    ...     print(str(e).split(";")[0])
    expected finite values in X, got NaN in column 'bmi' (1 value), inf in column 'age' (1 value)
"""

from __future__ import annotations

from typing import Any

import numpy as np
from sklearn.exceptions import NotFittedError as SklearnNotFittedError

from ..._validation import check_float as _check_float
from ..._validation import check_int as _check_int
from ...errors import ConfigError, HypernetError

MIN_SAMPLES_PER_CLASS = 2


class TabularInputError(HypernetError):
    """``X`` or ``y`` cannot be used: NaN / inf values, too few samples of a class, a single class."""


class NotFittedError(HypernetError, SklearnNotFittedError):
    """A method that needs a fitted estimator was called before ``fit`` (also scikit-learn's ``NotFittedError``)."""


def _column_names(feature_names: np.ndarray | None, columns: np.ndarray) -> list[str]:
    if feature_names is None:
        return [str(int(c)) for c in columns]
    return [repr(str(feature_names[c])) for c in columns]


def _describe_columns(kind: str, mask: np.ndarray, feature_names: np.ndarray | None, limit: int = 5) -> str:
    counts = mask.sum(axis=0)
    columns = np.flatnonzero(counts)
    names = _column_names(feature_names, columns[:limit])
    parts = [f"{name} ({int(counts[c])} value{'s' if counts[c] > 1 else ''})" for name, c in zip(names, columns[:limit], strict=True)]
    more = f" and {len(columns) - limit} more" if len(columns) > limit else ""
    word = "column" if len(columns) == 1 else "columns"
    return f"{kind} in {word} {', '.join(parts)}{more}"


def check_finite(X: np.ndarray, feature_names: np.ndarray | None = None) -> None:
    """Raise :class:`TabularInputError` (a ``ValueError``) naming the columns of ``X`` that hold NaN or inf."""
    nan = np.isnan(X)
    inf = np.isinf(X)
    if not (nan.any() or inf.any()):
        return
    found = [_describe_columns(kind, m, feature_names) for kind, m in (("NaN", nan), ("inf", inf)) if m.any()]
    raise TabularInputError(
        f"expected finite values in X, got {', '.join(found)}; impute missing values first, e.g. "
        "make_pipeline(SimpleImputer(), HyperTabClassifier()), and replace or drop infinite ones"
    )


def _label(value: Any) -> str:
    return repr(value.item() if isinstance(value, np.generic) else value)


def check_class_counts(y_encoded: np.ndarray, classes: np.ndarray) -> None:
    """Raise :class:`TabularInputError` if there is a single class or a class has fewer than ``MIN_SAMPLES_PER_CLASS`` samples."""
    if len(classes) < 2:
        raise TabularInputError(
            f"expected samples of at least 2 classes in y, got 1 class ({_label(classes[0])}); a classifier needs two or more classes"
        )
    counts = np.bincount(y_encoded, minlength=len(classes))
    few = np.flatnonzero(counts < MIN_SAMPLES_PER_CLASS)
    if len(few):
        listed = ", ".join(f"{_label(classes[i])} ({counts[i]} sample{'s' if counts[i] != 1 else ''})" for i in few[:5])
        raise TabularInputError(
            f"expected at least {MIN_SAMPLES_PER_CLASS} samples of every class in y, got too few samples for class {listed}; "
            "collect more samples of those classes, merge them into another class, or drop them"
        )


def check_int(name: str, value: Any, minimum: int = 1) -> int:
    """``value`` as an int ``>= minimum``, else :class:`~hypernet.ConfigError`."""
    if isinstance(value, np.bool_):
        value = bool(value)  # refused below, like a Python bool
    return _check_int(value, name, low=minimum, owner="HyperTabClassifier", kind=f"an int >= {minimum}")


def check_float(name: str, value: Any, minimum: float = 0.0, strict: bool = True, below: float = np.inf) -> float:
    """``value`` as a float ``> minimum`` (``>=`` if not ``strict``) and ``< below``, else :class:`~hypernet.ConfigError`."""
    if isinstance(value, np.bool_):
        value = bool(value)
    upper = f" and < {below}" if np.isfinite(below) else ""
    kind = f"a finite number {'>' if strict else '>='} {minimum}{upper}"
    high = float(below) if np.isfinite(below) else None
    return _check_float(value, name, low=minimum, high=high, low_open=strict, high_open=True, owner="HyperTabClassifier", kind=kind)


def subset_size(value: Any, n_features: int) -> int:
    """Features per member: ``None`` is half of them, a float in (0, 1] a fraction, an int a count (at least 1)."""
    if value is None:
        return max(1, round(0.5 * n_features))
    if isinstance(value, (float, np.floating)) and 0 < value <= 1:
        return max(1, round(float(value) * n_features))
    if isinstance(value, (int, np.integer)) and not isinstance(value, (bool, np.bool_)) and 1 <= value <= n_features:
        return int(value)
    raise ConfigError(
        f"expected subset_size to be None, a fraction in (0, 1] or an int in [1, n_features={n_features}], got {value!r}; "
        "e.g. subset_size=0.5 (half the features per member)"
    )


def hidden_sizes(value: Any) -> tuple[int, ...]:
    """The target MLP's hidden widths as a tuple of positive ints (an int means one layer)."""
    sizes = (value,) if isinstance(value, (int, np.integer)) and not isinstance(value, bool) else value
    if not isinstance(sizes, (tuple, list)) or any(
        isinstance(h, (bool, np.bool_)) or not isinstance(h, (int, np.integer)) or h < 1 for h in sizes
    ):
        raise ConfigError(
            f"expected hidden to be a positive int or a tuple of positive ints such as (32, 32), got {value!r}; pass e.g. hidden=(32, 32)"
        )
    return tuple(int(h) for h in sizes)


def class_weights(value: Any, classes: np.ndarray, y: np.ndarray) -> np.ndarray:
    """Loss weight of each class in ``classes`` from ``class_weight`` (``None``, ``"balanced"`` or ``{label: weight}``)."""
    from sklearn.utils.class_weight import compute_class_weight

    if not (value is None or (isinstance(value, str) and value == "balanced") or isinstance(value, dict)):
        raise ConfigError(
            f"expected HyperTabClassifier(class_weight=...) to be None, 'balanced' or a dict {{label: w}}, got {value!r}; pass one of those"
        )
    if isinstance(value, dict):
        known = set(classes.tolist())
        unknown = [k for k in value if k not in known]
        if unknown:
            raise ConfigError(
                f"expected class_weight to name labels of y ({classes.tolist()}), got {unknown}; remove them, or fix their spelling"
            )
    weights = np.asarray(compute_class_weight(value, classes=classes, y=y), dtype=np.float64)
    if not np.all(np.isfinite(weights)) or np.any(weights < 0) or weights.sum() <= 0:
        given = dict(zip(classes.tolist(), weights.tolist(), strict=True))
        raise ConfigError(f"expected class_weight values to be finite and >= 0 (not all 0), got {given}; pass non-negative weights")
    return weights
