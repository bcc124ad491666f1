"""Tiny Hugging Face models built from configs (no download), with batches that exercise per-sample inputs."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import torch
from torch import nn

transformers = __import__("transformers")
peft = __import__("peft")

VOCAB, HIDDEN, HEADS, LAYERS = 60, 16, 2, 2


@dataclass
class Case:
    """A foreign target, what to generate in it, and a batch factory ``batch(B) -> kwargs``."""

    build: Callable[[], nn.Module]
    generate: list[str]
    batch: Callable[[int], dict[str, Any]]


def _padding_mask(n: int, length: int, gen: torch.Generator) -> torch.Tensor:
    """Every sample padded differently (lengths 2..length), so a mask applied to the wrong sample changes its output."""
    lengths = torch.randint(2, length + 1, (n,), generator=gen)
    lengths[0] = 2
    return (torch.arange(length)[None, :] < lengths[:, None]).long()


def _text(n: int, length: int = 7, **extra: Any) -> dict[str, Any]:
    gen = torch.Generator().manual_seed(n)
    return {"input_ids": torch.randint(0, VOCAB, (n, length), generator=gen), "attention_mask": _padding_mask(n, length, gen), **extra}


def bert() -> nn.Module:
    config = transformers.BertConfig(
        vocab_size=VOCAB,
        hidden_size=HIDDEN,
        num_hidden_layers=LAYERS,
        num_attention_heads=HEADS,
        intermediate_size=32,
        max_position_embeddings=32,
    )
    return transformers.BertModel(config).eval()


def distilbert() -> nn.Module:
    config = transformers.DistilBertConfig(
        vocab_size=VOCAB, dim=HIDDEN, n_layers=LAYERS, n_heads=HEADS, hidden_dim=32, max_position_embeddings=32
    )
    return transformers.DistilBertModel(config).eval()


def gpt2() -> nn.Module:
    config = transformers.GPT2Config(
        vocab_size=VOCAB, n_embd=HIDDEN, n_layer=LAYERS, n_head=HEADS, n_positions=32, bos_token_id=0, eos_token_id=0
    )
    return transformers.GPT2LMHeadModel(config).eval()


def t5() -> nn.Module:
    config = transformers.T5Config(
        vocab_size=VOCAB, d_model=HIDDEN, d_kv=8, d_ff=32, num_layers=LAYERS, num_heads=HEADS, decoder_start_token_id=0, pad_token_id=0
    )
    return transformers.T5Model(config).eval()


def vit() -> nn.Module:
    config = transformers.ViTConfig(
        image_size=8,
        patch_size=4,
        num_channels=3,
        hidden_size=HIDDEN,
        num_hidden_layers=LAYERS,
        num_attention_heads=HEADS,
        intermediate_size=32,
    )
    return transformers.ViTModel(config).eval()


def peft_bert() -> nn.Module:
    config = peft.LoraConfig(r=4, lora_alpha=8, target_modules=["query", "value"])
    return peft.get_peft_model(bert(), config).eval()


def _t5_batch(n: int) -> dict[str, Any]:
    gen = torch.Generator().manual_seed(100 + n)
    return _text(n, use_cache=False, decoder_input_ids=torch.randint(0, VOCAB, (n, 4), generator=gen))


def _vit_batch(n: int) -> dict[str, Any]:
    return {"pixel_values": torch.randn(n, 3, 8, 8, generator=torch.Generator().manual_seed(n))}


CASES: dict[str, Case] = {
    "bert": Case(bert, ["*attention.self.query.weight", "encoder.layer.1.output.dense.*"], _text),
    "distilbert": Case(distilbert, ["*attention.q_lin.weight", "*.ffn.lin2.bias"], _text),
    # lm_head.weight is tied to transformer.wte.weight: the alias selects the shared tensor
    "gpt2": Case(gpt2, ["lm_head.weight", "*attn.c_attn.weight"], lambda n: _text(n, use_cache=False)),
    "t5": Case(t5, ["*SelfAttention.q.weight", "decoder.block.1.layer.2.DenseReluDense.wo.weight"], _t5_batch),
    "vit": Case(vit, ["*attention.q_proj.weight", "pooler.dense.*"], _vit_batch),
    "peft_lora_bert": Case(peft_bert, ["*lora_*"], _text),
}
