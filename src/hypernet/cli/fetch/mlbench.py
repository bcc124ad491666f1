"""``hypernet data fetch mlbench``: ``apt-get download r-cran-mlbench`` and ``dpkg -x`` into the data cache (no R
needed), where :func:`hypernet.data.load_tabular` reads the UCI tables with the PyPI package ``rdata``."""

from __future__ import annotations

import shutil
import subprocess
import tempfile
from pathlib import Path

from ...data.cache import data_dir
from ...data.errors import DataError
from ...data.tabular import MLBENCH_PACKAGE, MLBENCH_SUBDIR, find_rda_dir, mlbench_dir


def _run(cmd: list[str], cwd: Path) -> None:
    try:
        done = subprocess.run(cmd, cwd=cwd, capture_output=True, text=True, check=False)
    except FileNotFoundError as e:
        raise DataError(
            f"expected `{cmd[0]}` (Debian's package tools) to fetch {MLBENCH_PACKAGE}, got no such command; "
            "download the .deb elsewhere and pass path=FILE.deb (or a directory of its .rda files)"
        ) from e
    if done.returncode != 0:
        last = (done.stderr or done.stdout).strip().splitlines()[-1:] or ["no output"]
        raise DataError(
            f"expected `{' '.join(cmd)}` to succeed, got exit code {done.returncode}: {last[0]}; "
            "run `apt-get update` once and try again, or pass path= to your own copy"
        )


def _unpack_deb(deb: Path, dest: Path) -> Path:
    with tempfile.TemporaryDirectory() as tmp:
        _run(["dpkg", "-x", str(deb), str(Path(tmp) / "root")], Path(tmp))
        found = find_rda_dir(Path(tmp) / "root")
        if found is None:
            raise DataError(f"expected {MLBENCH_SUBDIR}/*.rda inside {deb}, got none; is it the {MLBENCH_PACKAGE} package?")
        dest.mkdir(parents=True, exist_ok=True)
        for rda in found.glob("*.rda"):
            shutil.copy2(rda, dest / rda.name)
    return dest


def fetch_mlbench(path: str | Path | None = None) -> Path:
    """The directory of mlbench's ``.rda`` files, fetching them into the cache if needed.

    Args:
        path: your own copy: the ``r-cran-mlbench`` ``.deb`` (unpacked into the cache) or a
            directory holding the ``.rda`` files (used where it is). ``None``: the cache
            (``$HYPERNET_DATA/mlbench``, else ``~/.cache/hypernet/mlbench``), filled with
            ``apt-get download r-cran-mlbench`` + ``dpkg -x`` when empty.

    Raises:
        DataError: the package could not be downloaded or unpacked, or ``path`` holds no ``.rda`` files.
    """
    cache = data_dir() / "mlbench"
    if path is not None:
        given = Path(path).expanduser()
        if given.is_dir():
            return mlbench_dir(given)  # the loader's own check of a directory of .rda files
        if given.is_file() and given.suffix == ".deb":
            return _unpack_deb(given, cache)
        raise DataError(f"expected path to be an {MLBENCH_PACKAGE} .deb file or a directory of .rda files, got {given}; pass one of those")
    if find_rda_dir(cache) is not None:
        return cache
    with tempfile.TemporaryDirectory() as tmp:
        _run(["apt-get", "download", MLBENCH_PACKAGE], Path(tmp))
        debs = sorted(Path(tmp).glob(f"{MLBENCH_PACKAGE}_*.deb"))
        if not debs:
            raise DataError(
                f"expected apt-get download to leave {MLBENCH_PACKAGE}_*.deb in {tmp}, got nothing; "
                "download it yourself and pass it with --path FILE.deb"
            )
        return _unpack_deb(debs[-1], cache)
