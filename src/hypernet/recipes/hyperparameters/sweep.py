"""One model for a whole range of hyperparameters: :class:`HyperparameterSweep`.

Lorraine & Duvenaud ("Stochastic Hyperparameter Optimization through Hypernetworks", 2018)
train a hypernetwork ``w(λ)`` on the training loss at randomly drawn hyperparameters ``λ``,
so that it approximates the best-response weights over a whole range; the validation loss
of ``w(λ)`` then traces the curve a grid of separately trained models would give, at the
cost of about one training. Ortiz et al. (MIP, 2023) make such hypernetworks train stably
with a residual parametrization and the ``[x, 1 - x]`` input encoding (``init="mip"``, the
default here). Hyperparameters are mapped to the unit cube (log scale for
:class:`~hypernet.LogUniform`) before they condition the model.

Each training batch gets ``per_batch`` distinct hyperparameter values (stratified draws),
one per group of samples, and runs in *one* batched call of the
:class:`~hypernet.HyperModel` (per-sample conditions, no Python loop over samples).
Training runs on :func:`hypernet.training.fit`, the loop every recipe shares.
"""

from __future__ import annotations

import copy
import functools
import itertools
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from typing import Any

import torch
from torch import nn

from ..._boundary import guarded
from ..._model import HyperModel
from ..._modes import eval_mode
from ..._spec import Selector
from ..._validation import check_int
from ...conditions import Continuous
from ...errors import ConditionError, ConfigError, HypernetError, describe
from ...generators import Generator
from ...generators.gated import GatedGenerator
from ...training import distributed
from ...training.loop import Callback, FitResult, TrainState, fit, to_device
from .._common import MetricFn, accuracy, adam, cross_entropy, evaluate_module
from .curve import Curve
from .ranges import HyperparameterSpace, LogUniform, Range, Uniform
from .step import BETAS, EPS, HyperStep

__all__ = [
    "Curve",
    "DataLoss",
    "HyperStep",
    "HyperparameterSpace",
    "HyperparameterSweep",
    "LogUniform",
    "Uniform",
    "cross_entropy",
    "evaluate_module",
]

LossFn = Callable[[Any, Any, dict[str, torch.Tensor]], torch.Tensor]


class DataLoss:
    """The default validation metric of a sweep: the user's own loss at the point being evaluated.

    ``loss(output, y, hp)`` is called with every hyperparameter at the value of the curve's
    current point (the centre of the current estimate, :attr:`HyperparameterSweep.hp_`, outside
    :meth:`HyperparameterSweep.curve`), so a regression loss gives a regression curve. The
    weight-decay term is not part of it (it is not a data loss).
    """

    def __init__(self, sweep: HyperparameterSweep) -> None:
        self._sweep = [sweep]  # a list: not a submodule, no reference cycle in state_dict
        self.point: dict[str, float] | None = None

    def __call__(self, output: Any, y: Any) -> torch.Tensor:
        sweep = self._sweep[0]
        n = len(y)
        point = self.point if self.point is not None else sweep.hp_
        ref = y if isinstance(y, torch.Tensor) else sweep.center
        hp = {k: torch.full((n,), float(v), device=ref.device) for k, v in point.items()}
        try:
            value = sweep.loss_fn(output, y, hp)
        except Exception as exc:
            raise ConfigError(
                f"expected the sweep's loss(output, y, hp) to evaluate validation batches (the default validation metric is "
                f"your own loss at each point), got {type(exc).__name__}: {exc}; pass metrics={{'name': fn(output, y)}}"
            ) from exc
        if not isinstance(value, torch.Tensor) or value.dim() > 1 or (value.dim() == 1 and len(value) != n):
            raise ConfigError(
                f"expected the sweep's loss to return a scalar or per-sample (B,) losses, got {describe(value)}; "
                "pass metrics={'name': fn(output, y)} to say how to validate"
            )
        return value.mean()


def _is_classification(output: Any, y: Any) -> bool:
    return (
        isinstance(output, torch.Tensor)
        and isinstance(y, torch.Tensor)
        and output.dim() == 2
        and output.shape[1] >= 2
        and y.shape == output.shape[:1]
        and not y.dtype.is_floating_point
    )


