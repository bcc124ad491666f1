"""``hn.AdapterHypernet``: adapters or LoRA for a frozen pretrained transformer, generated from a task id or a description.

HyperFormer (Karimi Mahabadi et al., 2021) and Text-to-LoRA (Sakana, 2025) in one recipe: a
shared hypernetwork generates the LoRA factors (or bottleneck adapters) of every adapted layer
of a frozen Hugging Face model from a task embedding (``condition="task"``) or from the
embedding of a one-sentence task description (``condition="text"``, embedded by the frozen base
with mean pooling, or by a given ``text_encoder``). It runs on the core: a
:class:`~hypernet.HyperModel` whose target is the base with PEFT's LoRA (or bottleneck adapters)
at the adapted modules, generating only those adapter weights (``_target.py``). Mixed-task
batches run in one call through the core's per-sample path: each task's factors are generated
once per call and each sample uses its own. ``adapter(task)`` exports one generated LoRA as a
standalone PEFT adapter.

Heads: ``head="labels"`` scores the adapted text embedding against the frozen base's embeddings
of the task's label names (cosine times a learned temperature; works for unseen tasks and, with
zero factors, is exactly the embedding-similarity zero-shot classifier); ``head="task"`` gives
each task its own linear head (initialised from the label-name embeddings when given).
``generator="per_task"`` / ``"shared"`` replace the hypernetwork by one LoRA per task / one
LoRA for all (the baselines of ``benchmarks/adapters.py``).

``cache=True`` computes the hidden states entering the lowest adapted layer once per text and
then runs only the layers above (legitimate: the layers below are frozen and unadapted).

Example:
    >>> import torch
    >>> from transformers import BertConfig, BertModel
    >>> from hypernet.recipes.adapters._testing import tiny_tokenizer
    >>> torch.manual_seed(0) and None
    >>> base = BertModel(BertConfig(vocab_size=64, hidden_size=16, num_hidden_layers=2, num_attention_heads=2, intermediate_size=32))
    >>> names = ["first", "second"]
    >>> tasks = [AdapterTask("a", ["x y", "y x"], [0, 1], label_names=names), AdapterTask("b", ["x y", "y x"], [1, 0], label_names=names)]
    >>> model = AdapterHypernet(base, tiny_tokenizer(), rank=2, target_modules=["query", "value"]).fit(tasks, steps=2)
    >>> model.predict(["x y"], "a").shape
    (1,)
"""

from __future__ import annotations

import copy
import itertools
import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, cast

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from ..._boundary import guarded
from ..._model import HyperModel
from ..._validation import check_float, check_int
from ...errors import ConditionError, ConfigError, HypernetError, describe
from ._condition import RowCondition
from ._export import peft_lora
from ._frozen import FrozenBase, mean_pool
from ._generator import AdapterGenerator, FactorTable
from ._target import Runner, adapt, adapter_names, find_slots
from ._tasks import AdapterTask, check_tasks

_NEG = -1e9


@dataclass
class _TaskInfo:
    index: int
    description: str | None
    label_names: list[str] | None
    num_classes: int


