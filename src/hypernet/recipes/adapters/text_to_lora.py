"""``hn.TextToLoRA``: LoRA for a pretrained decoder LM, generated from a task description (or a task id).

Text-to-LoRA (Charakorn et al., Sakana AI, 2025) on the core: the base causal LM is wrapped by PEFT's
LoRA on ``target_modules``, and a :class:`~hypernet.HyperModel` generates every LoRA factor
(``generate="*lora_*"``) from the embedding of a one-sentence description (``condition="text"``) or
from a learned task embedding (``condition="task"``). The generator has one output head per kind of
LoRA tensor shared by all layers (``generator="shared"``, T2L's layer embeddings); the generated factors
are ``w0 + delta`` with ``w0`` PEFT's own LoRA init (``B = 0``) and ``delta`` zero at step 0, so the
untrained model *is* the base model.

* Training: ``(prompt, target)`` pairs of several tasks, mixed in each batch (one batched call on the
  core's per-sample path); the loss counts the target tokens only.
* :meth:`generate` runs ``generate()`` of Hugging Face with the KV cache, once per distinct task of
  the batch (only LoRA factors are generated, so the cache is the base model's own).
* :meth:`adapter` writes a standard PEFT LoRA directory for one task or description.

This is a sibling of :class:`~hypernet.AdapterHypernet` (which adapts an *encoder* for
classification): same idea, a different base and objective.

Example:
    >>> import torch
    >>> from hypernet.recipes.adapters._tiny_lm import tiny_llama
    >>> base, tok = tiny_llama()
    >>> tasks = {"copy": ("Copy the words.", [("a b", "a b"), ("b c", "b c")]), "first": ("Give the first word.", [("a b", "a")])}
    >>> model = TextToLoRA(base, tok, condition="text", cond_dim=8, hidden=(16,)).fit(tasks, steps=2, batch_size=2)
    >>> len(model.generate(["a b", "c d"], ["copy", "Say the last word."], max_new_tokens=3))
    2
"""

from __future__ import annotations

import contextlib
import copy
import random
from collections.abc import Callable, Iterator, Mapping, Sequence
from pathlib import Path
from typing import Any

import torch
from torch import nn

from ..._boundary import guarded
from ..._linear_path import LinearPath
from ..._model import HyperModel
from ..._peft import export_peft
from ..._spec import ParamSpec
from ..._validation import check_float, check_int, is_int
from ...conditions import Continuous, Embedding
from ...errors import ConfigError, describe
from ...generators.shared import SharedHeadGenerator
from ...training.checkpoint import save_checkpoint
from ...training.loop import checked_step
from ._fit_checkpoints import checkpoint_to_resume, fingerprint, prepare_directory, restore_sampler, sampler_parts
from ._frozen import mean_pool
from ._lm_batch import (
    cut_answer,
    end_of_answer,
    format_prompt,
    pad_id,
    prompt_batch,
    takes_logits_to_keep,
    target_loss,
    target_positions,
    training_batch,
)

TaskSpec = tuple[str | Sequence[str] | None, Sequence[tuple[str, str]]]


def _descriptions(value: str | Sequence[str] | None) -> list[str]:
    if value is None:
        return []
    return [value] if isinstance(value, str) else [str(v) for v in value]


