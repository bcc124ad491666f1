"""Tabular loaders: scikit-learn tables, and mlbench .rda files (written here with rdata, so no download is needed)."""

from __future__ import annotations

import subprocess
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import rdata

import hypernet as hn
from hypernet.cli.fetch import mlbench as fetcher
from hypernet.cli.fetch.mlbench import fetch_mlbench
from hypernet.data import tabular
from hypernet.data.tabular import MLBENCH, list_tabular, load_tabular, read_rda_table


def write_table(directory: Path, key: str, rows: int | None = None) -> pd.DataFrame:
    """A random table shaped like mlbench's ``key``, with factor columns like the real ones, saved as ``<Name>.rda``."""
    table = MLBENCH[key]
    n, d = table.shape
    n = rows or n
    rng = np.random.default_rng(0)
    columns: dict[str, object] = {f"V{i}": rng.normal(size=n) for i in range(d)}
    columns["V0"] = pd.Categorical(rng.integers(1, 4, size=n).astype(str))  # a factor with numeric labels
    columns["V1"] = pd.Categorical(rng.choice(["a", "b"], size=n))  # a factor with other labels
    for extra in table.drop:
        columns[extra] = pd.Categorical([str(i) for i in range(n)])
    columns[table.target] = pd.Categorical(rng.choice(["neg", "pos"], size=n))
    frame = pd.DataFrame(columns)
    directory.mkdir(parents=True, exist_ok=True)
    rdata.write_rda(directory / f"{table.rda}.rda", {table.rda: frame})
    return frame


@pytest.fixture
def rda_dir(tmp_path: Path) -> Path:
    for key in ("sonar", "glass"):
        write_table(tmp_path / "mlbench", key)
    return tmp_path / "mlbench"


def test_sklearn_tables() -> None:
    data = load_tabular("wdbc")
    assert data.X.shape == (569, 30) and data.n_classes == 2 and data.source == "scikit-learn"
    assert data.X.columns[0] == "mean radius" and data.X.dtypes.unique().tolist() == [np.dtype("float64")]
    assert load_tabular("IRIS").X.shape == (150, 4)
    assert {"wdbc", "wine", "sonar", "glass", "pima", "vehicle"} <= set(list_tabular())


def test_mlbench_from_directory(rda_dir: Path) -> None:
    data = load_tabular("glass", path=rda_dir)
    frame = read_rda_table(rda_dir / "Glass.rda", "Glass")
    assert data.X.shape == (214, 9) and data.source == "mlbench"
    assert set(data.y) == {"neg", "pos"} and data.y.dtype.kind in "UO"
    np.testing.assert_array_equal(data.X["V0"], frame["V0"].astype(str).astype(float))  # numeric factor labels kept
    assert set(data.X["V1"]) == {0.0, 1.0}  # other factors become codes
    np.testing.assert_allclose(data.X["V5"], frame["V5"])


