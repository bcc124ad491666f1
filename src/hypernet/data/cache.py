"""Where fetched data sets live: ``$HYPERNET_DATA``, else ``~/.cache/hypernet``.

Example:
    >>> import os
    >>> os.environ["HYPERNET_DATA"] = "/tmp/hn-data"
    >>> str(data_dir())
    '/tmp/hn-data'
    >>> del os.environ["HYPERNET_DATA"]
"""

from __future__ import annotations

import hashlib
import os
from pathlib import Path

ENV = "HYPERNET_DATA"


def data_dir() -> Path:
    """The data cache directory (not created)."""
    env = os.environ.get(ENV)
    return Path(env).expanduser() if env else Path.home() / ".cache" / "hypernet"


def sha256(data: bytes) -> str:
    """Hex sha256 of ``data``."""
    return hashlib.sha256(data).hexdigest()
