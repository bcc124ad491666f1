"""``recipe: t2l`` for ``hypernet train`` and ``hypernet generate RUN PROMPT --cond DESCRIPTION``: :class:`TextToLoRA`.

``examples/t2l.yaml`` trains in well under a minute: a random 2-layer Llama built from a config (no
download) on the string tasks of :mod:`hypernet.data.lm_tasks` (reverse the words, upper-case, ...).
``model.base: smollm2`` uses the fetched SmolLM2-135M-Instruct (``hypernet data fetch smollm2``), and
``data.corpora: true`` adds the BBC News and fortune tasks (``hypernet data fetch bbc`` and ``fortunes``).
Evaluation is exact match of greedy answers: seen tasks with their canonical description, and, with
``condition: text``, the held-out tasks zero-shot, described with a phrasing no training task uses.

Example:
    >>> from hypernet.cli.config import validate
    >>> validate({"recipe": "t2l", "name": "t", "data": {"tasks": ["reverse_words", "no_such_task"]}}, "t.yaml")
    Traceback (most recent call last):
    ...
    hypernet.errors.ConfigError: invalid config t.yaml: key 'data.tasks': ...
"""

from __future__ import annotations

import statistics
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Annotated, Any, Literal, cast

from pydantic import Field, field_validator
from torch import nn

from ...cli.config import RunConfig, Section
from ...cli.registry import Recipe, RunContext, register_recipe
from ...data import lm_tasks
from ...data.lm_tasks import GenerationTask
from ...errors import ConfigError
from ...training.checkpoint import latest_checkpoint
from ...training.errors import UsageError
from ...training.logger import RunLogger
from ...training.loop import FitResult
from ...training.progress import Progress
from .text_to_lora import TextToLoRA

STRING_TASKS = lm_tasks.TRAIN_PRIMITIVES + tuple(n for n in lm_tasks.TRAIN if "+" in n)
"""The training tasks of the benchmark without the corpus ones (those need fetched data)."""


def _known(names: list[str] | None) -> list[str] | None:
    every = set(lm_tasks.string_tasks(n=1))
    unknown = [n for n in names or [] if n not in every]
    if unknown:
        raise ValueError(f"expected names of string tasks, got unknown {unknown}; use some of: {', '.join(sorted(every))}")
    twice = sorted({n for n in names or [] if (names or []).count(n) > 1})
    if twice:
        raise ValueError(f"expected each task once, got {twice} more than once; list each task once")
    return names


class T2LModelSection(Section):
    """``model:`` the frozen causal LM and the hypernetwork generating its LoRA."""

    base: str = Field(default="tiny", description="tiny (random Llama, no download) | smollm2 (fetched) | a converted model directory")
    width: int = Field(default=32, ge=8, le=1024, description="tiny only: hidden size")
    layers: int = Field(default=2, ge=1, le=12, description="tiny only: decoder layers")
    condition: Literal["text", "task"] = "text"
    rank: int = Field(default=4, ge=1, le=256)
    target_modules: list[str] = Field(default_factory=lambda: ["q_proj", "v_proj"], min_length=1)
    cond_dim: int = Field(default=32, ge=1, le=4096)
    hidden: list[Annotated[int, Field(ge=1, le=16384)]] = Field(default_factory=lambda: [64], min_length=1, max_length=8)
    layer_dim: int = Field(default=8, ge=1, le=4096)
    max_length: int = Field(default=64, ge=8, le=4096, description="tokens kept per prompt + answer")
    max_new_tokens: int = Field(default=16, ge=1, le=512, description="answer length at evaluation")


class T2LDataSection(Section):
    """``data:`` generation tasks with exact-match answers (:mod:`hypernet.data.lm_tasks`)."""

    tasks: list[str] | None = Field(default=None, min_length=1, description="training string tasks (default: every training string task)")
    held_out: list[str] | None = Field(
        default=None, description="condition text only: tasks evaluated zero-shot (default: the held-out new operations and compositions)"
    )
    corpora: bool = Field(default=False, description="also train on the BBC topic / title and fortune category tasks (fetched data)")
    per_task: int = Field(default=64, ge=1, description="training examples per task")
    eval_per_task: int = Field(default=16, ge=1, description="evaluation examples per task (never trained on)")

    _tasks_known = field_validator("tasks", "held_out")(_known)


class T2LConfig(RunConfig):
    """Config of the ``t2l`` recipe: AdamW for ``train.max_steps`` steps (``train.epochs``, ``eval_every`` are not used).

    ``train.optimizer`` may be ``adamw`` or ``adam`` (both train with AdamW and ``weight_decay``, as the benchmark);
    ``sgd`` and ``grad_clip`` are refused. ``checkpoint_every``, ``keep_last`` and ``log_every`` apply.
    """

    recipe: Literal["t2l"] = "t2l"
    model: T2LModelSection = Field(default_factory=T2LModelSection)
    data: T2LDataSection = Field(default_factory=T2LDataSection)