@guarded()  # no snapshot: fit checks its input before changing anything, and the frozen base may be large
class TextToLoRA(nn.Module):
    """A hypernetwork generating the LoRA of a frozen causal LM from a task description or a task id.

    Args:
        base: a Hugging Face causal LM (``LlamaForCausalLM``, ...). It is copied; the given object is never changed.
        tokenizer: its tokenizer (a chat template is used when it has one).
        condition: ``"text"`` (the description's embedding) or ``"task"`` (a learned embedding per task name).
        text_encoder: for ``"text"``, a callable ``list[str] -> Tensor (n, d)``; default: the frozen base's
            mean-pooled last hidden state.
        rank, alpha: LoRA rank and scaling numerator (default ``2 * rank``).
        target_modules: the linear modules PEFT adapts (default the attention's query and value projections).
        cond_dim, hidden, layer_dim: widths of the condition embedding, the generator's shared trunk and its
            per-tensor keys.
        max_length: tokens kept per prompt + answer.
        seed: seeds the parameters and the batch sampling.
    """

    def __init__(
        self,
        base: nn.Module,
        tokenizer: Any,
        *,
        condition: str = "text",
        text_encoder: Callable[[list[str]], torch.Tensor] | None = None,
        rank: int = 8,
        alpha: int | None = None,
        target_modules: Sequence[str] = ("q_proj", "v_proj"),
        cond_dim: int = 64,
        hidden: Sequence[int] = (128,),
        layer_dim: int = 16,
        max_length: int = 96,
        seed: int = 0,
    ) -> None:
        super().__init__()
        if condition not in ("text", "task"):
            raise ConfigError(f"expected condition in ['text', 'task'], got {condition!r}; pass one of them")
        if not isinstance(rank, int) or isinstance(rank, bool) or rank < 1:
            raise ConfigError(f"expected a positive integer rank, got {rank!r}; pass a positive integer rank")
        if not isinstance(max_length, int) or max_length < 4:
            raise ConfigError(f"expected max_length to be an integer >= 4, got {max_length!r}; pass an integer >= 4")
        if not isinstance(base, nn.Module):
            raise ConfigError(f"expected base to be a causal LM (an nn.Module), got {describe(base)}; pass e.g. AutoModelForCausalLM")
        if not callable(tokenizer):
            raise ConfigError(f"expected a callable tokenizer, got {describe(tokenizer)}; pass the base's Hugging Face tokenizer")
        if text_encoder is not None and not callable(text_encoder):
            raise ConfigError(f"expected text_encoder to be None or a function list[str] -> Tensor, got {describe(text_encoder)}; pass one")
        names = [target_modules] if isinstance(target_modules, str) else target_modules
        if not isinstance(names, (list, tuple)) or not names or not all(isinstance(t, str) and t for t in names):
            raise ConfigError(f"expected target_modules to be module names, got {target_modules!r}; pass e.g. ('q_proj', 'v_proj')")
        check_float(alpha, "alpha", low=0, low_open=True, optional=True, owner="TextToLoRA")
        for name, value in (("cond_dim", cond_dim), ("layer_dim", layer_dim)):
            check_int(value, name, low=1, high=1 << 16, owner="TextToLoRA")
        if not isinstance(hidden, (list, tuple)) or not all(is_int(h) and 1 <= h <= 1 << 16 for h in hidden):
            raise ConfigError(f"expected TextToLoRA(hidden=...) to be a sequence of positive widths, got {hidden!r}; pass e.g. (128,)")
        check_int(seed, "seed", owner="TextToLoRA")
        try:
            from peft import LoraConfig, get_peft_model
        except ImportError:  # pragma: no cover - peft is part of the dev extra
            raise ConfigError(
                "expected peft and transformers for TextToLoRA, got an ImportError; install them: pip install 'hypernet[hf]'"
            ) from None
        torch.manual_seed(seed)
        targets = [target_modules] if isinstance(target_modules, str) else list(target_modules)
        config = LoraConfig(r=rank, lora_alpha=alpha if alpha is not None else 2 * rank, target_modules=targets, lora_dropout=0.0)
        try:
            self.lm = get_peft_model(copy.deepcopy(base).eval(), config)
        except ValueError as err:  # peft: no module matches target_modules
            raise ConfigError(
                f"expected target_modules naming linear layers of the base, got {targets}; pass names such as 'q_proj' ({err})"
            ) from err
        self.tokenizer = tokenizer
        self.condition_kind, self.text_encoder, self.max_length, self.seed = condition, text_encoder, max_length, seed
        self.rank, self.cond_dim, self.hidden, self.layer_dim = rank, cond_dim, tuple(hidden), layer_dim
        self.hyper: HyperModel | None = None
        self.tasks_: dict[str, list[str]] = {}
        self._embedded: dict[str, torch.Tensor] = {}
        self.register_buffer("desc_mean", torch.zeros(0), persistent=True)
        self.register_buffer("desc_std", torch.ones(0), persistent=True)
        # the frozen base comes from the constructor: state_dict() (and so a checkpoint) holds the hypernetwork only
        self.register_state_dict_post_hook(_drop_frozen_base)
        self.register_load_state_dict_pre_hook(_keep_the_frozen_base)

    # ----------------------------------------------------------------------------- conditions
    @torch.no_grad()
    def _encode(self, texts: list[str]) -> torch.Tensor:
        if self.text_encoder is not None:
            return torch.as_tensor(self.text_encoder(texts), dtype=torch.float32)
        ids, mask = prompt_batch(self.tokenizer, texts, self.max_length)
        flags = [(p, p.requires_grad) for p in self.lm.parameters()]
        try:
            with self.lm.disable_adapter():
                hidden = self.lm(input_ids=ids, attention_mask=mask, output_hidden_states=True, use_cache=False).hidden_states[-1]
        finally:  # re-enabling the adapter makes PEFT mark its (unused, generated-over) LoRA weights trainable again
            for p, flag in flags:
                p.requires_grad_(flag)
        return mean_pool(hidden, mask)

    def _embed(self, descriptions: list[str]) -> torch.Tensor:
        """Standardised description embeddings ``(n, d)`` (cached per text)."""
        new = sorted({d for d in descriptions if d not in self._embedded})
        if new:
            for d, e in zip(new, self._encode(new), strict=True):
                self._embedded[d] = e
        raw = torch.stack([self._embedded[d] for d in descriptions])
        return (raw - self.desc_mean) / self.desc_std if self.desc_mean.numel() else raw

    def _conditions(self, tasks: Sequence[str]) -> tuple[torch.Tensor, list[str | None]]:
        """The condition tensor of each task name or description, and the description each prompt shows."""
        if self.hyper is None:
            raise ConfigError("expected a fitted TextToLoRA, got one not fitted yet; call fit(tasks, ...) first")
        shown: list[str | None] = []
        for t in tasks:
            if not isinstance(t, str) or not t.strip():
                raise ConfigError(
                    f"expected a task name or a description (a non-empty string), got {t!r}; "
                    "pass a task name or a description (a non-empty string)"
                )
            if t in self.tasks_:
                shown.append(self.tasks_[t][0] if self.tasks_[t] else None)
            elif self.condition_kind == "text":
                shown.append(t)
            else:
                raise ConfigError(f"expected a known task name with condition='task', got {t!r}; known: {sorted(self.tasks_)}")
        if self.condition_kind == "task":
            names = list(self.tasks_)
            return torch.tensor([names.index(t) for t in tasks]), shown
        return self._embed([s if s is not None else t for s, t in zip(shown, tasks, strict=True)]), shown

    # ----------------------------------------------------------------------------- building and training
    def _check_tasks(self, tasks: Mapping[str, TaskSpec]) -> dict[str, tuple[list[str], list[tuple[str, str]]]]:
        if not isinstance(tasks, Mapping) or not tasks:
            raise ConfigError(
                f"expected tasks as a non-empty mapping name -> (description or [descriptions], [(prompt, target), ...]), "
                f"got {describe(tasks)}; pass e.g. {{'copy': ('Copy the words.', [('a b', 'a b')])}}"
            )
        out = {}
        for name, spec in tasks.items():
            if not isinstance(spec, tuple | list) or len(spec) != 2:
                raise ConfigError(
                    f"task {name!r}: expected (description, [(prompt, target), ...]), got {type(spec).__name__}; pass such a pair"
                )
            descs, examples = _descriptions(spec[0]), list(spec[1])
            if self.condition_kind == "text" and not descs:
                raise ConfigError(
                    f"task {name!r}: expected a description with condition='text', got none; give one, or use condition='task'"
                )
            bad = [e for e in examples if not (isinstance(e, tuple | list) and len(e) == 2 and all(isinstance(s, str) for s in e))]
            if not examples or bad:
                raise ConfigError(
                    f"task {name!r}: expected a non-empty list of (prompt, target) string pairs, got {bad[:1] or 'none'}; "
                    "pass (str, str) pairs"
                )
            out[str(name)] = (descs, [(str(p), str(t)) for p, t in examples])
        return out

    def build(self, tasks: Mapping[str, TaskSpec]) -> TextToLoRA:
        """Create the hypernetwork for ``tasks`` (names, descriptions) without training it."""
        return self._build(self._check_tasks(tasks))

    def _build(self, checked: dict[str, tuple[list[str], list[tuple[str, str]]]]) -> TextToLoRA:
        self.tasks_ = {name: descs for name, (descs, _) in checked.items()}
        if self.condition_kind == "text":
            every = sorted({d for descs in self.tasks_.values() for d in descs})
            raw = self._encode(every)
            self._embedded.update(zip(every, raw, strict=True))
            self.desc_mean, self.desc_std = raw.mean(0), raw.std(0).clamp_min(1e-3) if len(every) > 1 else torch.ones(raw.shape[1])
            condition: nn.Module = Continuous(raw.shape[1], self.cond_dim)
        else:
            condition = Embedding(len(self.tasks_), self.cond_dim)
        generator = SharedHeadGenerator(layer_dim=self.layer_dim, hidden=self.hidden)
        # PEFT's LoRA factors of linear layers are nn.Linear: a mixed-task batch runs the LM once, with fused attention.
        # LoRA on an embedding (lora_embedding_A / _B are plain tensors) needs the vmap path.
        linear = LinearPath.of(self.lm, ParamSpec.from_module(self.lm, "*lora_*").names, batch_dim=0, tied=False) is not None
        self.hyper = HyperModel(
            self.lm,
            condition=condition,  # type: ignore[arg-type]
            generator=generator,
            generate="*lora_*",
            parametrization="residual",
            per_sample="linear" if linear else "auto",
        )
        self.hyper.generator.zero_output_()
        return self

    def loss(self, prompts: Sequence[str], targets: Sequence[str], tasks: Sequence[str]) -> torch.Tensor:
        """Mean cross-entropy of the target tokens, each sample with the LoRA of its own task (one batched call)."""
        cond, shown = self._conditions(tasks)
        texts = [format_prompt(self.tokenizer, p, s) for p, s in zip(prompts, shown, strict=True)]
        ids, mask, labels = training_batch(self.tokenizer, texts, targets, self.max_length)
        assert self.hyper is not None
        kept = target_positions(labels)  # the vocabulary projection runs on the answer positions only, if the LM can
        keep = {"logits_to_keep": kept} if takes_logits_to_keep(self.lm.get_base_model()) else {}
        out = self.hyper({"input_ids": ids, "attention_mask": mask, "use_cache": False, **keep}, cond)
        return target_loss(out.logits, labels, kept if out.logits.shape[1] != ids.shape[1] else None)

    def fit(
        self,
        tasks: Mapping[str, TaskSpec],
        *,
        steps: int = 500,
        batch_size: int = 8,
        lr: float = 1e-3,
        weight_decay: float = 0.0,
        log: Callable[[int, float], None] | None = None,
        checkpoint_dir: str | Path | None = None,
        checkpoint_every: int = 100,
        keep_last: int = 2,
        resume: bool = False,
    ) -> TextToLoRA:
        """Train on mixed-task batches; each sample draws a task, one of its examples and one of its descriptions.

        Args:
            tasks: ``{name: (description or [descriptions], [(prompt, target), ...])}``; several descriptions
                (paraphrases) are sampled per step.
            steps, batch_size, lr, weight_decay: AdamW settings; ``steps`` counts from the start of training,
                so a resumed run stops at the same step as an uninterrupted one.
            log: called as ``log(step, loss)`` after every step.
            checkpoint_dir: write a checkpoint there every ``checkpoint_every`` steps and at the end, keeping the
                newest ``keep_last`` (the hypernetwork, AdamW and the batch sampler; not the frozen base). A new fit
                needs a directory without checkpoints; ``resume=True`` continues from the newest usable one, which
                must be of the same fit (tasks, examples, ``batch_size``, ``lr``, ``weight_decay``), exactly as if
                the run had never stopped.
        """
        for arg, value in (("steps", steps), ("batch_size", batch_size)):
            if not isinstance(value, int) or isinstance(value, bool) or value < 1:
                raise ConfigError(f"expected {arg} to be a positive integer, got {value!r}; pass a positive integer")
        check_int(batch_size, "batch_size", high=4096, owner="TextToLoRA.fit")  # a batch is padded to its longest example
        lr = float(check_float(lr, "lr", low=0, low_open=True, owner="TextToLoRA.fit"))  # plain floats: they go into JSON
        weight_decay = float(check_float(weight_decay, "weight_decay", low=0, owner="TextToLoRA.fit"))
        check_int(checkpoint_every, "checkpoint_every", low=1, owner="TextToLoRA.fit")
        check_int(keep_last, "keep_last", low=1, owner="TextToLoRA.fit")
        if log is not None and not callable(log):
            raise ConfigError(f"expected log to be None or a callable (step, loss), got {describe(log)}; pass a function")
        if not isinstance(resume, bool):
            raise ConfigError(f"expected resume to be True or False, got {describe(resume)}; pass a bool")
        if checkpoint_dir is not None and not isinstance(checkpoint_dir, str | Path):
            raise ConfigError(
                f"expected checkpoint_dir to be None, a str or a pathlib.Path, got {describe(checkpoint_dir)}; pass a directory path"
            )
        checked = self._check_tasks(tasks)
        unknown = sorted(set(checked) - set(self.tasks_)) if self.hyper is not None else []
        if unknown:
            raise ConfigError(f"expected the tasks the model was built with, got new ones {unknown}; build a new TextToLoRA for them")
        settings = {"built_tasks": list(self.tasks_ or checked), "condition": self.condition_kind, "max_length": self.max_length}
        run = fingerprint(checked, batch_size, lr, weight_decay, {**settings, "lora": self._lora_settings()})
        ckpt = checkpoint_to_resume(checkpoint_dir, resume, steps, run)  # checked before anything changes
        prepare_directory(checkpoint_dir)
        rng = random.Random(self.seed)
        with self._undone_on_error():
            if self.hyper is None:
                self._build(checked)
            assert self.hyper is not None
            params = [p for p in self.hyper.parameters() if p.requires_grad]
            optimizer = torch.optim.AdamW(params, lr=lr, weight_decay=weight_decay)
            if ckpt is not None:
                ckpt.restore(self, optimizer)  # checks that it fits before loading anything
                restore_sampler(rng, ckpt.tensors["rng/sampler"], ckpt.meta["extra"]["sampler"], str(ckpt.path))
        start = 0 if ckpt is None else ckpt.step
        names = list(checked)
        self.train()
        for step in range(start, steps):
            picked = [rng.choice(names) for _ in range(batch_size)]
            pairs = [rng.choice(checked[n][1]) for n in picked]
            shown = [rng.choice(checked[n][0]) if checked[n][0] else n for n in picked]
            if self.condition_kind == "text":  # a paraphrase is its own condition; the name only picks the examples
                conds = shown
            else:
                conds = picked
            loss = self.loss([p for p, _ in pairs], [t for _, t in pairs], conds)
            step_loss = checked_step(
                loss, optimizer, params, where=f"step {step + 1} of TextToLoRA.fit", fix="lower lr or weight_decay", first=step == start
            )
            if log is not None:
                log(step, step_loss)
            if checkpoint_dir is not None and ((step + 1) % checkpoint_every == 0 or step + 1 == steps):
                tensors, sampler = sampler_parts(rng)
                save_checkpoint(
                    checkpoint_dir,
                    step=step + 1,
                    model=self,
                    optimizer=optimizer,
                    tensors=tensors,
                    extra={**run, **sampler},
                    keep_last=keep_last,
                )
        self.eval()
        return self

    def _lora_settings(self) -> dict[str, Any]:
        """PEFT's LoRA settings of the adapted LM (rank, scaling numerator, adapted modules)."""
        config: Any = self.lm.peft_config["default"]  # a LoraConfig
        return {"r": config.r, "alpha": config.lora_alpha, "target_modules": sorted(config.target_modules)}

    @contextlib.contextmanager
    def _undone_on_error(self) -> Iterator[None]:
        """Undo what building and restoring changed if the block fails: a failed ``fit`` leaves the model as it was."""
        saved = (self.hyper, self.tasks_, self.desc_mean, self.desc_std, dict(self._embedded), torch.random.get_rng_state())
        flags = [(p, p.requires_grad) for p in self.lm.parameters()]
        state = None if self.hyper is None else {k: v.clone() for k, v in self.state_dict().items()}
        try:
            yield
        except BaseException:
            self.hyper, self.tasks_, self.desc_mean, self.desc_std, self._embedded, rng_state = saved
            torch.random.set_rng_state(rng_state)
            for p, flag in flags:
                p.requires_grad_(flag)
            if state is not None:
                self.load_state_dict(state)
            raise

    # ----------------------------------------------------------------------------- using it
    @torch.no_grad()
    def generate(
        self,
        prompts: str | Sequence[str],
        tasks: str | Sequence[str],
        *,
        max_new_tokens: int = 32,
        do_sample: bool = False,
        temperature: float = 1.0,
        top_p: float = 1.0,
        use_cache: bool = True,
        seed: int | None = None,
    ) -> list[str]:
        """Answers to ``prompts``, each from the LM adapted to its task (a name, or a new description with ``condition="text"``).

        One ``generate()`` for the whole batch, tasks mixed (each prompt's LoRA factors applied to its own
        rows, :meth:`HyperModel.applied`; one per distinct task when LoRA adapts an embedding), with the KV
        cache; greedy unless ``do_sample``.
        """
        prompts = [prompts] if isinstance(prompts, str) else list(prompts)
        tasks = [tasks] * len(prompts) if isinstance(tasks, str) else list(tasks)
        if not prompts or len(tasks) != len(prompts) or not all(isinstance(p, str) for p in prompts):
            raise ConfigError(
                f"expected prompts as a string or a non-empty list of strings and one task (or one per prompt), "
                f"got {len(prompts)} prompts and {len(tasks)} tasks; pass as many tasks as prompts, or one"
            )
        if not isinstance(max_new_tokens, int) or max_new_tokens < 1:
            raise ConfigError(f"expected max_new_tokens to be a positive integer, got {max_new_tokens!r}; pass a positive integer")
        cond, shown = self._conditions(tasks)
        end = end_of_answer(self.tokenizer)
        texts = [format_prompt(self.tokenizer, p, d) for p, d in zip(prompts, shown, strict=True)]
        options: dict[str, Any] = {"max_new_tokens": max_new_tokens, "do_sample": do_sample, "use_cache": use_cache}
        options.update({"pad_token_id": pad_id(self.tokenizer), "eos_token_id": end})
        if do_sample:
            options.update(temperature=temperature, top_p=top_p)
        if seed is not None:
            torch.manual_seed(seed)
        assert self.hyper is not None
        if self.hyper.per_sample == "linear":  # every prompt with its own task's LoRA, one generate()
            groups = [(list(range(len(prompts))), cond)]
        else:  # LoRA on embeddings: one generate() per distinct task
            firsts = {t: i for i, t in reversed(list(enumerate(tasks)))}
            groups = [([i for i, t in enumerate(tasks) if t == task], cond[first]) for task, first in firsts.items()]
        answers = [""] * len(prompts)
        for rows, c in groups:
            ids, mask = prompt_batch(self.tokenizer, [texts[i] for i in rows], self.max_length)
            with self.hyper.applied(self.hyper.weights(c)) as lm:
                out = lm.generate(input_ids=ids, attention_mask=mask, **options)  # type: ignore[operator]
            for i, row in zip(rows, out[:, ids.shape[1] :], strict=True):
                answers[i] = cut_answer(self.tokenizer, row.tolist(), end)
        return answers

    def exact_match(self, examples: Sequence[tuple[str, str]], task: str, *, batch_size: int = 16, max_new_tokens: int = 24) -> float:
        """Fraction of ``(prompt, target)`` pairs whose greedy answer equals the target exactly."""
        hits = 0
        for i in range(0, len(examples), batch_size):
            chunk = examples[i : i + batch_size]
            answers = self.generate([p for p, _ in chunk], task, max_new_tokens=max_new_tokens)
            hits += sum(a == t for a, (_, t) in zip(answers, chunk, strict=True))
        return hits / max(len(examples), 1)

    def adapter(self, task: str, path: str | Path) -> Path:
        """Write the LoRA generated for ``task`` (a name or a description) as a PEFT adapter directory; returns its path."""
        cond, _ = self._conditions([task])
        assert self.hyper is not None
        return export_peft(self.hyper, cond[0], path)

    @property
    def num_parameters(self) -> int:
        """Trainable parameters (condition, generator and the shared LoRA init ``w0``)."""
        return 0 if self.hyper is None else sum(p.numel() for p in self.hyper.parameters() if p.requires_grad)


_FROZEN_PREFIXES = ("lm.", "hyper.target.")  # the PEFT-wrapped base, reached from TextToLoRA and from its HyperModel


def _drop_frozen_base(module: nn.Module, state: dict[str, Any], prefix: str, local_metadata: Any) -> None:
    """``state_dict`` post-hook: leave out the frozen base (its LoRA factors are generated; ``hyper.base`` holds their init)."""
    for key in [k for k in state if k.startswith(tuple(prefix + p for p in _FROZEN_PREFIXES))]:
        del state[key]


def _keep_the_frozen_base(module: nn.Module, state: dict[str, Any], prefix: str, *_: Any) -> None:
    """``load_state_dict`` pre-hook: a state without the frozen base loads strictly, the base keeping its own weights."""
    assert isinstance(module, TextToLoRA)
    parts = [("lm.", module.lm)] + ([] if module.hyper is None else [("hyper.target.", module.hyper.target)])
    for name, sub in parts:  # submodules without this hook: their state_dict has every key
        for key, value in sub.state_dict(prefix=prefix + name, keep_vars=True).items():
            state.setdefault(key, value)
