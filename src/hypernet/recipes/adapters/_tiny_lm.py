"""A tiny random ``LlamaForCausalLM`` and a word-level Hugging Face tokenizer, for tests and examples without downloads.

Example:
    >>> lm, tok = tiny_llama()
    >>> tok(["a b"], add_special_tokens=False)["input_ids"], type(lm).__name__
    ([[3, 4]], 'LlamaForCausalLM')
"""

from __future__ import annotations

import string
from typing import Any

import torch

SPECIALS = ("<pad>", "<unk>", "<eos>")


def tiny_tokenizer_lm(words: tuple[str, ...] = ()) -> Any:
    """A ``PreTrainedTokenizerFast`` over single letters, digits and ``words`` (whitespace-split), with pad/unk/eos."""
    from tokenizers import Tokenizer, models, pre_tokenizers
    from transformers import PreTrainedTokenizerFast

    vocab = {t: i for i, t in enumerate(dict.fromkeys([*SPECIALS, *string.ascii_lowercase, *string.digits, *words]))}
    tok = Tokenizer(models.WordLevel(vocab, unk_token="<unk>"))
    tok.pre_tokenizer = pre_tokenizers.Whitespace()
    return PreTrainedTokenizerFast(tokenizer_object=tok, pad_token="<pad>", unk_token="<unk>", eos_token="<eos>")


def tiny_llama(seed: int = 0, words: tuple[str, ...] = (), layers: int = 2, hidden: int = 16) -> tuple[Any, Any]:
    """``(LlamaForCausalLM, tokenizer)``: a randomly initialised decoder (tied embeddings, grouped-query attention) and its tokenizer."""
    from transformers import LlamaConfig, LlamaForCausalLM

    tok = tiny_tokenizer_lm(words)
    config = LlamaConfig(
        vocab_size=len(tok),
        hidden_size=hidden,
        intermediate_size=2 * hidden,
        num_hidden_layers=layers,
        num_attention_heads=2,
        num_key_value_heads=1,
        max_position_embeddings=256,
        tie_word_embeddings=True,
        pad_token_id=tok.pad_token_id,
        eos_token_id=tok.eos_token_id,
        bos_token_id=tok.eos_token_id,
    )
    torch.manual_seed(seed)
    return LlamaForCausalLM(config).eval(), tok