def _tasks(config: T2LConfig) -> tuple[dict[str, GenerationTask], list[str], list[str]]:
    """``(every task, training task names, held-out task names)``; the first ``per_task`` examples train."""
    d = config.data
    n = d.per_task + d.eval_per_task
    tasks = lm_tasks.string_tasks(n=n, seed=config.seed)
    train = list(d.tasks if d.tasks is not None else STRING_TASKS)
    if d.corpora:
        from ...data.text_corpora import load_bbc, load_fortunes

        tasks.update(lm_tasks.corpus_tasks(load_bbc(), load_fortunes(), n=n, seed=config.seed))
        train += [t for t in lm_tasks.CORPUS_TASKS if t not in train]
    held = (
        []
        if config.model.condition == "task"
        else list(d.held_out if d.held_out is not None else lm_tasks.HELD_OUT_NEW + lm_tasks.HELD_OUT_COMPOSED)
    )
    overlap = sorted(set(train) & set(held))
    if overlap:
        raise UsageError(f"expected held-out tasks that are not trained on, got {overlap} in both; remove them from data.held_out")
    return tasks, train, held


def _training_set(config: T2LConfig, tasks: dict[str, GenerationTask], names: Sequence[str]) -> dict[str, Any]:
    per = config.data.per_task
    return {n: (list(tasks[n].descriptions), tasks[n].examples[:per]) for n in names}


def _base(config: T2LConfig) -> tuple[nn.Module, Any]:
    m = config.model
    if m.base == "tiny":
        from ._tiny_lm import tiny_llama

        return cast(tuple[nn.Module, Any], tiny_llama(config.seed, _tiny_vocabulary(), m.layers, m.width))
    from ...data.smollm2 import load_smollm2

    return cast(tuple[nn.Module, Any], load_smollm2(None if m.base == "smollm2" else m.base))


def _tiny_vocabulary() -> tuple[str, ...]:
    """The words of the string tasks' inputs and descriptions (lower case), for the tiny model's word-level tokenizer."""
    said = {
        w.strip(".,:;!?'\"").lower()
        for t in lm_tasks.string_tasks(n=1).values()
        for d in (*t.descriptions, t.unseen_phrasing)
        for w in d.split()
    }
    return tuple(lm_tasks.WORDS) + tuple(sorted(said))


def _model(model: nn.Module) -> TextToLoRA:
    if not isinstance(model, TextToLoRA):
        raise UsageError(
            f"expected a run of the t2l recipe (a TextToLoRA), got a {type(model).__name__}; pass the run directory of a t2l run"
        )
    return model