def _positive_int(name: str, value: Any) -> int:
    return check_int(value, name, low=1, owner="HyperparameterSweep")


@guarded(mutating=("fit", "train_single"))
class HyperparameterSweep(nn.Module):
    """A hypernetwork trained over a range of hyperparameters, then queried at any value.

    Args:
        target: any ``nn.Module`` (its weights are generated; it is never rewritten).
        loss: ``loss(output, y, hp) -> loss``, where ``hp`` maps every hyperparameter name to a
            ``(B,)`` tensor of per-sample values; return per-sample losses ``(B,)`` or their mean.
        space: ``{"name": hn.LogUniform(low, high) | hn.Uniform(low, high)}`` (or one range, named ``"hp"``).
        weight_decay: name of a hyperparameter used as an L2 strength: the loss gets
            ``λ · Σ ||W||²`` over the target's weight matrices (tensors with 2+ dims), computed
            on every sample's own generated weights. ``None``: no weight decay.
        metrics: validation metrics ``{name: fn(output, y) -> scalar}`` for :meth:`curve`; the
            first one is what :meth:`best` and the hyper-step minimise. Default: ``"loss"``, your
            own ``loss`` at each point (:class:`DataLoss`; a regression loss gives a regression
            curve), plus ``"acc"`` in :meth:`curve` when the outputs are class logits ``(B, C)``
            with integer labels.
        generator: a registered generator name, an unbound :class:`~hypernet.Generator`, or
            ``None`` for a gated (STN-style) generator with per-row gains on the base
            (``hypernet.generators.gated.GatedGenerator(gain=True)``).
        init: :class:`~hypernet.HyperModel` initialisation; ``"mip"`` (default): residual weights
            and the ``[x, 1 - x]`` encoding of the hyperparameters.
        embedding_dim: size of the hyperparameter embedding (a :class:`~hypernet.Continuous` condition).
        per_batch: distinct hyperparameter values drawn for each training batch.
        generate: which target parameters are generated (``"all"`` or globs; the rest are shared).
        generator_kwargs: arguments for a named generator.

    Attributes:
        model: the :class:`~hypernet.HyperModel`; space: the :class:`HyperparameterSpace`.
        curve_: the last :class:`Curve` computed by :meth:`curve`.
        hp_: the hyperparameters reached by the hyper-step (after ``fit(hyper_step=...)``).
        hyper_history_: one dict per hyper-step (``step``, the values, ``val_loss``).

    Example:
        >>> import torch, hypernet as hn
        >>> from torch import nn
        >>> from torch.utils.data import DataLoader, TensorDataset
        >>> _ = torch.manual_seed(0)
        >>> x = torch.randn(128, 8); y = (x[:, 0] > 0).long()
        >>> data = DataLoader(TensorDataset(x, y), batch_size=32)
        >>> def loss(out, y, hp):
        ...     return nn.functional.cross_entropy(out, y)
        >>> sweep = hn.HyperparameterSweep(nn.Sequential(nn.Linear(8, 16), nn.ReLU(), nn.Linear(16, 2)), loss,
        ...                                {"l2": hn.LogUniform(1e-4, 1e-1)}, weight_decay="l2")
        >>> _ = sweep.fit(data, epochs=5, lr=1e-2)
        >>> curve = sweep.curve([1e-4, 1e-2, 1e-1], data)
        >>> len(curve), sorted(curve.metrics)
        (3, ['acc', 'loss'])
        >>> sorted(sweep.best())
        ['l2']
        >>> net = sweep.materialize(1e-3)          # a plain nn.Sequential
        >>> torch.allclose(net(x), sweep(x, 1e-3), atol=1e-5)
        True
    """

    center: torch.Tensor
    hyper_m: torch.Tensor
    hyper_v: torch.Tensor
    hyper_steps: torch.Tensor
    decay_mask: torch.Tensor

    def __init__(
        self,
        target: nn.Module,
        loss: LossFn,
        space: Mapping[str, Range] | Range,
        *,
        weight_decay: str | None = None,
        metrics: Mapping[str, MetricFn] | None = None,
        generator: str | Generator | None = None,
        init: str = "mip",
        embedding_dim: int = 32,
        per_batch: int = 4,
        generate: Selector = "all",
        generator_kwargs: dict[str, Any] | None = None,
    ) -> None:
        super().__init__()
        if not isinstance(target, nn.Module):
            raise ConfigError(f"expected target to be an nn.Module, got {describe(target)}; pass the torch model to train")
        if not callable(loss):
            raise ConfigError(
                f"expected loss to be a callable loss(output, y, hp), got {describe(loss)}; "
                "pass e.g. lambda out, y, hp: F.cross_entropy(out, y)"
            )
        self.space = HyperparameterSpace(space)
        if weight_decay is not None and weight_decay not in self.space:
            raise ConfigError(
                f"expected weight_decay to name a hyperparameter in {self.space.names} (or None), got {weight_decay!r}; "
                "pass one of those names"
            )
        self._default_metrics = metrics is None
        self.data_loss = DataLoss(self)
        self.metrics: dict[str, MetricFn] = dict(metrics) if metrics is not None else {"loss": self.data_loss, "acc": accuracy}
        if not self.metrics or not all(callable(f) for f in self.metrics.values()):
            raise ConfigError(
                f"expected metrics as a non-empty dict of name -> fn(output, y), got {describe(metrics)}; pass e.g. {{'acc': accuracy}}"
            )
        self.per_batch = _positive_int("per_batch", per_batch)
        _positive_int("embedding_dim", embedding_dim)
        if generator is None:
            if generator_kwargs:
                raise ConfigError(
                    "expected generator_kwargs only with a generator name, got them with generator=None; "
                    "pass generator='mlp' (or another name) with them"
                )
            generator = GatedGenerator(gain=True)
        self.loss_fn = loss
        self.weight_decay = weight_decay
        self.initial_target = copy.deepcopy(target)  # what train_single() starts from
        for p in self.initial_target.parameters():
            p.requires_grad_(False)
        condition = Continuous(len(self.space), embedding_dim, encoding="mip" if init == "mip" else "identity")
        self.model = HyperModel(
            target, condition=condition, generator=generator, generate=generate, init=init, generator_kwargs=generator_kwargs
        )
        spec = self.model.spec
        self.register_buffer("decay_mask", spec.per_element([1.0 if t.is_matrix else 0.0 for t in spec.tensors]))
        generated = set(spec.names)
        self._shared_matrices = [n for n, p in target.named_parameters() if n not in generated and p.dim() >= 2]
        self.register_buffer("center", torch.full((len(self.space),), 0.5))
        self.register_buffer("hyper_m", torch.zeros(len(self.space)))
        self.register_buffer("hyper_v", torch.zeros(len(self.space)))
        self.register_buffer("hyper_steps", torch.zeros((), dtype=torch.long))
        self.local_width: float | None = None
        self.curve_: Curve | None = None
        self.hyper_history_: list[dict[str, float]] = []

    # ----------------------------------------------------------------- conditions
    @property
    def hp_(self) -> dict[str, float]:
        """The current estimate of the hyper-step (the middle of the space before any hyper-step)."""
        return {k: float(v) for k, v in self.space.from_unit(self.center).items()}

    def to_unit(self, hp: Any) -> torch.Tensor:
        """Hyperparameters (a dict, or a float for a 1-d space) -> the ``(D,)`` unit-cube condition."""
        return self.space.to_unit(hp, device=self.center.device, dtype=self.center.dtype)

    def sample_unit(self, batch_size: int) -> torch.Tensor:
        """``(batch_size, D)`` unit-cube conditions holding ``per_batch`` distinct values (one per group of samples).

        Values are stratified per hyperparameter (a Latin hypercube over the unit cube), or drawn
        around the hyper-step's estimate while a hyper-step runs. A range's ``p_low`` sets that
        share of the values (``p_low * per_batch`` on average, rounded at random) to exactly ``low``.
        """
        k = min(self.per_batch, batch_size)
        d = len(self.space)
        device = self.center.device
        if self.local_width is not None:
            values = (self.center + self.local_width * torch.randn(k, d, device=device)).clamp(0, 1)
        else:
            strata = torch.stack([torch.randperm(k, device=device) for _ in range(d)], dim=1)
            values = (strata + torch.rand(k, d, device=device)) / k
            for j, rng in enumerate(self.space.values()):
                if rng.p_low > 0:
                    expected = rng.p_low * k
                    n_low = int(expected) + int(float(torch.rand(())) < expected - int(expected))
                    values[torch.randperm(k, device=device)[:n_low], j] = 0.0
        return values[torch.arange(batch_size, device=device) % k]

    # -------------------------------------------------------------------- forward
    def forward(self, x: Any, hp: Any = None, *, unit: torch.Tensor | None = None, with_weight_decay: bool = False) -> Any:
        """The target's output on ``x`` with weights generated for ``hp``.

        Args:
            x: the target's input.
            hp: hyperparameters as a dict (or a float for a 1-d space); one weight set for the batch.
            unit: instead of ``hp``, unit-cube conditions: ``(D,)`` or ``(B, D)`` (one per sample).
            with_weight_decay: also return the batch's weight-decay term (training).
        """
        if (hp is None) == (unit is None):
            raise ConditionError(f"expected exactly one of hp= or unit=, got hp={describe(hp)} and unit={describe(unit)}; pass one of them")
        cond = self.to_unit(hp) if unit is None else unit
        if not with_weight_decay:
            return self.model(x, cond)
        weights = self.model.weights(cond)  # generated once, used by the call and by the weight decay
        return self.model.call(weights, x), self._weight_decay(weights)

    def _weight_decay(self, weights: Any) -> torch.Tensor:
        flat = weights.flat[:, : self.model.spec.numel]  # (U, n) the weight sets of the U unique conditions
        if self.weight_decay is None:
            return flat.new_zeros(())
        split = weights.split
        values = split.values  # (U, D) unique conditions, in the order of flat's rows
        squares = (flat.square() * self.decay_mask).sum(dim=1)
        if split.inverse is None:  # one weight set (or one per group): equal shares
            share = squares.new_full((flat.shape[0],), 1.0 / flat.shape[0])
        else:  # fraction of the batch's samples that use each set
            share = torch.bincount(split.inverse, minlength=flat.shape[0]).to(squares) / split.inverse.numel()
        strength = self.space[self.weight_decay].from_unit(values.detach()[:, self.space.names.index(self.weight_decay)])
        decay = (strength * squares * share).sum()
        if self._shared_matrices:
            params = dict(self.model.target.named_parameters())
            shared = sum(params[n].square().sum() for n in self._shared_matrices)
            decay = decay + (strength * share).sum() * shared
        return decay

    def _batch_loss(self, out: Any, y: Any, hp: dict[str, torch.Tensor], batch_size: int) -> torch.Tensor:
        loss = self.loss_fn(out, y, hp)
        if not isinstance(loss, torch.Tensor) or loss.shape not in ((), (1,), (batch_size,)):
            raise ConfigError(
                f"expected loss(output, y, hp) to return a scalar or ({batch_size},) per-sample tensor, got {describe(loss)}; "
                "return F.cross_entropy(..., reduction='none') or a mean"
            )
        return loss.mean()

    def training_step(self, net: nn.Module, batch: Any) -> tuple[torch.Tensor, dict[str, float]]:
        """The step :func:`hypernet.training.fit` runs: draw conditions, one batched call, loss + weight decay."""
        x, y = batch
        n = len(y)
        unit = self.sample_unit(n)
        out, decay = net(x, unit=unit, with_weight_decay=True)
        data = self._batch_loss(out, y, self.space.from_unit(unit), n)
        return data + decay, {"data_loss": float(data.detach()), "weight_decay": float(decay.detach())}

    # ------------------------------------------------------------------- training
    def fit(
        self,
        train_loader: Iterable[Any],
        *,
        epochs: int = 1,
        lr: float = 1e-3,
        optimizer: torch.optim.Optimizer | None = None,
        hyper_step: HyperStep | None = None,
        callbacks: Sequence[Callback] = (),
        progress: bool | None = False,
        device: torch.device | str | None = None,
        **fit_kwargs: Any,
    ) -> FitResult:
        """Train the hypernetwork over the whole space with :func:`hypernet.training.fit`.

        Args:
            train_loader: ``(x, y)`` batches.
            epochs, lr: passes over the data; Adam learning rate (when ``optimizer`` is ``None``).
            optimizer: an optimizer over ``self.parameters()``.
            hyper_step: a :class:`HyperStep` to also optimise the hyperparameters on validation
                data (Lorraine & Duvenaud's joint optimisation); training then draws
                hyperparameters around the current estimate, :attr:`hp_`.
            callbacks, progress, device, fit_kwargs: passed to :func:`hypernet.training.fit`
                (``run_dir``, ``max_steps``, ``checkpoint_every``, ``resume``, ...).
        """
        if hyper_step is not None and not isinstance(hyper_step, HyperStep):
            raise ConfigError(
                f"expected hyper_step to be a hn.HyperStep or None, got {describe(hyper_step)}; pass hn.HyperStep(val_loader=...)"
            )
        optimizer = optimizer if optimizer is not None else adam(self, lr)
        hooks = list(callbacks)
        if hyper_step is not None:
            hooks.append(HyperStepCallback(self, hyper_step, device))
        try:
            return fit(
                self,
                self.training_step,
                train_loader,
                optimizer,
                epochs=epochs,
                callbacks=hooks,
                progress=progress,
                device=device,
                **fit_kwargs,
            )
        finally:
            self.local_width = None

    def train_single(
        self,
        hp: Any,
        train_loader: Iterable[Any],
        *,
        epochs: int = 1,
        lr: float = 1e-3,
        progress: bool | None = False,
        device: torch.device | str | None = None,
        **fit_kwargs: Any,
    ) -> nn.Module:
        """Train a plain copy of the target from its initial weights at fixed ``hp`` (same loss and weight decay).

        This is what a grid search trains once per value, and how a chosen value is retrained
        from scratch. Returns the trained plain module.
        """
        values = self.space.check(hp)
        net = copy.deepcopy(self.initial_target)
        for p in net.parameters():
            p.requires_grad_(True)
        if device is not None:
            net = net.to(device)
        strength = values[self.weight_decay] if self.weight_decay is not None else 0.0

        def step(model: nn.Module, batch: Any) -> torch.Tensor:
            x, y = batch
            full = {k: torch.full((len(y),), v, device=y.device) for k, v in values.items()}
            loss = self._batch_loss(model(x), y, full, len(y))
            if strength:
                loss = loss + strength * sum(p.square().sum() for p in model.parameters() if p.dim() >= 2)
            return loss

        fit(
            net,
            step,
            train_loader,
            adam(net, lr),
            epochs=epochs,
            progress=progress,
            device=device,
            **fit_kwargs,
        )
        return net.eval()

    # ----------------------------------------------------------------- evaluation
    def curve(self, values: Any, val_loader: Iterable[Any], *, metrics: Mapping[str, MetricFn] | None = None) -> Curve:
        """Validation metrics at every point of ``values`` (an int grid size, a list of floats / dicts, or a dict of lists).

        Each point is one batched pass over ``val_loader`` with that point's generated weights
        (a loop over points, never over samples). The result is stored as :attr:`curve_`.
        """
        points = self.space.points(values)
        chosen = dict(metrics) if metrics is not None else dict(self.metrics)
        device = self.center.device
        rows = []
        with eval_mode(self):
            if metrics is None and self._default_metrics and "acc" in chosen:
                first = next(iter(val_loader), None)
                if first is None:
                    raise ConfigError(
                        "expected a validation loader with at least one batch, got an empty one; pass a loader over validation data"
                    )
                batch = to_device(first, device)
                with torch.no_grad():
                    if not _is_classification(self(batch[0], points[0]), batch[1]):
                        del chosen["acc"]  # not class logits: the data loss alone
            try:
                for point in points:
                    self.data_loss.point = point
                    rows.append(evaluate_module(functools.partial(self._at, point), val_loader, chosen, device))
            finally:
                self.data_loss.point = None
        metrics = chosen
        self.curve_ = Curve(points, {name: [r[name] for r in rows] for name in metrics})
        return self.curve_

    def _at(self, hp: dict[str, float], x: Any) -> Any:
        return self(x, hp)

    def best(self, metric: str | None = None, mode: str = "min") -> dict[str, float]:
        """The hyperparameters of the best point of the last :meth:`curve` (lowest first metric by default)."""
        if self.curve_ is None:
            raise HypernetError("expected a validation curve, got none yet; call sweep.curve(values, val_loader) before best()")
        return self.curve_.best(metric, mode)

    @torch.no_grad()
    def generate(self, hp: Any) -> dict[str, torch.Tensor]:
        """The target's full parameter dict for ``hp`` (detached)."""
        return {k: v.detach() for k, v in self.model.generate(self.to_unit(hp)).items()}

    def materialize(self, hp: Any) -> nn.Module:
        """An independent plain copy of the target holding the weights generated for ``hp``."""
        return self.model.materialize(self.to_unit(hp))


