"""Instant classifiers: a hypernetwork reads a labelled support set and emits a classifier, no gradient step.

HyperShot / HyperFast / MotherNet style. ``meta_fit`` trains the hypernetwork (and an
optional feature backbone) on many episodes; afterwards ``fit(X, y)`` only *runs* it:
the support set's features go through the backbone, per-(class, feature) statistics go
through the generator (:class:`~hypernet.recipes.instant.head.ClassWeightGenerator`),
and out come the weights of a small classifier on the backbone's features (``Linear``,
or ``Linear``-ReLU-``Linear`` for the default ridge head). ``fit``
never touches an optimiser and changes no parameter; ``materialize()`` hands out the
generated classifier as a plain ``nn.Module``.

The generator is equivariant to the class labels and invariant to the order of the
support rows by construction, and nothing in it is sized by the number of features or
classes, so one meta-trained model serves tasks of any width and up to ``max_classes``
classes.
"""

from __future__ import annotations

import copy
import json
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import numpy as np
import torch
from safetensors.torch import load_file
from safetensors.torch import save as safetensors_bytes
from torch import nn

from ..._boundary import guarded, guarded_function
from ..._io import atomic_write_bytes
from ..._limits import check_allocation
from ..._modes import eval_mode
from ..._validation import check_float, check_int, check_path
from ...errors import CheckpointError, ConditionError, ConfigError, describe
from ...training.loop import FitResult
from ...training.loop import fit as fit_loop
from .head import ClassWeightGenerator, Layers, run_layers
from .tasks import Episode, ImageEpisodes, SyntheticTabularTasks

__all__ = ["Episode", "ImageEpisodes", "InstantClassifier", "SyntheticTabularTasks", "conv4"]

TaskSampler = Callable[[torch.Generator], Episode]
WEIGHTS = Path(__file__).parent / "weights"


@guarded_function
def conv4(channels: int = 64, in_channels: int = 1) -> nn.Sequential:
    """The few-shot backbone: four 3x3 conv / BatchNorm / ReLU / 2x2 max-pool blocks, flattened (28x28 in -> ``channels`` out).

    Example:
        >>> conv4()(torch.randn(2, 1, 28, 28)).shape
        torch.Size([2, 64])
    """
    check_int(channels, "channels", low=1, high=1 << 14, owner="conv4")
    check_int(in_channels, "in_channels", low=1, high=1 << 14, owner="conv4")
    layers: list[nn.Module] = []
    for i in range(4):
        layers += [
            nn.Conv2d(in_channels if i == 0 else channels, channels, 3, padding=1),
            nn.BatchNorm2d(channels),
            nn.ReLU(),
            nn.MaxPool2d(2),
        ]
    return nn.Sequential(*layers, nn.Flatten())


def _labels(y: Any, n: int) -> np.ndarray:
    """``y`` as a 1-D NumPy array of ``n`` labels, or a clear error."""
    labels = np.asarray(y.detach().cpu() if isinstance(y, torch.Tensor) else y)
    if labels.ndim != 1 or len(labels) != n:
        raise ConditionError(f"expected y with one label per row of X ({n}), got shape {labels.shape}; pass y of shape ({n},)")
    return labels


class _Episodes:
    """``steps`` episodes drawn from ``sampler`` with one seeded generator (what the training loop iterates over)."""

    def __init__(self, sampler: TaskSampler, steps: int, seed: int) -> None:
        self.sampler, self.steps, self.seed = sampler, steps, seed

    def __len__(self) -> int:
        return self.steps

    def __iter__(self) -> Iterator[Episode]:
        g = torch.Generator().manual_seed(self.seed)
        return (self.sampler(g) for _ in range(self.steps))


