"""Small tabular classification sets, offline: scikit-learn's built-ins and the UCI tables of Debian ``r-cran-mlbench``.

* scikit-learn (no download): ``wdbc`` (breast cancer Wisconsin diagnostic, 569x30),
  ``wine`` (178x13), ``iris`` (150x4), ``digits`` (1797x64).
* mlbench (GPL-2 R package; the tables are UCI Machine Learning Repository data sets):
  ``sonar`` (208x60), ``glass`` (214x9, classes 1, 2, 3, 5, 6, 7), ``pima``
  (PimaIndiansDiabetes, 768x8; zeros stand for missing values, as shipped),
  ``vehicle`` (846x18), ``breastcancer`` (the original Wisconsin set, 699x9 after
  dropping ``Id``; 16 NaN in ``Bare.nuclei``), ``ionosphere`` (351x34), ``vowel``
  (990x10). ``hypernet data fetch mlbench`` gets them with ``apt-get download r-cran-mlbench``
  and ``dpkg -x`` into the cache (no R needed); they are read with the PyPI package
  ``rdata`` (``pip install 'hypernet[tabular]'``). ``python -m hypernet.data.tabular``
  lists the tables found. Pass ``path=`` (a directory
  holding the ``.rda`` files) to use your own copy.

Every loader returns a :class:`TabularData` whose ``X`` is a pandas DataFrame of
floats (factor columns become their numeric values, or category codes when not
numeric) and ``y`` a NumPy array of the original labels (strings or ints).

Example:
    >>> data = load_tabular("wine")
    >>> data.X.shape, data.n_classes, data.source
    ((178, 13), 3, 'scikit-learn')
    >>> "sonar" in list_tabular()
    True
"""

from __future__ import annotations

import warnings
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from .cache import data_dir
from .errors import DataError

MLBENCH_PACKAGE = "r-cran-mlbench"
MLBENCH_SUBDIR = Path("usr/lib/R/site-library/mlbench/data")


@dataclass(frozen=True)
class MLBenchTable:
    """One table of mlbench: the R object's name, its label column, expected (rows, feature columns), dropped columns."""

    rda: str
    target: str
    shape: tuple[int, int]
    drop: tuple[str, ...] = ()


MLBENCH: dict[str, MLBenchTable] = {
    "sonar": MLBenchTable("Sonar", "Class", (208, 60)),
    "glass": MLBenchTable("Glass", "Type", (214, 9)),
    "pima": MLBenchTable("PimaIndiansDiabetes", "diabetes", (768, 8)),
    "vehicle": MLBenchTable("Vehicle", "Class", (846, 18)),
    "breastcancer": MLBenchTable("BreastCancer", "Class", (699, 9), drop=("Id",)),
    "ionosphere": MLBenchTable("Ionosphere", "Class", (351, 34)),
    "vowel": MLBenchTable("Vowel", "Class", (990, 10)),
}

SKLEARN: dict[str, str] = {"wdbc": "load_breast_cancer", "wine": "load_wine", "iris": "load_iris", "digits": "load_digits"}


@dataclass
class TabularData:
    """A classification table.

    Attributes:
        name: the loader's name (``"sonar"``, ...).
        X: pandas DataFrame of float features (NaN where the source has missing values).
        y: labels as given by the source (NumPy array of str or int).
        source: ``"scikit-learn"`` or ``"mlbench"``.
    """

    name: str
    X: Any
    y: np.ndarray
    source: str

    @property
    def n_classes(self) -> int:
        """Number of distinct labels."""
        return len(np.unique(self.y))


def list_tabular() -> list[str]:
    """Names :func:`load_tabular` knows."""
    return sorted([*SKLEARN, *MLBENCH])


def _pandas() -> Any:
    try:
        import pandas as pd
    except ImportError as e:  # pragma: no cover - pandas comes with the dev and tabular extras
        raise DataError("expected pandas to be installed for the tabular loaders, got ImportError; pip install 'hypernet[tabular]'") from e
    return pd


def _load_sklearn(name: str) -> TabularData:
    import sklearn.datasets

    pd = _pandas()
    bunch = getattr(sklearn.datasets, SKLEARN[name])()
    columns = [str(c) for c in bunch.feature_names] if len(bunch.feature_names) else None
    X = pd.DataFrame(np.asarray(bunch.data, dtype=np.float64), columns=columns)
    return TabularData(name, X, np.asarray(bunch.target), "scikit-learn")


def find_rda_dir(root: Path) -> Path | None:
    for candidate in (root, root / MLBENCH_SUBDIR):
        if candidate.is_dir() and any(candidate.glob("*.rda")):
            return candidate
    return None


def mlbench_dir(path: str | Path | None = None) -> Path:
    """The directory of mlbench's ``.rda`` files: ``path`` (a directory holding them, or the package's
    unpacked tree), else the cache filled by ``hypernet data fetch mlbench``. Nothing is downloaded here.

    Raises:
        DataError: no ``.rda`` files there; the message says how to fetch them.
    """
    if path is not None:
        given = Path(path).expanduser()
        if given.is_dir():
            found = find_rda_dir(given)
            if found is None:
                raise DataError(
                    f"expected mlbench .rda files (Sonar.rda, ...) in {given} or its {MLBENCH_SUBDIR}, got none; "
                    "pass the directory that holds them"
                )
            return found
        if given.is_file() and given.suffix == ".deb":
            raise DataError(
                f"expected a directory of .rda files, got the package {given}; unpack it with `hypernet data fetch mlbench --path {given}`"
            )
        raise DataError(f"expected path to be a directory of mlbench .rda files, got {given}; pass such a directory")
    cache = data_dir() / "mlbench"
    if find_rda_dir(cache) is None:
        raise DataError(
            f"expected the mlbench tables in {cache}, got none; "
            "run `hypernet data fetch mlbench` (or pass path= to a directory of .rda files)"
        )
    return cache