@register_recipe("t2l")
class TextToLoRARecipe(Recipe):
    """Train a :class:`TextToLoRA` on mixed-task batches; checkpoints (the hypernetwork only) in ``<run>/checkpoints``."""

    config_class = T2LConfig

    def build_model(self, config: T2LConfig) -> TextToLoRA:
        base, tokenizer = _base(config)
        m = config.model
        model = TextToLoRA(
            base,
            tokenizer,
            condition=m.condition,
            rank=m.rank,
            target_modules=m.target_modules,
            cond_dim=m.cond_dim,
            hidden=m.hidden,
            layer_dim=m.layer_dim,
            max_length=m.max_length,
            seed=config.seed,
        )
        tasks, train, _ = _tasks(config)
        return model.build(_training_set(config, tasks, train))

    def train(self, config: T2LConfig, ctx: RunContext) -> FitResult:
        started = time.perf_counter()
        t = config.train
        if t.optimizer == "sgd" or t.grad_clip is not None:
            raise ConfigError(
                f"expected train.optimizer 'adamw' (or 'adam') without grad_clip for the t2l recipe (AdamW), "
                f"got optimizer {t.optimizer!r} with grad_clip {t.grad_clip}; set train.optimizer: adamw and leave grad_clip out"
            )
        if ctx.dist.world_size > 1:
            raise ConfigError(
                f"expected one process for the t2l recipe, got {ctx.dist.world_size} (torchrun); run `hypernet train` without torchrun"
            )
        model = self.build_model(config)
        tasks, train, _ = _tasks(config)
        steps = t.max_steps or 200
        directory = ctx.run_dir / "checkpoints"
        losses: list[float] = []
        opened: dict[str, Any] = {}

        def open_logs(start: int) -> None:  # at the step fit resumed from, which only fit knows (it may skip a damaged checkpoint)
            opened.update(start=start, bar=Progress(steps, ctx.progress, initial=start, desc="t2l"))
            opened["logger"] = RunLogger(ctx.run_dir, resume_step=start if ctx.resume else None)

        def log(step: int, loss: float) -> None:
            if not opened:
                open_logs(step)
            losses.append(loss)
            if (step + 1) % t.log_every == 0 or step + 1 == steps:
                opened["logger"].log(step + 1, 0, {"train/loss": loss})
            opened["bar"].update({"loss": loss})

        try:
            model.fit(
                _training_set(config, tasks, train),
                steps=steps,
                batch_size=t.batch_size,
                lr=t.lr,
                weight_decay=t.weight_decay,
                log=log,
                checkpoint_dir=directory,
                checkpoint_every=t.checkpoint_every or steps,
                keep_last=t.keep_last,
                resume=ctx.resume,
            )
        finally:
            if opened:
                opened["bar"].close()
        if not opened:  # a finished run resumed: nothing left to train
            open_logs(steps)
            opened["bar"].close()
        logger = opened["logger"]
        metrics = {f"eval/{k}": v for k, v in self.evaluate(config, model).items()}
        logger.log(steps, 0, metrics)
        logger.finish(
            {"name": config.name, "recipe": config.recipe, "steps": steps, "trainable_parameters": model.num_parameters, **metrics}
        )
        ckpt = latest_checkpoint(directory)
        return FitResult(
            steps=steps,
            epochs=0,
            losses=losses,
            metrics=metrics,
            seconds=time.perf_counter() - started,
            run_dir=ctx.run_dir,
            checkpoint=None if ckpt is None else ckpt.path,
            resumed_from=opened["start"] if ctx.resume and opened["start"] else None,
        )

    def evaluate(self, config: T2LConfig, model: nn.Module) -> dict[str, float]:
        """Exact match (%) per task on examples never trained on, and the means of the seen and held-out groups."""
        t2l = _model(model)
        tasks, train, held = _tasks(config)
        per, new = config.data.per_task, config.model.max_new_tokens
        out: dict[str, float] = {}
        for group, names in (("seen", train), ("held_out", held)):
            scores = []
            for name in names:
                task = tasks[name]
                shown = name if group == "seen" else task.unseen_phrasing
                scores.append(100.0 * t2l.exact_match(task.examples[per:], shown, max_new_tokens=new))
                out[f"em_{name}"] = scores[-1]
            if scores:
                out[f"em_{group}"] = statistics.fmean(scores)
        return out

    def parse_cond(self, config: T2LConfig, text: str | None) -> str:
        """``--cond`` is a task name of the run or, with ``condition: text``, any description."""
        if text is None or not text.strip():
            raise UsageError(
                f"expected --cond to be a task name of the run or a task description, got {text!r}; pass e.g. --cond reverse_words"
            )
        return text

    def materialize(self, config: T2LConfig, model: nn.Module, cond: Any) -> nn.Module:
        """The frozen LM with the LoRA generated for ``cond`` merged into its weights (PEFT's ``merge_and_unload``).

        ``TextToLoRA.adapter(task, path)`` writes the unmerged PEFT adapter directory instead.
        """
        import tempfile

        from peft import PeftModel

        t2l = _model(model)
        with tempfile.TemporaryDirectory() as tmp:
            t2l.adapter(cond, tmp)
            base = _base(config)[0]
            return cast(nn.Module, PeftModel.from_pretrained(base, tmp).merge_and_unload())


def generate_run(
    run_dir: str | Path, prompts: Sequence[str], cond: str, *, max_new_tokens: int = 32, do_sample: bool = False, seed: int | None = None
) -> list[str]:
    """Answers of a trained t2l run's LM, adapted to ``cond`` (a task name of the run or a new description)."""
    from ...cli.runs import load_run

    if not prompts or not all(p.strip() for p in prompts):
        raise UsageError(f"expected one or more non-empty prompts, got {list(prompts)!r}; pass the text to answer")
    if not 1 <= max_new_tokens <= 4096:
        raise UsageError(f"expected --max-new-tokens between 1 and 4096, got {max_new_tokens}; pass e.g. --max-new-tokens 32")
    if seed is not None and not 0 <= seed < 2**63:
        raise UsageError(f"expected --seed between 0 and 2**63 - 1, got {seed}; pass e.g. --seed 0")
    if seed is not None and not do_sample:
        raise UsageError(
            f"expected --seed only with --sample (greedy decoding draws nothing), got --seed {seed}; add --sample or drop --seed"
        )
    config, recipe, model = load_run(run_dir)
    t2l = _model(model)
    return t2l.generate(list(prompts), recipe.parse_cond(config, cond), max_new_tokens=max_new_tokens, do_sample=do_sample, seed=seed)