class HyperStepCallback(Callback):
    """Runs :class:`HyperStep` inside :func:`hypernet.training.fit` (after optimizer steps)."""

    def __init__(self, sweep: HyperparameterSweep, config: HyperStep, device: torch.device | str | None = None) -> None:
        self.sweep = sweep
        self.config = config
        self.device = device
        self.metric = config.metric if config.metric is not None else next(iter(sweep.metrics.values()))
        self._batches: Iterator[Any] = iter(())

    def _next_batch(self) -> Any:
        batch = next(self._batches, None)
        if batch is None:
            self._batches = itertools.chain.from_iterable(itertools.repeat(self.config.val_loader))
            batch = next(self._batches, None)
            if batch is None:
                raise ConfigError(
                    "expected HyperStep(val_loader=...) to yield batches, got an empty loader; pass a non-empty validation loader"
                )
        return to_device(batch, self.device)

    def on_fit_start(self, state: TrainState) -> None:
        sweep = self.sweep
        if self.config.start is not None and int(sweep.hyper_steps) == 0:
            with torch.no_grad():
                sweep.center.copy_(sweep.space.to_unit(self.config.start, device=sweep.center.device))
        sweep.local_width = float(self.config.width)

    def on_step_end(self, state: TrainState) -> None:
        if state.step % self.config.every != 0:
            return
        sweep = self.sweep
        x, y = self._next_batch()
        center = sweep.center.detach().clone().requires_grad_(True)
        with eval_mode(sweep):
            loss = self.metric(sweep(x, unit=center), y)
            (grad,) = torch.autograd.grad(loss, center)
        if distributed.current().world_size > 1:  # every process takes the same step
            mean = distributed.mean_over_ranks({str(i): float(g) for i, g in enumerate(grad)})
            grad = torch.tensor([mean[str(i)] for i in range(grad.numel())], dtype=grad.dtype, device=grad.device)
        with torch.no_grad():
            sweep.hyper_steps += 1
            t = int(sweep.hyper_steps)
            sweep.hyper_m.mul_(BETAS[0]).add_(grad, alpha=1 - BETAS[0])
            sweep.hyper_v.mul_(BETAS[1]).addcmul_(grad, grad, value=1 - BETAS[1])
            m_hat = sweep.hyper_m / (1 - BETAS[0] ** t)
            v_hat = sweep.hyper_v / (1 - BETAS[1] ** t)
            sweep.center.sub_(self.config.lr * m_hat / (v_hat.sqrt() + EPS)).clamp_(0, 1)
        hp = {k: float(v) for k, v in sweep.space.from_unit(sweep.center).items()}
        sweep.hyper_history_.append({"step": float(state.step), **hp, "val_loss": float(loss.detach())})

    def on_fit_end(self, state: TrainState) -> None:
        self.sweep.local_width = None