def test_mlbench_via_nested_dir_and_cache(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    nested = tmp_path / "root" / tabular.MLBENCH_SUBDIR
    write_table(nested, "sonar")
    assert fetch_mlbench(tmp_path / "root") == nested
    monkeypatch.setenv("HYPERNET_DATA", str(tmp_path / "cache"))
    write_table(tmp_path / "cache" / "mlbench", "sonar")
    assert fetch_mlbench() == tmp_path / "cache" / "mlbench"  # the cache is used, nothing is downloaded
    assert load_tabular("sonar").X.shape == (208, 60)


def test_mlbench_drops_id_and_keeps_nan(tmp_path: Path) -> None:
    frame = write_table(tmp_path, "breastcancer")
    frame.loc[3, "V2"] = np.nan
    rdata.write_rda(tmp_path / "BreastCancer.rda", {"BreastCancer": frame})
    data = load_tabular("breastcancer", path=tmp_path)
    assert "Id" not in data.X.columns and data.X.shape == (699, 9) and int(data.X.isna().sum().sum()) == 1


def test_fetch_from_deb(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A .deb is unpacked with dpkg -x; simulate dpkg by a function laying out the package's tree."""

    def fake_run(cmd: list[str], cwd: Path) -> None:
        assert cmd[:2] == ["dpkg", "-x"]
        write_table(Path(cmd[3]) / tabular.MLBENCH_SUBDIR, "sonar")

    monkeypatch.setattr(fetcher, "_run", fake_run)
    monkeypatch.setenv("HYPERNET_DATA", str(tmp_path / "cache"))
    deb = tmp_path / "r-cran-mlbench_1.0_amd64.deb"
    deb.write_bytes(b"!<arch>\n")
    assert fetch_mlbench(deb) == tmp_path / "cache" / "mlbench"
    assert (tmp_path / "cache" / "mlbench" / "Sonar.rda").is_file()


def test_fetch_with_apt(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    calls: list[list[str]] = []

    def fake_run(cmd: list[str], cwd: Path) -> None:
        calls.append(cmd)
        if cmd[0] == "apt-get":
            (cwd / "r-cran-mlbench_2.1_amd64.deb").write_bytes(b"")
        else:
            write_table(Path(cmd[3]) / tabular.MLBENCH_SUBDIR, "sonar")

    monkeypatch.setattr(fetcher, "_run", fake_run)
    monkeypatch.setenv("HYPERNET_DATA", str(tmp_path))
    assert fetch_mlbench() == tmp_path / "mlbench"
    assert [c[0] for c in calls] == ["apt-get", "dpkg"] and calls[0][1:] == ["download", "r-cran-mlbench"]


def test_run_reports_failures(tmp_path: Path) -> None:
    with pytest.raises(hn.DataError, match="apt-get update"):
        fetcher._run(["false"], tmp_path)
    with pytest.raises(hn.DataError, match="no such command"):
        fetcher._run(["no-such-tool-hypernet"], tmp_path)
    assert subprocess.run(["true"], check=False).returncode == 0


def test_errors(tmp_path: Path, rda_dir: Path) -> None:
    with pytest.raises(hn.DataError, match="expected a table in"):
        load_tabular("nope")
    with pytest.raises(hn.DataError, match=r"got none"):
        fetch_mlbench(tmp_path)
    with pytest.raises(hn.DataError, match=r"\.deb file or a directory"):
        fetch_mlbench(tmp_path / "missing.txt")
    with pytest.raises(hn.DataError, match="no such file"):
        load_tabular("pima", path=rda_dir)
    write_table(tmp_path / "short", "sonar", rows=10)
    with pytest.raises(hn.DataError, match="208 rows"):
        load_tabular("sonar", path=tmp_path / "short")
    with pytest.raises(hn.DataError, match="R object 'Nope'"):
        read_rda_table(rda_dir / "Sonar.rda", "Nope")
    (tmp_path / "Bad.rda").write_bytes(b"not an rda file")
    with pytest.raises(hn.DataError, match=r"readable \.rda"):
        read_rda_table(tmp_path / "Bad.rda", "Bad")


def test_main_reports_tables(rda_dir: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert tabular.main(["sonar", "glass", "wine", "--path", str(rda_dir)]) == 0
    out = capsys.readouterr().out.splitlines()
    assert out == [
        "sonar: 208 rows x 60 features, 2 classes (mlbench)",
        "glass: 214 rows x 9 features, 2 classes (mlbench)",
        "wine: 178 rows x 13 features, 3 classes (scikit-learn)",
    ]
    assert tabular.main(["pima", "--path", str(rda_dir)]) == 1
    assert "Pima" in capsys.readouterr().err


def test_cli_fetch_mlbench(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    from hypernet.cli import main

    directory = tmp_path / "mlbench"
    for key in MLBENCH:
        write_table(directory, key)
    assert main(["data", "fetch", "mlbench", "--path", str(directory)]) == 0
    out = capsys.readouterr().out
    assert out.startswith(f"mlbench: {directory} (rows: ") and "sonar 208" in out and "vehicle 846" in out
    assert hn.data.load_tabular is load_tabular and "load_tabular" in hn.data.__all__