@guarded()  # no snapshot: fit checks its input before changing anything, and the frozen base may be large
class AdapterHypernet(nn.Module):
    """A hypernetwork generating adapters of a frozen transformer per task id or task description.

    Attributes:
        hyper: the core :class:`~hypernet.HyperModel` (after :meth:`build`): target ``runner``, the adapted frozen base.

    Args:
        base: a Hugging Face model (``base(input_ids=..., attention_mask=...)`` returns hidden states);
            it is copied and the copy frozen, the given object is never changed.
        tokenizer: its tokenizer (``tokenizer(texts, padding=True, truncation=True, max_length=..., return_tensors="pt")``).
        kind: ``"lora"`` (PEFT's LoRA) or ``"adapter"`` (bottleneck adapter on the module's output).
        rank: LoRA rank / adapter bottleneck width.
        alpha: LoRA scaling numerator (PEFT's ``lora_alpha``; default ``2 * rank``).
        target_modules: names or name suffixes of the ``nn.Linear`` modules to adapt (PEFT's matching).
        layers: indices of the layers to adapt (default: all layers the names match).
        condition: ``"task"`` (learned task embedding) or ``"text"`` (embedding of the task's description).
        text_encoder: for ``condition="text"``, a callable ``list[str] -> Tensor (n, d)``; default: the frozen base's mean pooling.
        generator: ``"hyper"`` (the hypernetwork), ``"per_task"`` (one LoRA per task) or ``"shared"`` (one LoRA for all).
        head: ``"labels"`` (scores against label-name embeddings) or ``"task"`` (a linear head per task).
        cond_dim, hidden: widths of the condition embedding and of the generator's trunk.
        cache: cache the frozen lower layers' activations per text and run only the adapted layers and above.
        max_length: tokens kept per text.
        temperature: initial scale of the cosine logits.
        standardize: for ``condition="text"``, standardise description embeddings with the mean and std of the
            fitted tasks' descriptions (amplifies the few words that tell similar descriptions apart).
        unseen_label_mix: for ``head="labels"``, how much of the adapted embedding a task keeps when one of its
            label names appears in no fitted task (an unseen kind of task): its texts score with
            ``mix * adapted + (1 - mix) * frozen`` embeddings, i.e. ``mix`` of the adapted model's logits plus
            ``1 - mix`` of the frozen base's zero-shot similarity. ``1.0`` (default) uses the adapter alone; ``0.5``
            with ``fit(base_reg=0.3)`` was chosen for new kinds of task (README). Tasks over fitted label names are
            never affected. May be changed after fitting.
        seed: seeds the parameters and the batch sampling.

    Example:
        >>> import torch, hypernet as hn
        >>> from transformers import BertConfig, BertModel
        >>> from hypernet.recipes.adapters._testing import tiny_tokenizer
        >>> base = BertModel(BertConfig(vocab_size=64, hidden_size=16, num_hidden_layers=1, num_attention_heads=2, intermediate_size=32))
        >>> task = hn.AdapterTask("ab", ["alpha", "beta"], [0, 1], "Alpha or beta?", ["alpha", "beta"])
        >>> model = hn.AdapterHypernet(base, tiny_tokenizer(), condition="text", unseen_label_mix=0.5).fit([task], steps=2)
        >>> model.predict(["gamma"], "Gamma or delta?", label_names=["gamma", "delta"]).shape  # unseen labels: half frozen
        (1,)
    """

    runner: Runner
    hyper: HyperModel

    def __init__(
        self,
        base: nn.Module,
        tokenizer: Callable[..., Any],
        *,
        kind: str = "lora",
        rank: int = 8,
        alpha: float | None = None,
        target_modules: Sequence[str] = ("query", "value"),
        layers: Sequence[int] | None = None,
        condition: str = "task",
        text_encoder: Callable[[list[str]], torch.Tensor] | None = None,
        generator: str = "hyper",
        head: str = "labels",
        cond_dim: int = 32,
        hidden: int = 32,
        cache: bool = False,
        max_length: int = 128,
        temperature: float = 20.0,
        standardize: bool = False,
        unseen_label_mix: float = 1.0,
        seed: int = 0,
    ):
        super().__init__()
        for arg, value, allowed in (
            ("condition", condition, ("task", "text")),
            ("generator", generator, ("hyper", "per_task", "shared")),
            ("head", head, ("labels", "task")),
            ("kind", kind, ("lora", "adapter")),
        ):
            if value not in allowed:
                raise ConfigError(f"expected {arg} in {list(allowed)}, got {value!r}; pass one of them")
        if not isinstance(rank, int) or rank < 1:
            raise ConfigError(f"expected a positive integer rank, got {rank!r}; pass a positive integer rank")
        if isinstance(target_modules, str):
            target_modules = [target_modules]
        if not isinstance(target_modules, Sequence) or not target_modules or not all(isinstance(t, str) for t in target_modules):
            raise ConfigError(
                f"expected target_modules to be a non-empty list of module names, got {describe(target_modules)}; e.g. ['query']"
            )
        if layers is not None and (isinstance(layers, str) or not isinstance(layers, Sequence) or not all(_is_index(i) for i in layers)):
            raise ConfigError(f"expected layers to be None or a list of layer indices, got {describe(layers)}; e.g. layers=[5]")
        for name, number in (("cond_dim", cond_dim), ("hidden", hidden), ("max_length", max_length), ("seed", seed)):
            check_int(number, name, low=0 if name == "seed" else 1, owner="AdapterHypernet", hint=f"pass an int, e.g. {name}=32")
        alpha = check_float(alpha, "alpha", low=0.0, low_open=True, owner="AdapterHypernet", optional=True)
        temperature = check_float(temperature, "temperature", low=0.0, low_open=True, owner="AdapterHypernet")
        self.unseen_label_mix = check_float(unseen_label_mix, "unseen_label_mix", low=0.0, high=1.0, owner="AdapterHypernet")
        for arg, fn in (("tokenizer", tokenizer), ("text_encoder", text_encoder)):
            if fn is not None and not callable(fn):
                raise ConfigError(
                    f"expected {arg} to be callable (a Hugging Face tokenizer / list[str] -> Tensor), got {describe(fn)}; "
                    "pass callable (a Hugging Face tokenizer / list[str] -> Tensor)"
                )
        if tokenizer is None:
            raise ConfigError("expected a tokenizer (the base's Hugging Face tokenizer), got None; pass AutoTokenizer.from_pretrained(...)")
        frozen = _frozen_copy(base)
        self.kind, self.rank, self.alpha = kind, rank, float(alpha if alpha is not None else 2 * rank)
        self.condition_kind, self.generator_kind, self.head_kind = condition, generator, head
        self.target_modules, self.layers = list(target_modules), None if layers is None else [int(i) for i in layers]
        self.cond_dim, self.hidden, self.temperature, self.seed = cond_dim, hidden, temperature, seed
        self.text_encoder, self.standardize = text_encoder, standardize
        self.slots = find_slots(frozen, self.target_modules, self.layers, kind, rank)
        wrapper, inner = adapt(frozen, self.slots, kind, rank, self.alpha)
        self.frozen = FrozenBase(inner, tokenizer, max_length)
        object.__setattr__(self, "runner", Runner(wrapper, self.frozen))  # the HyperModel's target (not a submodule: frozen)
        self.adapter_names = adapter_names(self.runner, self.slots, kind)
        object.__setattr__(self, "hyper", None)  # the core HyperModel, made by build()
        if cache:
            layers_of = [s.layer for s in self.slots]
            start = None if any(i is None for i in layers_of) else min(i for i in layers_of if i is not None)
            if start is None:
                raise ConfigError(
                    "cache=True: expected every adapted module inside the base's layer stack, got some outside it; pass cache=False"
                )
            self.frozen.enable_cache(start)
            self.frozen.check_cache()
        self.tasks_: dict[str, _TaskInfo] = {}
        self._distinct_labels: set[tuple[str, ...]] = set()  # label-name lists already checked

    # ---- building ----------------------------------------------------------------------------------
    @property
    def is_built(self) -> bool:
        """Whether :meth:`build` (or :meth:`fit`) created the trainable parts."""
        return bool(self.tasks_)

    def build(self, tasks: Sequence[Any]) -> AdapterHypernet:
        """Create the trainable parts for ``tasks`` (their names, descriptions and label names; texts are not used)."""
        checked = check_tasks(tasks, need_description=self.condition_kind == "text", need_label_names=self.head_kind == "labels")
        if self.head_kind == "labels":
            for t in checked:
                self._check_distinct_labels(t.name, list(t.label_names or []), ConfigError)
        torch.manual_seed(self.seed)
        self.tasks_ = {
            t.name: _TaskInfo(i, t.description, None if t.label_names is None else list(t.label_names), t.num_classes)
            for i, t in enumerate(checked)
        }
        n_tasks = len(checked)
        self.condition: RowCondition
        self.generator: AdapterGenerator | FactorTable
        if self.generator_kind == "hyper":
            if self.condition_kind == "task":
                self.condition = RowCondition("index", n_tasks, self.cond_dim)
            else:
                emb = self._describe([str(t.description) for t in checked])
                spread = emb.std(0) if len(checked) > 1 and self.standardize else torch.ones(emb.shape[-1])
                self.register_buffer("description_mean", emb.mean(0) if self.standardize else torch.zeros(emb.shape[-1]))
                self.register_buffer("description_std", spread.clamp_min(1e-3))
                self.condition = RowCondition("linear", emb.shape[-1], self.cond_dim)
            self.generator = AdapterGenerator(self.hidden)
        else:
            self.condition = RowCondition("onehot", n_tasks if self.generator_kind == "per_task" else 1, 0)
            self.generator = FactorTable()
        names = set(self.adapter_names)
        hyper = HyperModel(
            self.runner,
            self.condition,
            self.generator,
            generate=lambda n, _: n in names,
            parametrization="direct",
            init="default",
            per_sample="linear" if self.kind == "lora" else "auto",  # PEFT's LoRA factors are nn.Linear: one batched call
        )
        object.__setattr__(self, "hyper", hyper.eval())  # its condition and generator are this model's submodules; the base stays in eval
        self.log_temperature = nn.Parameter(torch.tensor(math.log(self.temperature)))
        if self.head_kind == "task":
            k_max, width = max(t.num_classes for t in checked), self._width()
            weight = torch.randn(n_tasks, k_max, width) * 0.01
            for i, t in enumerate(checked):
                if t.label_names is not None:
                    weight[i, : t.num_classes] = self.frozen.pooled(list(t.label_names)) * self.temperature
            self.head_weight = nn.Parameter(weight)
            self.head_bias = nn.Parameter(torch.zeros(n_tasks, k_max))
        return self

    def _check_distinct_labels(self, task: str, names: list[str], error: type[HypernetError]) -> None:
        """Refuse label names that tokenize or embed identically: the label head could not tell their classes apart."""
        if tuple(names) in self._distinct_labels:
            return
        ids, mask = self.frozen.tokenize(names)
        tokens = [tuple(int(i) for i, m in zip(row, keep, strict=True) if m) for row, keep in zip(ids, mask, strict=True)]
        emb = self.frozen.pooled(names)
        for a, b in itertools.combinations(range(len(names)), 2):
            same_tokens = tokens[a] == tokens[b]
            if same_tokens or bool((emb[a] - emb[b]).abs().max() <= 1e-6):
                how = f"tokenize identically (token ids {list(tokens[a])})" if same_tokens else "embed identically"
                raise error(
                    f"task {task!r}: expected label names the base can tell apart, got {names[a]!r} and {names[b]!r}, which {how}; "
                    "with head='labels' both classes would get the same score and training would receive no signal. Words outside "
                    "the tokenizer's vocabulary all map to [UNK]: use label names made of words the tokenizer knows, or head='task'"
                )
        self._distinct_labels.add(tuple(names))

    def _width(self) -> int:
        return int(self.frozen.pooled(["a"]).shape[-1])

    def _describe(self, descriptions: list[str]) -> torch.Tensor:
        if self.text_encoder is None:
            return self.frozen.pooled(descriptions)
        with torch.no_grad():
            emb = torch.as_tensor(self.text_encoder(descriptions), dtype=torch.float32)
        if emb.ndim != 2 or emb.shape[0] != len(descriptions):
            raise ConfigError(
                f"expected text_encoder to return a (n, d) tensor for n={len(descriptions)} texts, got shape {tuple(emb.shape)}; "
                "pass an encoder mapping a list of texts to one row each"
            )
        return emb

    @property
    def num_parameters(self) -> int:
        """Trainable parameters (the frozen base excluded)."""
        return sum(p.numel() for p in self.parameters() if p.requires_grad)

    def share_cache(self, other: AdapterHypernet) -> None:
        """Use ``other``'s memoised frozen activations and embeddings (same base, same adapted layers): computed once for both."""
        if not isinstance(other, AdapterHypernet):
            raise ConfigError(f"expected another AdapterHypernet to share the cache of, got {describe(other)}; pass the model itself")
        if self.frozen.start != other.frozen.start or self.frozen.max_length != other.frozen.max_length:
            raise ConfigError(
                f"expected a model caching the same layer and max_length, got start {other.frozen.start} / {other.frozen.max_length} "
                f"vs {self.frozen.start} / {self.frozen.max_length}; build both with the same adapted modules and max_length"
            )
        self.frozen.share(other.frozen)

    # ---- conditions --------------------------------------------------------------------------------
    def _resolve(self, task: Any, label_names: Sequence[str] | None) -> tuple[str, _TaskInfo]:
        """``(condition key, task info)`` for a task name, or (condition='text') a description."""
        if not self.is_built:
            raise ConfigError("expected a fitted AdapterHypernet, got one with no tasks yet; call fit(tasks) (or build(tasks)) first")
        if isinstance(task, AdapterTask):
            task, label_names = task.description or task.name, task.label_names or label_names
        label_names = _label_names(label_names)
        if not isinstance(task, str):
            raise ConditionError(
                f"expected a task name or description (str), got {type(task).__name__}; pass a task name or description (str)"
            )
        if task in self.tasks_:
            info = self.tasks_[task]
            if label_names is not None and info.label_names is not None and list(label_names) != info.label_names:
                raise ConditionError(
                    f"expected label_names {info.label_names} (task {task!r} was fitted with them), got {list(label_names)}; "
                    "leave label_names out for it"
                )
            return (task if self.condition_kind == "task" else str(info.description)), info
        if not task.strip():
            raise ConditionError("expected a non-empty task description, got an empty string; describe the task in one sentence")
        if self.condition_kind == "task" or self.generator_kind == "per_task" or self.head_kind == "task":
            raise ConditionError(
                f"expected a task the model was fitted on, one of {sorted(self.tasks_)}, got {task!r}; "
                "pass one of them (a model with condition='task', generator='per_task' or head='task' knows only those)"
            )
        if label_names is None or len(label_names) < 2:
            raise ConditionError(
                f"expected label_names (at least 2 short texts, one per class) for the new task description {task!r}, "
                f"got {label_names!r}; pass label_names=[...]"
            )
        self._check_distinct_labels(task, list(label_names), ConditionError)
        return task, _TaskInfo(-1, task, list(label_names), len(label_names))

    def _rows(self, keys: list[str], infos: list[_TaskInfo]) -> torch.Tensor:
        """The core condition ``(N, in_dim)``: each sample's one-hot task, or its standardised description embedding."""
        if self.condition_kind == "text" and self.generator_kind == "hyper":
            unique = list(dict.fromkeys(keys))
            where = {k: i for i, k in enumerate(unique)}
            mean, std = cast(torch.Tensor, self.description_mean), cast(torch.Tensor, self.description_std)
            rows = (self._describe(unique) - mean) / std
            return rows[torch.tensor([where[k] for k in keys], dtype=torch.long)]
        if self.generator_kind == "shared":
            return torch.ones(len(keys), 1)
        return F.one_hot(torch.tensor([i.index for i in infos], dtype=torch.long), len(self.tasks_)).float()

    def _label_embeddings(self, infos: list[_TaskInfo]) -> tuple[torch.Tensor, torch.Tensor]:
        k_max = max(i.num_classes for i in infos)
        width = self._width()
        emb = torch.zeros(len(infos), k_max, width)
        valid = torch.zeros(len(infos), k_max, dtype=torch.bool)
        for n, info in enumerate(infos):
            assert info.label_names is not None
            emb[n, : info.num_classes] = self.frozen.pooled(info.label_names)
            valid[n, : info.num_classes] = True
        return emb, valid

    # ---- forward -----------------------------------------------------------------------------------
    def embed(self, texts: Sequence[str], tasks: Any, label_names: Sequence[str] | None = None) -> torch.Tensor:
        """L2-normalised mean-pooled embeddings of ``texts`` under each sample's adapter (``tasks``: one, or one per text)."""
        hidden, mask = self.hidden_states(texts, tasks, label_names)
        return F.normalize(mean_pool(hidden, mask), dim=-1)

    def hidden_states(
        self, texts: Sequence[str], tasks: Any, label_names: Sequence[str] | None = None
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """``(last hidden states, attention mask)`` of the adapted base for ``texts``."""
        texts, refs = _per_sample(texts, tasks)
        resolved = [self._resolve(r, label_names) for r in refs]
        return self._hidden(texts, [k for k, _ in resolved], [i for _, i in resolved])

    def _hidden(self, texts: list[str], keys: list[str], infos: list[_TaskInfo]) -> tuple[torch.Tensor, torch.Tensor]:
        inputs = self.frozen.inputs(texts)
        return self.hyper(inputs, self._rows(keys, infos)), inputs["attention_mask"]

    def logits(self, texts: Sequence[str], tasks: Any, label_names: Sequence[str] | None = None) -> torch.Tensor:
        """Class logits ``(N, K_max)``; classes beyond a sample's task get -1e9 (mixed-task batches allowed)."""
        texts, refs = _per_sample(texts, tasks)
        resolved = [self._resolve(r, label_names) for r in refs]
        return self._scores(texts, [k for k, _ in resolved], [i for _, i in resolved])[0]

    def _scores(self, texts: list[str], keys: list[str], infos: list[_TaskInfo]) -> tuple[torch.Tensor, torch.Tensor]:
        """``(logits, adapted pooled embeddings)``."""
        hidden, mask = self._hidden(texts, keys, infos)
        pooled = F.normalize(mean_pool(hidden, mask), dim=-1)
        if self.head_kind == "labels":
            emb, valid = self._label_embeddings(infos)
            out = self.log_temperature.exp() * torch.einsum("nh,nkh->nk", self._mix_unseen(texts, pooled, infos), emb)
        else:
            index = torch.tensor([i.index for i in infos], dtype=torch.long)
            k_max = max(i.num_classes for i in infos)
            out = torch.einsum("nh,nkh->nk", pooled, self.head_weight[index, :k_max]) + self.head_bias[index, :k_max]
            valid = torch.arange(k_max)[None] < torch.tensor([i.num_classes for i in infos])[:, None]
        return out.masked_fill(~valid, _NEG), pooled

    def _mix_unseen(self, texts: list[str], pooled: torch.Tensor, infos: list[_TaskInfo]) -> torch.Tensor:
        """``pooled``, moved toward the frozen embeddings for samples whose task has a label name no fitted task has."""
        mix = check_float(self.unseen_label_mix, "unseen_label_mix", low=0.0, high=1.0, owner="AdapterHypernet")
        if mix == 1.0:
            return pooled
        known = {name for info in self.tasks_.values() for name in info.label_names or ()}
        weight = torch.tensor([1.0 if set(info.label_names or ()) <= known else mix for info in infos], dtype=pooled.dtype)
        if bool((weight == 1.0).all()):
            return pooled
        frozen = self.frozen.pooled(texts).to(pooled.dtype)
        return weight[:, None] * pooled + (1.0 - weight[:, None]) * frozen

    def predict_proba(self, texts: Sequence[str], task: Any, label_names: Sequence[str] | None = None, batch_size: int = 64) -> np.ndarray:
        """Class probabilities ``(N, K)`` of ``texts`` for one task (a fitted task's name, or a description with ``label_names``).

        ``texts``: a sequence of strings, or one string (one text, ``N = 1``).
        """
        texts = _texts(texts)
        batch_size = check_int(batch_size, "batch_size", low=1, owner="predict_proba", error=ConditionError, hint="pass e.g. batch_size=64")
        _, info = self._resolve(task, label_names)
        out = []
        with torch.no_grad():
            for i in range(0, len(texts), batch_size):
                chunk = texts[i : i + batch_size]
                out.append(torch.softmax(self.logits(chunk, [task] * len(chunk), label_names)[:, : info.num_classes], dim=-1))
        return torch.cat(out).numpy() if out else np.zeros((0, info.num_classes), np.float32)

    def predict(self, texts: Sequence[str], task: Any, label_names: Sequence[str] | None = None, batch_size: int = 64) -> np.ndarray:
        """Predicted class indices ``(N,)`` of ``texts`` for one task (one string is one text)."""
        return self.predict_proba(texts, task, label_names, batch_size).argmax(-1)

    # ---- export ------------------------------------------------------------------------------------
    def adapter(self, task: Any, path: str | Path | None = None, label_names: Sequence[str] | None = None) -> Any:
        """The generated LoRA of one task (name or description) as a standalone PEFT adapter.

        Returns a ``peft.PeftModel`` on a copy of the frozen base; with ``path``, writes it there with
        PEFT's ``save_pretrained`` (``adapter_config.json`` + ``adapter_model.safetensors``) and returns the path.
        ``PeftModel.from_pretrained(fresh_base, path)`` then gives this recipe's hidden states for that task.
        """
        if path is not None and not isinstance(path, str | Path):
            raise ConfigError(f"expected path to be None, a str or a pathlib.Path, got {describe(path)}; pass a directory path")
        key, info = self._resolve(task, label_names)
        with torch.no_grad():
            weights = self.hyper.generate(self._rows([key], [info]))
        model = peft_lora(self.runner.model, {n: weights[n] for n in self.adapter_names})
        if path is None:
            return model
        model.save_pretrained(str(path))
        return Path(path)

    # ---- training ----------------------------------------------------------------------------------
    def fit(
        self,
        tasks: Sequence[Any],
        *,
        steps: int = 300,
        batch_size: int = 32,
        lr: float = 1e-3,
        weight_decay: float = 0.0,
        base_reg: float = 0.0,
        checkpoint_dir: str | Path | None = None,
        checkpoint_every: int = 100,
        resume: bool = False,
        callback: Callable[[int, float], None] | None = None,
    ) -> AdapterHypernet:
        """Train on ``tasks`` with task-balanced mixed-task batches (each sample draws a task, then an example).

        The trainable parts are created for these tasks (a new set of task names starts from scratch; the same
        names continue training).

        Args:
            tasks: :class:`AdapterTask` objects (or mappings) with texts and labels.
            steps, batch_size, lr, weight_decay: AdamW optimisation.
            base_reg: regularise toward the frozen base (0.3 with ``unseen_label_mix=0.5`` for new kinds of task, chosen on
                validation categories; see the README): adds ``base_reg * mean(1 - cos(adapted, frozen))`` over the
                batch's text embeddings, so the adapted space stays close to the one the label names live in (what
                descriptions of unseen kinds of task rely on). 0 turns it off.
            checkpoint_dir: write checkpoints there every ``checkpoint_every`` steps and at the end
                (through ``hypernet.training.checkpoint``); ``resume=True`` continues from the newest one.
            callback: called as ``callback(step, loss)`` after each step.
        """
        from ...training.checkpoint import latest_checkpoint, save_checkpoint
        from ...training.loop import checked_step

        steps = check_int(steps, "steps", low=0, owner="fit", hint="pass e.g. steps=300")
        batch_size = check_int(batch_size, "batch_size", low=1, high=1 << 16, owner="fit", hint="pass e.g. batch_size=32")
        checkpoint_every = check_int(checkpoint_every, "checkpoint_every", low=1, owner="fit", hint="pass e.g. checkpoint_every=100")
        lr = check_float(lr, "lr", low=0.0, low_open=True, owner="fit")
        weight_decay = check_float(weight_decay, "weight_decay", low=0.0, owner="fit")
        base_reg = check_float(base_reg, "base_reg", low=0.0, owner="fit")
        if callback is not None and not callable(callback):
            raise ConfigError(f"expected callback to be None or a callable (step, loss), got {describe(callback)}; pass a function")
        if checkpoint_dir is not None and not isinstance(checkpoint_dir, str | Path):
            raise ConfigError(
                f"expected checkpoint_dir to be None, a str or a pathlib.Path, got {describe(checkpoint_dir)}; "
                "pass None, a str or a pathlib.Path"
            )
        checked = check_tasks(tasks, need_description=self.condition_kind == "text", need_label_names=self.head_kind == "labels")
        empty = [t.name for t in checked if not t.texts]
        if empty:
            raise ConfigError(
                f"expected labelled texts for every task to fit, got none for {empty}; give them texts and labels, or leave them out"
            )
        if not self.is_built or sorted(self.tasks_) != sorted(t.name for t in checked):
            self.build(checked)
        if self.frozen.start is not None:
            self.frozen.lower([x for t in checked for x in t.texts])
        sampler = torch.Generator().manual_seed(self.seed)
        params = [p for p in self.parameters() if p.requires_grad]
        optimizer = torch.optim.AdamW(params, lr=lr, weight_decay=weight_decay)
        start = 0
        if resume and checkpoint_dir is not None:
            ckpt = latest_checkpoint(checkpoint_dir)
            if ckpt is not None:
                ckpt.restore(self, optimizer)
                sampler.set_state(ckpt.tensors["rng/sampler"])
                start = ckpt.step
        infos = [self.tasks_[t.name] for t in checked]
        keys = [t.name if self.condition_kind == "task" else str(t.description) for t in checked]
        if base_reg > 0:
            self.frozen.pooled([x for t in checked for x in t.texts])
        self.train()
        for step in range(start, steps):
            which = torch.randint(len(checked), (batch_size,), generator=sampler).tolist()
            picks = [int(torch.randint(len(checked[w].texts), (1,), generator=sampler)) for w in which]
            texts = [checked[w].texts[p] for w, p in zip(which, picks, strict=True)]
            labels = torch.tensor([int(checked[w].labels[p]) for w, p in zip(which, picks, strict=True)])
            logits, pooled = self._scores(texts, [keys[w] for w in which], [infos[w] for w in which])
            loss = F.cross_entropy(logits, labels)
            if base_reg > 0:
                loss = loss + base_reg * (1.0 - (pooled * self.frozen.pooled(texts)).sum(-1)).mean()
            step_loss = checked_step(
                loss, optimizer, params, where=f"step {step + 1} of AdapterHypernet.fit", fix="lower lr, weight_decay or base_reg",
                first=step == start,
            )  # fmt: skip
            if callback is not None:
                callback(step + 1, step_loss)
            done = step + 1
            if checkpoint_dir is not None and (done % checkpoint_every == 0 or done == steps):
                save_checkpoint(
                    checkpoint_dir,
                    step=done,
                    model=self,
                    optimizer=optimizer,
                    tensors={"rng/sampler": sampler.get_state()},
                    extra={"tasks": sorted(self.tasks_)},
                    keep_last=2,
                )
        self.eval()
        return self


def _frozen_copy(base: Any) -> nn.Module:
    if not isinstance(base, nn.Module):
        raise ConfigError(
            f"expected the base to be a torch nn.Module (a Hugging Face model), got {type(base).__name__}; "
            "pass e.g. transformers.AutoModel.from_pretrained(...)"
        )
    if not any(p.is_floating_point() for p in base.parameters()):
        raise ConfigError(
            f"expected a base with floating-point parameters to freeze, got {type(base).__name__} with none; "
            "pass a pretrained model such as transformers.AutoModel"
        )
    try:
        frozen = copy.deepcopy(base)
    except Exception as exc:
        raise ConfigError(
            f"expected a base that can be copied to be frozen, got {type(base).__name__} ({exc}); pass a plain nn.Module"
        ) from None
    frozen.requires_grad_(False)
    return frozen.eval()


def _is_index(value: Any) -> bool:
    return isinstance(value, int | np.integer) and not isinstance(value, bool)


def _texts(texts: Any) -> list[str]:
    """``texts`` as a list of strings (one string is one text); anything else raises :class:`ConditionError`."""
    if isinstance(texts, str):
        return [texts]
    if isinstance(texts, Sequence | np.ndarray) and not isinstance(texts, bytes):
        bad = [t for t in texts if not isinstance(t, str)]
        if not bad:
            return [str(t) for t in texts]
        raise ConditionError(
            f"expected texts to be strings, got {describe(bad[0])} among them; pass a list of strings such as ['first text', 'second']"
        )
    raise ConditionError(f"expected texts to be a string or a sequence of strings, got {describe(texts)}; pass e.g. ['a text', 'another']")


def _label_names(names: Any) -> list[str] | None:
    """``label_names`` as a list of strings, or None; a single string or non-strings raise :class:`ConditionError`."""
    if names is None:
        return None
    if isinstance(names, str) or not isinstance(names, Sequence | np.ndarray) or not all(isinstance(n, str) for n in names):
        raise ConditionError(
            f"expected label_names to be a sequence of strings (one per class), got {describe(names)}; pass e.g. ['sport', 'politics']"
        )
    return [str(n) for n in names]


def _per_sample(texts: Sequence[str], tasks: Any) -> tuple[list[str], list[Any]]:
    texts = _texts(texts)
    refs = list(tasks) if isinstance(tasks, list | tuple) else [tasks] * len(texts)
    if len(refs) != len(texts):
        raise ConditionError(
            f"expected one task per text ({len(texts)}), got {len(refs)}; pass one task for all or a list as long as texts"
        )
    return texts, refs
