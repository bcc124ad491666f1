"""Export the LoRA factors generated for one condition as a standard PEFT adapter directory.

This is :meth:`~hypernet.HyperModel.materialize` for the LoRA world: the directory holds
``adapter_config.json`` and ``adapter_model.safetensors`` written by PEFT itself, so
``PeftModel.from_pretrained(base, path)`` loads it anywhere PEFT runs, without hypernet.
"""

from __future__ import annotations

import os
import shutil
import tempfile
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ._validation import check_path
from .errors import ConfigError, HypernetError, describe

if TYPE_CHECKING:
    from ._model import HyperModel


ADAPTER_FILES = ("README.md", "adapter_config.json", "adapter_model.bin", "adapter_model.safetensors")
"""What a PEFT adapter directory holds; export replaces such a directory and refuses any other."""


def _peft_model_class() -> Any:
    try:
        from peft import PeftModel
    except ImportError as error:  # pragma: no cover - peft is part of the dev extra
        raise ConfigError("expected the peft package for adapter export, got none installed; pip install 'hypernet[hf]'") from error
    return PeftModel


def adapter_names(model: HyperModel) -> set[str]:
    """Parameter names of the target's adapter(s), as PEFT saves them (its adapter state dict)."""
    from peft import get_peft_model_state_dict

    target: Any = model.target
    names = set()
    for adapter in target.peft_config:
        state = get_peft_model_state_dict(target, adapter_name=adapter)
        names |= {n for n, p in target.named_parameters() if _saved_name(n, adapter) in state}
    return names


def _active_adapter(target: Any) -> str:
    """The one active adapter of a PeftModel (what export writes); several active adapters are refused."""
    active = target.active_adapter
    names = [active] if isinstance(active, str) else list(active)
    if len(names) != 1:
        raise ConfigError(
            f"expected one active adapter to export, got {names}; call model.target.set_adapter(NAME) to choose the one to write"
        )
    return str(names[0])


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


def _saved_name(name: str, adapter: str) -> str:
    return name.replace(f".{adapter}.", ".")


def export_peft(model: HyperModel, cond: Any, path: str | Path) -> Path:
    """Write the adapter generated for ``cond`` as a PEFT adapter directory at ``path``; returns the path.

    The target of ``model`` must be a ``peft.PeftModel`` and only adapter parameters (LoRA
    factors) may be generated; everything else of the adapter (non-generated factors) is
    saved as it is. The directory is written next to ``path`` first and renamed into place,
    so a failed export leaves an existing adapter at ``path`` as it was.

    Example:
        >>> import torch, hypernet as hn
        >>> from transformers import BertConfig, BertModel
        >>> from peft import LoraConfig, PeftModel, get_peft_model
        >>> config = BertConfig(vocab_size=50, hidden_size=16, num_hidden_layers=1, num_attention_heads=2, intermediate_size=32)
        >>> torch.manual_seed(0); base = BertModel(config).eval()  # doctest: +ELLIPSIS
        <torch._C.Generator object at ...>
        >>> fresh = BertModel(config).eval(); _ = fresh.load_state_dict(base.state_dict())
        >>> lora = get_peft_model(base, LoraConfig(r=2, target_modules=["query", "value"]))
        >>> model = hn.HyperModel(lora, condition=hn.Embedding(3, 4), generator="mlp", generate="*lora_*")
        >>> import tempfile; out = hn.export_peft(model, 1, tempfile.mkdtemp() + "/task1")
        >>> ids = torch.randint(0, 50, (2, 5))
        >>> loaded = PeftModel.from_pretrained(fresh, out)
        >>> torch.allclose(loaded(input_ids=ids).last_hidden_state, model({"input_ids": ids}, 1).last_hidden_state, atol=1e-5)
        True
    """
    from ._model import HyperModel

    if not isinstance(model, HyperModel):
        raise ConfigError(
            f"expected a hn.HyperModel whose target is a peft.PeftModel, got {describe(model)}; pass the HyperModel to export"
        )
    peft_model = _peft_model_class()
    if not isinstance(model.target, peft_model):
        raise ConfigError(
            f"expected a HyperModel whose target is a peft.PeftModel (get_peft_model(base, LoraConfig(...))), got a target of type "
            f"{type(model.target).__name__}; use materialize() to export plain weights"
        )
    not_adapter = [n for n in model.spec.names if n not in adapter_names(model)]
    if not_adapter:
        raise ConfigError(
            f"expected only adapter parameters to be generated for a PEFT export, got {len(not_adapter)} others "
            f"(e.g. {not_adapter[0]!r}); generate only the adapter (generate='*lora_*') or use materialize()"
        )
    path = check_path(path, owner="export_peft")
    if path.exists():
        others = sorted(p.name for p in path.iterdir() if p.name not in ADAPTER_FILES) if path.is_dir() else [path.name]
        if others:
            raise HypernetError(
                f"expected {path} to be a new path, an empty directory or a PEFT adapter directory (only {', '.join(ADAPTER_FILES)}), "
                f"got {'a file' if not path.is_dir() else 'other files: ' + ', '.join(others[:5])}; choose another path"
            )
    adapter = _active_adapter(model.target)
    net: Any = model.materialize(cond)
    path.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=f".{path.name}.", dir=path.parent))
    try:
        staging.chmod(0o777 & ~_umask())  # mkdtemp makes it private; the adapter gets the mode of a normal directory
        net.save_pretrained(str(staging), safe_serialization=True, selected_adapters=[adapter])
        if adapter != "default":  # PEFT writes a named adapter into <dir>/<name>/: lift it to the top
            for item in (staging / adapter).iterdir():
                item.rename(staging / item.name)
            (staging / adapter).rmdir()
        if path.exists():
            old = Path(tempfile.mkdtemp(prefix=f".{path.name}.old.", dir=path.parent))
            path.rename(old / path.name)
            staging.rename(path)
            shutil.rmtree(old, ignore_errors=True)
        else:
            staging.rename(path)
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    return path