@guarded(mutating=("fit", "meta_fit"))
class InstantClassifier(nn.Module):
    """A meta-trained hypernetwork that turns a labelled support set into a classifier in one forward pass.

    Args:
        backbone: a feature extractor for the inputs (e.g. :func:`conv4` for images), meta-trained
            with the generator; ``None`` uses the raw features (tabular data).
        max_classes: the most classes a support set may have.
        hidden: width of the generator's MLP.
        head: the generated classifier: ``"ridge"`` (default; ``Linear``, ReLU, ``Linear``:
            closed-form ridge regression on generated random features), ``"prototype"``
            (one ``Linear``: a learned-metric nearest-prototype rule) or ``"ridge_prototype"``
            (the ridge head with a nearest-prototype rule added in its output layer).
        width: random directions of the ridge head's hidden layer.
        standardize: standardise every feature with the support set's mean and std before
            generating (default: on without a backbone, off with one).
        adapt: the backbone's output width, to let the class prototypes attend to each other
            and move the support embeddings before the weights are generated (FEAT-style
            set-to-set adaptation, ``hypernet.recipes.instant.head.PrototypeAttention``); ``None`` (default): off.

    Example:
        >>> import torch, hypernet as hn
        >>> clf = hn.InstantClassifier(max_classes=3, head="prototype")
        >>> X = torch.cat([torch.randn(10, 4) - 2, torch.randn(10, 4) + 2])
        >>> y = torch.tensor([0] * 10 + [1] * 10)
        >>> clf.fit(X, y).predict(torch.tensor([[-2.0] * 4, [2.0] * 4])).tolist()
        [0, 1]
        >>> clf.materialize()
        Linear(in_features=4, out_features=2, bias=True)
    """

    def __init__(
        self,
        backbone: nn.Module | None = None,
        *,
        max_classes: int = 10,
        hidden: int = 32,
        head: str | None = None,
        width: int = 256,
        standardize: bool | None = None,
        adapt: int | None = None,
    ) -> None:
        super().__init__()
        check_int(max_classes, "max_classes", low=2)
        check_int(hidden, "hidden", low=1, owner="InstantClassifier")
        check_int(width, "width", low=1, owner="InstantClassifier")
        check_allocation(hidden * width * 4 + hidden * hidden, "InstantClassifier(hidden=..., width=...)", "use smaller sizes")
        self.backbone = backbone if backbone is not None else nn.Identity()
        self.max_classes = max_classes
        self.hidden = hidden
        self.standardize = backbone is None if standardize is None else bool(standardize)
        self.head = head or "ridge"
        if self.head not in ClassWeightGenerator.HEADS:
            raise ConfigError(f"expected head in {ClassWeightGenerator.HEADS}, got {head!r}; pass one of them or None")
        self.width = width
        if adapt is not None and (isinstance(adapt, bool) or not isinstance(adapt, int) or adapt < 1 or backbone is None):
            raise ConfigError(
                f"expected adapt to be the backbone's output width (a positive int, with a backbone), got {adapt!r}; "
                "pass None, or the width with backbone="
            )
        self.adapt = adapt
        self.generator = ClassWeightGenerator(hidden, self.head, width, adapt)
        self.classes_: np.ndarray | None = None
        self._layers: Layers | None = None  # the generated classifier, on standardised inputs
        self._scaler: tuple[torch.Tensor, torch.Tensor] | None = None  # (mean, std) of the support set
        self._support_shape = torch.Size()

    # ------------------------------------------------------------------ differentiable core
    def _scale(
        self, x_support: torch.Tensor, x_query: torch.Tensor
    ) -> tuple[torch.Tensor, torch.Tensor, tuple[torch.Tensor, torch.Tensor] | None]:
        if not self.standardize:
            return x_support, x_query, None
        mean = x_support.mean(0)
        std = x_support.std(0, unbiased=False)
        std = torch.where(std > 1e-8, std, torch.ones_like(std))
        return (x_support - mean) / std, (x_query - mean) / std, (mean, std)

    def classify(self, x_support: torch.Tensor, y_support: torch.Tensor, x_query: torch.Tensor) -> torch.Tensor:
        """Logits ``(Q, C)`` for ``x_query`` from the classifier generated for the support set (differentiable).

        ``y_support`` holds labels ``0 .. C-1``, every one present. Used by :meth:`meta_fit`;
        most users call :meth:`fit` and :meth:`predict_proba` instead.
        """
        self._check_episode(x_support, y_support, x_query)
        xs, xq, _ = self._scale(x_support, x_query)
        feats = self.backbone(torch.cat([xs, xq]))
        zs, zq = feats[: len(xs)], feats[len(xs) :]
        return run_layers(zq, self.generator(zs, y_support, int(y_support.max()) + 1))

    def _check_episode(self, xs: Any, ys: Any, xq: Any) -> None:
        hint = "pass x_support (N, ...) float, y_support (N,) int labels 0..C-1 and x_query (Q, ...) like x_support"
        if not all(isinstance(t, torch.Tensor) for t in (xs, ys, xq)):
            raise ConfigError(f"expected tensors, got {describe(xs)}, {describe(ys)}, {describe(xq)}; {hint}")
        if not xs.dtype.is_floating_point or xs.dim() < 2 or len(xs) == 0 or xq.dim() != xs.dim() or xq.shape[1:] != xs.shape[1:]:
            raise ConfigError(
                f"expected a non-empty float support set and queries of the same shape, got {describe(xs)} and {describe(xq)}; {hint}"
            )
        if ys.dim() != 1 or len(ys) != len(xs) or ys.dtype.is_floating_point or ys.dtype == torch.bool:
            raise ConfigError(f"expected y_support with one int label per support sample ({len(xs)}), got {describe(ys)}; {hint}")
        if int(ys.min()) < 0 or int(ys.max()) >= self.max_classes:
            raise ConfigError(f"expected labels in [0, {self.max_classes}), got {int(ys.min())}..{int(ys.max())}; {hint}")

    # ------------------------------------------------------------------ meta-training
    def meta_fit(
        self,
        tasks: TaskSampler,
        steps: int = 1000,
        *,
        lr: float = 1e-3,
        weight_decay: float = 0.0,
        seed: int = 0,
        progress: bool | None = None,
        run_dir: str | Path | None = None,
    ) -> list[float]:
        """Meta-train on ``steps`` episodes from ``tasks`` (cross-entropy on each episode's queries); returns the losses.

        Adam with a cosine learning-rate decay, on the shared training loop
        (:func:`hypernet.training.fit`: progress bar, and CSV logs when ``run_dir`` is given).
        """
        result = self._meta_fit(tasks, steps, lr=lr, weight_decay=weight_decay, seed=seed, progress=progress, run_dir=run_dir)
        return list(result.losses)

    def _meta_fit(self, tasks: TaskSampler, steps: int, *, lr: float, weight_decay: float, seed: int, **fit_kwargs: Any) -> FitResult:
        """:meth:`meta_fit` returning the loop's result; ``fit_kwargs`` go to :func:`hypernet.training.fit` (``resume``, ...)."""
        check_int(steps, "steps", low=1)
        lr = check_float(lr, "lr", low=0, low_open=True, owner="meta_fit")
        weight_decay = check_float(weight_decay, "weight_decay", low=0, owner="meta_fit")
        optimizer = torch.optim.Adam(self.parameters(), lr=lr, weight_decay=weight_decay)
        scheduler = torch.optim.lr_scheduler.CosineAnnealingLR(optimizer, steps)

        ref = next(self.generator.parameters())

        def step(model: nn.Module, ep: Episode) -> tuple[torch.Tensor, dict[str, float]]:
            ep = Episode(ep.x_support.to(ref), ep.y_support.to(ref.device), ep.x_query.to(ref), ep.y_query.to(ref.device))
            logits = self.classify(ep.x_support, ep.y_support, ep.x_query)
            loss = nn.functional.cross_entropy(logits, ep.y_query)
            return loss, {"acc": (logits.argmax(1) == ep.y_query).float().mean().item()}

        self.train()
        fit_kwargs.setdefault("tensorboard", False)
        result = fit_loop(self, step, _Episodes(tasks, steps, seed), optimizer, scheduler=scheduler, **fit_kwargs)
        self.eval()
        return result

    # ------------------------------------------------------------------ scikit-learn style use
    def _as_tensor(self, X: Any, name: str) -> torch.Tensor:
        ref = next(self.generator.parameters())
        if isinstance(X, torch.Tensor):
            t = X.detach()
        else:
            try:
                arr = np.asarray(X)
                t = torch.from_numpy(arr) if arr.dtype == np.uint8 else torch.as_tensor(np.asarray(arr, dtype=np.float64))
            except (TypeError, ValueError) as exc:
                raise ConditionError(
                    f"expected numeric {name} (an array, tensor or DataFrame of numbers), got {describe(X)}: {exc}; convert it to numbers"
                ) from exc
        t = t.to(ref.device, ref.dtype) / 255.0 if t.dtype == torch.uint8 else t.to(ref.device, ref.dtype)  # uint8 images: / 255
        if t.dim() < 2 or len(t) == 0:
            raise ConditionError(
                f"expected {name} with a leading sample dimension, e.g. (N, n_features), got {describe(X)}; pass a 2-D array of samples"
            )
        if self.standardize and t.dim() != 2:
            raise ConditionError(f"expected {name} as a 2-D table (N, n_features), got {describe(t)}; flatten it or pass a backbone")
        if not bool(torch.isfinite(t).all()):
            bad = (~torch.isfinite(t.reshape(len(t), -1))).any(0).nonzero().flatten()[:5].tolist()
            raise ConditionError(f"expected finite values in {name}, got NaN or inf (first bad columns: {bad}); impute or drop them")
        return t

    def fit(self, X: Any, y: Any) -> InstantClassifier:
        """Generate the classifier for the support set ``(X, y)``: forward passes only, no optimiser step.

        ``y`` may hold any labels (ints, strings); every class needs at least one row.
        """
        xs = self._as_tensor(X, "X")
        labels = _labels(y, len(xs))
        classes, codes = np.unique(labels, return_inverse=True)
        if len(classes) < 2:
            raise ConditionError(f"expected a support set with at least 2 classes, got 1 ({classes[0]!r}); add rows of another class")
        if len(classes) > self.max_classes:
            raise ConditionError(
                f"expected at most {self.max_classes} classes (max_classes), got {len(classes)}; "
                "merge classes or meta-train a model with a larger max_classes"
            )
        if self.standardize and xs.shape[1] == 0:
            raise ConditionError(f"expected at least one feature, got X {describe(xs)}; pass X of shape (n_samples, n_features >= 1)")
        ys = torch.as_tensor(codes, dtype=torch.long, device=xs.device)
        with eval_mode(self), torch.no_grad():
            xs_scaled, _, scaler = self._scale(xs, xs[:0])
            layers = self.generator(self.backbone(xs_scaled), ys, len(classes))
        self._layers, self._scaler, self.classes_, self._support_shape = layers, scaler, classes, xs.shape[1:]
        self.n_features_in_ = xs.shape[1] if xs.dim() == 2 else None
        return self

    def _check_fitted(self) -> Layers:
        if self._layers is None:
            raise ConfigError("expected a fitted InstantClassifier, got one with no support set yet; call fit(X_support, y_support) first")
        return self._layers

    def decision_function(self, X: Any) -> torch.Tensor:
        """Logits ``(N, C)`` of the generated classifier for ``X``."""
        layers = self._check_fitted()
        xq = self._as_tensor(X, "X")
        if xq.shape[1:] != self._support_shape:
            raise ConditionError(
                f"expected X rows of shape {tuple(self._support_shape)} (as the support set's), got {describe(xq)}; "
                "pass the same features in the same order"
            )
        if self._scaler is not None:
            xq = (xq - self._scaler[0]) / self._scaler[1]
        with eval_mode(self), torch.no_grad():
            return run_layers(self.backbone(xq), layers)

    def predict_proba(self, X: Any) -> np.ndarray:
        """Class probabilities ``(N, C)``, columns in the order of ``classes_``."""
        return torch.softmax(self.decision_function(X), 1).cpu().numpy()

    def predict(self, X: Any) -> np.ndarray:
        """The most probable class of every row, as labels from ``classes_``."""
        codes = self.decision_function(X).argmax(1).cpu().numpy()  # raises if not fitted
        classes = self.classes_
        if classes is None:  # pragma: no cover - decision_function checked it
            raise ConfigError("expected a fitted InstantClassifier, got one with no classes_; call fit(X_support, y_support) first")
        return classes[codes]

    def score(self, X: Any, y: Any) -> float:
        """Accuracy of :meth:`predict` on ``(X, y)``."""
        pred = self.predict(X)
        return float(np.mean(pred == _labels(y, len(pred))))

    def materialize(self) -> nn.Module:
        """The generated classifier as a plain module: a copy of the backbone (if any), then ``Linear`` (/ ReLU / ``Linear``).

        It takes raw features: without a backbone the support set's standardisation is
        folded into the first ``Linear``; with one it is a fixed ``BatchNorm1d`` in front.
        """
        layers = list(self._check_fitted())
        modules: list[nn.Module] = []
        if self._scaler is not None:
            mean, std = self._scaler
            if isinstance(self.backbone, nn.Identity):  # fold (x - mean) / std into the first Linear
                weight, bias = layers[0]
                layers[0] = (weight / std, bias - (weight / std) @ mean)
            else:  # a fixed standardisation in front of the backbone: BatchNorm1d in eval mode, no affine part
                norm = nn.BatchNorm1d(len(mean), eps=0.0, affine=False, device=mean.device, dtype=mean.dtype)
                with torch.no_grad():
                    norm.running_mean.copy_(mean)  # type: ignore[union-attr]
                    norm.running_var.copy_(std.square())  # type: ignore[union-attr]
                modules.append(norm)
        if not isinstance(self.backbone, nn.Identity):
            modules.append(copy.deepcopy(self.backbone))
        for i, (weight, bias) in enumerate(layers):
            linear = nn.Linear(weight.shape[1], weight.shape[0], device=weight.device, dtype=weight.dtype)
            with torch.no_grad():
                linear.weight.copy_(weight)
                linear.bias.copy_(bias)
            modules += [linear] if i == len(layers) - 1 else [linear, nn.ReLU()]
        return modules[0] if len(modules) == 1 else nn.Sequential(*modules).eval()

    # ------------------------------------------------------------------ persistence
    def config(self) -> dict[str, Any]:
        return {
            "max_classes": self.max_classes,
            "hidden": self.hidden,
            "head": self.head,
            "width": self.width,
            "standardize": self.standardize,
            "adapt": self.adapt,
        }

    def save(self, path: str | Path) -> Path:
        """Write the meta-trained weights (safetensors, atomically) with the constructor arguments as metadata."""
        path = check_path(path, owner="InstantClassifier.save")
        tensors = {k: v.detach().contiguous() for k, v in self.state_dict().items()}
        meta = {"hypernet": "InstantClassifier", "config": json.dumps(self.config())}
        atomic_write_bytes(path, safetensors_bytes(tensors, metadata=meta))
        return path

    @classmethod
    def load(cls, path: str | Path, backbone: nn.Module | None = None) -> InstantClassifier:
        """Rebuild a saved model; pass a ``backbone`` of the same architecture if it was saved with one.

        Loading reads safetensors only (never unpickles).
        """
        path = check_path(path, owner="InstantClassifier.load")
        try:
            from safetensors import safe_open

            with safe_open(str(path), "pt") as f:
                meta = f.metadata() or {}
            tensors = load_file(str(path))
            config = json.loads(meta["config"])
        except Exception as exc:
            raise CheckpointError(
                f"expected an InstantClassifier safetensors file at {path}, got an unreadable one ({exc}); save one with .save()"
            ) from exc
        try:
            model = cls(backbone, **config)
        except (TypeError, ConfigError) as exc:
            raise CheckpointError(
                f"expected InstantClassifier settings in {path}, got ones it does not accept ({exc}); write the file with .save()"
            ) from exc
        try:
            model.load_state_dict(tensors)
        except RuntimeError as exc:
            raise CheckpointError(
                f"expected weights in {path} that fit this model, got a mismatch ({exc}); pass the backbone it was saved with"
            ) from exc
        return model.eval()

    @classmethod
    def pretrained(cls, name: str) -> InstantClassifier:
        """A model meta-trained by this project and shipped with the package: ``"tabular"`` or ``"fewshot"`` (28x28 images).

        ``benchmarks/instant.py`` wrote these files (its command lines are in
        ``benchmarks/results/instant.md``); nothing is downloaded.
        """
        builders: dict[str, Callable[[], nn.Module | None]] = {"tabular": lambda: None, "fewshot": conv4}
        if not isinstance(name, str) or name not in builders:
            raise ConfigError(f"expected a pretrained name in {sorted(builders)}, got {name!r}; pass one of them")
        return cls.load(WEIGHTS / f"instant_{name}.safetensors", builders[name]())