def read_rda_table(file: Path, name: str) -> Any:
    """The R data frame ``name`` stored in ``file``, as pandas (needs the PyPI package ``rdata``)."""
    try:
        import rdata
    except ImportError as e:
        raise DataError(
            "expected the `rdata` package to read mlbench's .rda files, got ImportError; pip install 'hypernet[tabular]'"
        ) from e
    if not file.is_file():
        raise DataError(f"expected {file} to exist, got no such file; fetch the data with `hypernet data fetch mlbench` or pass path=")
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message="Unknown encoding", category=UserWarning)
        try:
            objects = rdata.read_rda(str(file))
        except Exception as e:
            raise DataError(f"expected a readable .rda file at {file}, got {type(e).__name__}: {e}; fetch it again") from e
    if name not in objects:
        raise DataError(
            f"expected an R object {name!r} in {file}, got {sorted(objects)}; fetch it again with `hypernet data fetch mlbench`"
        )
    return objects[name]


def _numeric(column: Any) -> np.ndarray:
    """A column as float64: factors by their labels' numeric values (or codes when not numeric), NA as NaN."""
    pd = _pandas()
    if isinstance(column.dtype, pd.CategoricalDtype):
        labels = pd.to_numeric(pd.Series(column.cat.categories.astype(str)), errors="coerce")
        if labels.notna().all():
            return np.asarray(column.cat.codes.map(dict(enumerate(labels))).astype("float64").where(column.notna()), dtype=np.float64)
        return np.where(column.isna(), np.nan, column.cat.codes.astype(np.float64))
    return np.asarray(pd.to_numeric(column, errors="coerce").astype("float64"), dtype=np.float64)


def _load_mlbench(name: str, path: str | Path | None) -> TabularData:
    pd = _pandas()
    table = MLBENCH[name]
    frame = read_rda_table(mlbench_dir(path) / f"{table.rda}.rda", table.rda)
    features = [c for c in frame.columns if c != table.target and c not in table.drop]
    X = pd.DataFrame({str(c): _numeric(frame[c]) for c in features})
    if X.shape != table.shape or table.target not in frame.columns:
        raise DataError(
            f"expected {table.rda} with {table.shape[0]} rows, {table.shape[1]} features and a {table.target!r} column, "
            f"got {X.shape[0]} rows, {X.shape[1]} features, columns {list(frame.columns)[:5]}...; fetch a fresh copy"
        )
    target = frame[table.target]
    y = np.asarray(target.astype(str) if isinstance(target.dtype, pd.CategoricalDtype) else target)
    return TabularData(name, X.set_index(pd.RangeIndex(len(X))), y, "mlbench")


LOADERS: dict[str, Callable[[str, str | Path | None], TabularData]] = {
    **{n: (lambda name, path: _load_sklearn(name)) for n in SKLEARN},
    **{n: _load_mlbench for n in MLBENCH},
}


def load_tabular(name: str, path: str | Path | None = None) -> TabularData:
    """Load the classification table ``name`` (see :func:`list_tabular`).

    Args:
        name: ``"wdbc"``, ``"wine"``, ``"iris"``, ``"digits"`` (scikit-learn) or an mlbench table
            (``"sonar"``, ``"glass"``, ``"pima"``, ``"vehicle"``, ``"breastcancer"``, ``"ionosphere"``, ``"vowel"``).
        path: for mlbench tables, your own copy (a directory of .rda files, see :func:`mlbench_dir`); ignored otherwise.

    Raises:
        DataError: unknown name, or the mlbench files are missing and could not be fetched.
    """
    key = name.lower()
    if key not in LOADERS:
        raise DataError(f"expected a table in {list_tabular()}, got {name!r}; pass one of them")
    return LOADERS[key](key, path)


def main(argv: list[str] | None = None) -> int:
    """``python -m hypernet.data.tabular [--path P] [NAME ...]``: read the mlbench tables, print each table's size.

    Exit code 0 on success, 1 when a table cannot be fetched or read (one line on stderr).
    """
    import argparse
    import sys

    parser = argparse.ArgumentParser(prog="python -m hypernet.data.tabular", description=main.__doc__)
    parser.add_argument("names", nargs="*", default=sorted(MLBENCH), help="tables to check (default: every mlbench table)")
    parser.add_argument("--path", default=None, help="your copy: a directory of .rda files")
    args = parser.parse_args(argv)
    try:
        for name in args.names:
            data = load_tabular(name, path=args.path)
            print(f"{name}: {data.X.shape[0]} rows x {data.X.shape[1]} features, {data.n_classes} classes ({data.source})")
    except DataError as e:
        print(f"error: {e}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":  # pragma: no cover
    raise SystemExit(main())
