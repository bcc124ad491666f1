"""HyperModel: any nn.Module, with (some of) its weights produced by a hypernetwork."""

from __future__ import annotations

import copy
import logging
from collections.abc import Collection, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any, Literal

import torch
from torch import nn

from . import _batching, _foreign
from ._inputs import Args, Inputs, Kwargs, call_arguments
from ._limits import check_allocation
from ._linear_path import LinearPath, LinearPathUnsupported
from ._spec import ParamSpec, Selector
from .conditions import Condition, Continuous, Static
from .conditions._base import Split
from .errors import ConditionError, ConfigError, HypernetError, describe, target_error
from .generators import Generator, create_generator, list_generators
from .init import INITS, output_affine

PARAMETRIZATIONS = ("direct", "residual")
PER_SAMPLE = ("auto", "vmap", "loop", "linear")
BLOCK_BYTES = 8 << 20
log = logging.getLogger("hypernet")


@dataclass(frozen=True)
class GeneratedWeights:
    """Weights generated for a condition, and how they map to samples: what :meth:`HyperModel.weights` returns.

    Attributes:
        flat: ``(U, n_generated)`` generated weights of the U unique conditions (in the autograd graph);
            :meth:`HyperModel.spec` ``.unflatten(flat)`` gives them per parameter name.
        split: the validated condition: ``split.values`` (the U unique conditions), ``split.inverse``
            (each sample's row of ``flat`` for per-sample conditions, else ``None``), ``split.mode``
            and ``split.count``.
    """

    flat: torch.Tensor
    split: Split


class HyperModel(nn.Module):
    """Wraps ``target`` so the parameters chosen by ``generate`` come from a hypernetwork.

    ``model(x, cond)`` generates weights from ``cond`` and calls the unmodified
    target through :func:`torch.func.functional_call`. The generated weights are
    ``w = base + scale * generator(condition(cond))``: ``base`` is a fixed vector
    (``"direct"``) or a trainable copy of the target's weights (``"residual"``),
    ``scale`` is set by ``init`` (see :mod:`hypernet.init`).

    Args:
        target: any ``nn.Module``; it is never rewritten. Its generated parameters
            are frozen (``requires_grad=False``) and unused; the others stay
            trainable parameters of this model. Buffers (BatchNorm running stats)
            stay the target's own and update in training mode as in PyTorch.
        condition: a :class:`~hypernet.Condition`; default ``Static(dim=16)``.
        generator: a registered name (:func:`~hypernet.list_generators`) or an
            unbound :class:`~hypernet.Generator`.
        generate: ``"all"``, a glob or list of globs over parameter names, or a
            predicate ``(name, tensor) -> bool``.
        parametrization: ``"direct"`` or ``"residual"``; ``None`` takes the
            generator's default (``"residual"`` for ``"lowrank"``).
        init: ``"hyperfan"``, ``"hyperfan_out"``, ``"mip"`` or ``"default"``.
            ``"mip"`` implies ``"residual"`` and switches a ``Continuous``
            condition to the ``[x, 1-x]`` input encoding.
        batch_dim: the dimension of ``x`` (and of the target's outputs) that
            indexes samples, for per-sample conditions.
        per_sample: how per-sample weight sets are applied. ``"auto"``: vmap, or a loop over
            unique conditions for recurrent targets and BatchNorm in training mode; ``"vmap"``;
            ``"loop"``; ``"linear"``: the target runs once on the whole batch and each generated
            ``nn.Linear`` (LoRA factors, heads) does a batched matmul with its samples' weights.
            ``"linear"`` needs every generated parameter to belong to an ``nn.Linear`` and a target
            whose samples do not interact (true of transformers; the inputs are given whole, not
            split by the rule below), which feeds those layers batch-first inputs (a sequence-first
            ``(T, B, d)`` input with T equal to B is not caught); it is much faster than vmap on large
            targets.
        sets_per_block: how many weight sets the target runs on at once when a
            call needs several; ``None`` picks as many as fit in about 8 MiB. A small
            generator also runs once per block, so the weights stay in cache between
            generation and use (much faster on CPU than materialising all sets at
            once); a generator with more parameters than a block has outputs runs
            once for all sets. Results do not depend on it.
        generator_kwargs: arguments for :func:`~hypernet.create_generator` when
            ``generator`` is a name.
        shared: arguments of the target that never travel with samples although their size at
            ``batch_dim`` equals the batch (see "Per-sample inputs" below): keyword names
            (``"attention_mask"``) and positional indices (0 is ``x``; with a ``Mapping`` as ``x``,
            0 is the first extra positional argument).

    Per-sample inputs:
        With a batch of B conditions (per-sample weights), every tensor argument whose size at
        ``batch_dim`` is B travels with its samples: ``x``, extra positional arguments, keyword
        arguments (an ``attention_mask``), and tensors nested in dicts, lists and tuples. Other
        arguments are given unchanged to every weight set; ``shared=`` names exceptions. A
        ``Mapping`` given as ``x`` (a tokenizer's output) is passed as keyword arguments. Outputs
        may be any pytree of tensors (a Hugging Face ``ModelOutput`` keeps its type); a leaf that
        is not a tensor (a key/value cache) cannot be split per sample and raises a
        :class:`~hypernet.HypernetError` naming it (pass ``use_cache=False``). With T support sets
        (``SetEncoder``, ``x`` of shape ``(T, Q, ...)``) the same rule applies with T at dim 0.

    Example:
        >>> import torch, hypernet as hn
        >>> from torch import nn
        >>> target = nn.Sequential(nn.Linear(64, 100), nn.ReLU(), nn.Linear(100, 10))
        >>> model = hn.HyperModel(target, condition=hn.Embedding(num=5, dim=8), generator="chunked")
        >>> x = torch.randn(32, 64)
        >>> model(x, 3).shape, model(x, torch.randint(0, 5, (32,))).shape
        (torch.Size([32, 10]), torch.Size([32, 10]))
        >>> net = model.materialize(3)
        >>> torch.allclose(net(x), model(x, 3), atol=1e-6)
        True
        >>> w = model.weights(torch.tensor([0, 2, 0]))       # generate once, call several times
        >>> w.flat.shape, model.call(w, x[:3]).shape
        (torch.Size([2, 7510]), torch.Size([3, 10]))
    """

    base: torch.Tensor
    scale: torch.Tensor

    def __init__(
        self,
        target: nn.Module,
        condition: Condition | None = None,
        generator: str | Generator = "chunked",
        generate: Selector = "all",
        parametrization: Literal["direct", "residual"] | None = None,
        init: str = "hyperfan",
        *,
        batch_dim: int = 0,
        per_sample: Literal["auto", "vmap", "loop", "linear"] = "auto",
        generator_kwargs: dict[str, Any] | None = None,
        sets_per_block: int | None = None,
        shared: Collection[str | int] = (),
    ) -> None:
        super().__init__()
        if not isinstance(target, nn.Module):
            raise ConfigError(f"expected target to be an nn.Module, got {describe(target)}; pass the torch model whose weights to generate")
        condition = Static(dim=16) if condition is None else condition
        if not isinstance(condition, Condition):
            raise ConfigError(
                f"expected condition to be a hn.Condition (Embedding, Continuous, SetEncoder, Noise, Static), got {describe(condition)}; "
                "pass e.g. condition=hn.Embedding(num_tasks, 8), or None for one static weight set"
            )
        if init not in INITS:
            raise ConfigError(f"expected init in {INITS}, got {describe(init)}; pass one of them")
        if parametrization is not None and parametrization not in PARAMETRIZATIONS:
            raise ConfigError(f"expected parametrization in {PARAMETRIZATIONS} or None, got {describe(parametrization)}; pass one of them")
        if init == "mip" and parametrization == "direct":
            raise ConfigError("expected parametrization='residual' (or None) with init='mip', got 'direct'; mip is residual by definition")
        if per_sample not in PER_SAMPLE:
            raise ConfigError(f"expected per_sample in {PER_SAMPLE}, got {describe(per_sample)}; pass one of them")
        if sets_per_block is not None and (isinstance(sets_per_block, bool) or not isinstance(sets_per_block, int) or sets_per_block < 1):
            raise ConfigError(f"expected sets_per_block to be None or a positive int, got {describe(sets_per_block)}; pass e.g. 8, or None")
        if isinstance(batch_dim, bool) or not isinstance(batch_dim, int) or batch_dim < 0:
            raise ConfigError(f"expected batch_dim to be an int >= 0, got {describe(batch_dim)}; pass the dim of x that indexes samples")
        if not isinstance(shared, (str, Collection)) or isinstance(shared, Mapping):
            raise ConfigError(
                f"expected shared= to be a collection of argument names / indices, got {describe(shared)}; pass e.g. ['mask']"
            )
        shared = [shared] if isinstance(shared, str) else list(shared)
        if not all(isinstance(k, str) or (isinstance(k, int) and not isinstance(k, bool) and k >= 0) for k in shared):
            raise ConfigError(
                f"expected shared= to hold keyword names (str) and positional indices (int >= 0, 0 is x), got {shared!r}; "
                "e.g. shared=['encoder_hidden_states']"
            )
        if init == "mip" and isinstance(condition, Continuous) and condition.encoding != "mip":
            raise ConfigError(
                "expected a Continuous condition with encoding='mip' for init='mip', got encoding="
                f"{condition.encoding!r}; build it as hn.Continuous(..., encoding='mip') (init never rebuilds your condition)"
            )

        spec = ParamSpec.from_module(target, generate)
        gen = self._make_generator(generator, generator_kwargs)
        gen.bind(spec, condition.dim)
        if init != "default":
            gen.calibrate_()

        self.target = target
        self.condition = condition
        self.generator = gen
        self.spec = spec
        self.init = init
        self.batch_dim = batch_dim
        self.per_sample = per_sample
        self.shared = frozenset(shared)
        self._vmap_unsupported: str | None = None  # why vmap failed on this target (then per-sample calls loop)
        self.sets_per_block = sets_per_block or max(1, BLOCK_BYTES // (4 * gen.output_size))
        self.parametrization: str = "residual" if init == "mip" else (parametrization or gen.default_parametrization)

        scale, base = output_affine(spec, init, self.parametrization)
        pad = gen.output_size - spec.numel  # generators may emit a padded tail, which stays unused
        scale = nn.functional.pad(scale, (0, pad), value=1.0)
        base = nn.functional.pad(base, (0, pad))
        signs = gen.output_signs()
        if signs is not None:
            scale = scale * signs
        self.register_buffer("scale", scale.to(self._target_dtype()))
        own = dict(target.named_parameters())
        if self.parametrization == "residual":
            self.base = nn.Parameter(nn.functional.pad(spec.flatten({n: own[n].detach() for n in spec.names}), (0, pad)))
        else:
            self.register_buffer("base", base.to(self._target_dtype()))
        for name in spec.names:
            own[name].requires_grad_(False)
        # functional_call only needs to untie weights when a generated tensor has several names
        generated_ids = {id(own[n]) for n in spec.names}
        aliases = [n for n, p in target.named_parameters(remove_duplicate=False) if id(p) in generated_ids]
        self._tied = len(aliases) > len(spec.names)
        self._recurrent = any(isinstance(m, nn.RNNBase) for m in target.modules())
        self._batchnorms = [m for m in target.modules() if isinstance(m, nn.modules.batchnorm._BatchNorm)]
        # Where each generated tensor and each buffer lives (module, attribute), found once: a call swaps the
        # generated tensors in and out of these slots instead of resolving dotted names every time.
        self._slots = [(n, target.get_submodule(n.rpartition(".")[0]), n.rpartition(".")[2]) for n in spec.names]
        self._buffer_slots = [(m, b) for m in target.modules() for b in m._buffers]
        # Generated parameters that all belong to linear layers: per-sample weights in one batched call, no vmap
        self._busy = False  # a call is swapping generated weights into the target (see _exclusive)
        self._linear_path = LinearPath.of(target, spec.names, batch_dim=batch_dim, tied=self._tied) if per_sample == "linear" else None
        if per_sample == "linear" and self._linear_path is None:
            raise ConfigError(
                "expected, with per_sample='linear', batch_dim=0, untied generated parameters, and only weights / biases of "
                f"nn.Linear layers generated, got batch_dim={batch_dim}, tied={self._tied}, generated {spec.names[:4]}"
                f"{' ...' if len(spec.names) > 4 else ''}; use per_sample='auto' (vmap) or generate only linear layers"
            )

    @staticmethod
    def _make_generator(generator: str | Generator, kwargs: Mapping[str, Any] | None) -> Generator:
        if kwargs is not None and not isinstance(kwargs, Mapping):
            raise ConfigError(f"expected generator_kwargs to be a dict or None, got {describe(kwargs)}; pass e.g. {{'hidden': (64,)}}")
        if isinstance(generator, str):
            return create_generator(generator, **(kwargs or {}))
        if not isinstance(generator, Generator):
            raise ConfigError(
                f"expected generator to be a registered name or a hn.Generator, got {describe(generator)}; pass one of {list_generators()}"
            )
        if kwargs:
            raise ConfigError(
                "expected generator_kwargs only with a generator name, got them with a Generator instance; "
                "pass the arguments to the Generator itself"
            )
        if generator.is_bound:
            raise ConfigError("expected an unbound generator, got one already bound to another model; create a new one")
        return generator

    def _target_dtype(self) -> torch.dtype:
        for p in self.target.parameters():
            return p.dtype
        return torch.get_default_dtype()

    # ------------------------------------------------------------------ weights
    @property
    def compression(self) -> float:
        """Trainable hypernetwork parameters (condition, generator, residual base) per generated target parameter."""
        own = sum(p.numel() for p in self.condition.parameters() if p.requires_grad)
        own += self.generator.num_parameters
        if isinstance(self.base, nn.Parameter):
            own += self.spec.numel
        return own / self.spec.numel

    def _raw(self, emb: torch.Tensor) -> torch.Tensor:
        """The generator's output for embeddings ``emb``; generators that need the base get it explicitly."""
        if self.generator.needs_base:
            return self.generator(emb, base=self.base, scale=self.scale)
        return self.generator(emb)

    def _flat(self, split: Split) -> torch.Tensor:
        check_allocation(
            split.count * self.generator.output_size,
            f"{split.count} generated weight sets",
            "use fewer distinct conditions or draws per call",
        )
        emb = self.condition(split.values)
        return torch.addcmul(self.base, self._raw(emb), self.scale)

    def weights(self, cond: Any = None, samples: int | None = None) -> GeneratedWeights:
        """Generate the weights for ``cond`` once; :meth:`call` runs the target with them.

        ``model(x, cond)`` is ``model.call(model.weights(cond), x)``. Use the split to reuse
        generated weights (regularisers on them, several calls with one generation).
        """
        split = self.condition.split(cond, samples)
        return GeneratedWeights(self._flat(split)[:, : self.spec.numel], split)

    def flat_weights(self, cond: Any = None, samples: int | None = None) -> torch.Tensor:
        """Generated weights of the unique conditions in ``cond`` as one ``(U, n_generated)`` tensor.

        Useful for regularisers on generated weights (e.g. continual learning).
        """
        return self.weights(cond, samples).flat

    def generate(self, cond: Any = None, samples: int | None = None) -> dict[str, torch.Tensor]:
        """The full parameter dict of the target (generated and shared) for ``cond``.

        Generated entries have the target's shapes for a single condition, and a
        leading dimension for several (one per sample for per-sample conditions,
        one per draw or set otherwise). Tensors stay in the autograd graph.
        """
        split = self.condition.split(cond, samples)
        gen = self.spec.unflatten(self._flat(split))
        if split.batch == 0:  # an empty batch of conditions: no weight sets
            gen = {k: v[:0] for k, v in gen.items()}
        elif split.mode == "single":
            gen = {k: v[0] for k, v in gen.items()}
        elif split.mode == "per_sample":
            assert split.inverse is not None
            gen = {k: v.index_select(0, split.inverse) for k, v in gen.items()}
        shared = dict(self.target.named_parameters())
        return {name: gen[name] if name in gen else shared[name] for name in shared}

    def materialize(self, cond: Any = None) -> nn.Module:
        """An independent plain copy of the target holding the weights generated for ``cond``.

        ``cond`` must give one weight set. The copy's parameters are all trainable
        and share no storage with this model.
        """
        split = self.condition.split(cond)
        if split.mode != "single":
            raise ConditionError(
                f"expected a single condition for materialize(), got one giving {split.count} weight sets ({split.mode}); "
                "pass one task id / vector / support set, or call materialize once per condition"
            )
        with torch.no_grad():
            weights = self.spec.unflatten(self._flat(split)[0])
            net = copy.deepcopy(self.target)
            for name, value in weights.items():
                net.get_parameter(name).copy_(value)
        for p in net.parameters():
            p.requires_grad_(True)
        return net

    @torch.no_grad()
    def reset_to_target_(self) -> HyperModel:
        """Generate the target's own current weights for every condition.

        Zeroes the generator's output and sets ``base`` to the target's weights, so
        ``model(x, c) == target(x)``. A warm start from a pretrained target.
        """
        own = dict(self.target.named_parameters())
        self.generator.zero_output_()
        self.base[: self.spec.numel].copy_(self.spec.flatten({n: own[n] for n in self.spec.names}))
        return self

    # ------------------------------------------------------------------ forward
    def _call_target(self, generated: dict[str, torch.Tensor], args: Args, kwargs: Kwargs) -> Any:
        # Names were checked once against the target (ParamSpec); shared parameters and buffers are
        # the target's own tensors, so only the generated ones are swapped in.
        try:
            if self._tied or torch.compiler.is_compiling():
                return torch.func.functional_call(self.target, generated, args, kwargs, tie_weights=self._tied, strict=False)
            return self._swapped_call(generated, args, kwargs)
        except Exception as err:
            err._hypernet_in_target = True  # type: ignore[attr-defined]  # forward / call say it came from the target
            raise

    def _target_failed(self, err: Exception, x: Any, args: Args, kwargs: Kwargs) -> HypernetError | None:
        """A :class:`~hypernet.errors.TargetError` for an error the target raised, or ``None`` for any other error."""
        if not getattr(err, "_hypernet_in_target", False):
            return None
        extra = (f", {len(args)} more positional" if args else "") + (f", keywords {sorted(kwargs)}" if kwargs else "")
        first = (str(err).splitlines() or [""])[0][:300]
        return target_error(
            err,
            f"expected input that the target ({type(self.target).__name__}) accepts, got x {describe(x)}{extra}; "
            f"the target raised {type(err).__name__}: {first}; check the type, shape and dtype of x against the "
            "target's forward (calling the target itself with them fails the same way)",
        )

    def _swapped_call(self, generated: dict[str, torch.Tensor], args: Args, kwargs: Kwargs) -> Any:
        """What ``functional_call(target, generated, strict=False)`` does for untied parameters, with the slots found once.

        The hot path of a one-set call: :meth:`_swapped` without context managers, and the busy flag set in the
        instance dict (``nn.Module.__setattr__`` costs microseconds per call).
        """
        state = self.__dict__
        if state["_busy"]:
            raise self._busy_error()
        state["_busy"] = True
        saved: list[tuple[dict[str, Any], str, Any]] = []
        try:
            self._swap_in(generated, saved)
            return self.target(*args, **kwargs)
        finally:
            _swap_out(saved)
            state["_busy"] = False

    def _swap_in(self, generated: dict[str, torch.Tensor], saved: list[tuple[dict[str, Any], str, Any]]) -> None:
        """Each generated tensor takes its parameter's place in its module's ``_parameters`` (as
        ``torch.func.functional_call`` does); ``saved`` records the originals as it goes, for :func:`_swap_out`."""
        for name, module, attr in self._slots:
            params = module._parameters
            saved.append((params, attr, params[attr]))
            params[attr] = generated[name]  # type: ignore[assignment]  # a plain tensor, as functional_call puts there

    def _busy_error(self) -> ConfigError:
        return ConfigError(
            "expected one call of the HyperModel at a time, got a call while its target already holds generated weights "
            "(inside model.applied(...), or from another thread); call the target that applied() yields, or leave the "
            "block first, and use one model per thread"
        )

    @contextmanager
    def _exclusive(self) -> Iterator[None]:
        """One swap of generated weights into the target at a time: a call made while another one (or an
        :meth:`applied` block) has the target would run on the wrong weights, so it is refused."""
        if self._busy:
            raise self._busy_error()
        self.__dict__["_busy"] = True
        try:
            yield
        finally:
            self.__dict__["_busy"] = False

    @contextmanager
    def _swapped(self, generated: dict[str, torch.Tensor]) -> Iterator[None]:
        """:meth:`_swap_in` for the block; the originals are put back whatever happens."""
        saved: list[tuple[dict[str, Any], str, Any]] = []
        with self._exclusive():
            try:
                self._swap_in(generated, saved)
                yield
            finally:
                _swap_out(saved)

    @contextmanager
    def applied(self, weights: GeneratedWeights) -> Iterator[nn.Module]:
        """Inside the block the target itself runs with ``weights`` (from :meth:`weights`); yields the target.

        Use it for calls that are not one forward, e.g. Hugging Face ``generate()`` with its KV cache.
        One weight set applies to every call; per-sample weights need ``per_sample="linear"`` and give
        sample ``i`` of every batch the set ``weights.split.inverse[i]``. The target is restored on exit.

        Example:
            >>> import torch, hypernet as hn
            >>> model = hn.HyperModel(torch.nn.Linear(3, 2), condition=hn.Embedding(4, 8), per_sample="linear")
            >>> ids, x = torch.tensor([0, 3]), torch.randn(2, 3)
            >>> with model.applied(model.weights(ids)) as target:
            ...     out = target(x)
            >>> bool(torch.allclose(out, model(x, ids)))
            True
        """
        if not isinstance(weights, GeneratedWeights) or weights.flat.dim() != 2 or weights.flat.shape[1] != self.spec.numel:
            raise ConditionError(
                f"expected the GeneratedWeights returned by model.weights(cond), got {describe(weights)}; pass model.weights(cond)"
            )
        split = weights.split
        if split.mode == "single" or (split.count == 1 and split.mode != "per_sample"):
            with self._swapped(self.spec.unflatten(weights.flat[0])):
                yield self.target
            return
        if split.mode != "per_sample" or self._linear_path is None or split.inverse is None:
            raise ConfigError(
                f"expected one weight set, or per-sample weights of a model built with per_sample='linear', got {split.count} sets "
                f"({split.mode}, per_sample={self.per_sample!r}); build the HyperModel with per_sample='linear' or call it per set"
            )
        with self._exclusive(), self._linear_path.installed(self.spec.unflatten(weights.flat), split.inverse):
            try:
                yield self.target
            except LinearPathUnsupported as err:
                raise ConfigError(
                    f"expected the target to use its generated linear layers only by calling them on batch-first inputs "
                    f"inside applied(), got: {err}; use one weight set per call instead"
                ) from err

    def _needs_loop(self) -> bool:
        if self.per_sample != "auto":
            return self.per_sample == "loop"
        return (
            self._vmap_unsupported is not None or self._recurrent or any(bn.training and bn.track_running_stats for bn in self._batchnorms)
        )

    @contextmanager
    def _protect_buffers(self) -> Iterator[None]:
        """Restore the target's buffers if the call raises (training mode may update them in place).

        The buffers are those the target had when the model was built (looked up in their modules
        on every call, so ``.to(device)`` is followed).
        """
        buffers = [b for m, name in self._buffer_slots if (b := m._buffers.get(name)) is not None] if self.training else []
        if not buffers:
            yield
            return
        saved = [(b, b.detach().clone()) for b in buffers]
        try:
            yield
        except BaseException:
            with torch.no_grad():
                for b, old in saved:
                    b.copy_(old)
            raise

    def _inputs(self, split: Split, x: Any, args: Args, kwargs: Kwargs) -> Inputs:
        """The call's arguments, with the leaves that travel with samples (or with support sets) marked."""
        if split.mode == "draws" or (split.mode == "single" and split.batch is None):
            return Inputs.unbatched(args, kwargs)
        grouped = split.mode == "grouped"
        size = split.count if grouped else split.batch
        dim = 0 if grouped else self.batch_dim
        assert size is not None
        inputs = Inputs.of(args, kwargs, size, dim, self.shared)
        # x itself (the keys of a Mapping x) must carry the batch; an x without tensors defers to the other arguments
        x_keys: set[str | int] = set(map(str, x)) if isinstance(x, Mapping) else {0}
        x_keys -= self.shared
        carried = inputs.carries_batch(x_keys)
        x_is_batched = bool(inputs.batched) if carried is None else carried
        if not x_is_batched:
            if grouped:
                raise ConditionError(
                    f"expected x with a leading dim of {size} (one query batch per support set), got x {describe(x)}; "
                    "stack one query batch per support set"
                )
            raise ConditionError(
                f"expected one condition per sample: x with {size} samples at dim {dim}, got x {describe(x)}"
                + ("" if isinstance(x, torch.Tensor) else " with no tensor of that size")
                + "; pass as many conditions as samples, or a single condition for the whole batch"
            )
        return inputs

    def forward(self, x: Any, cond: Any = None, *args: Any, samples: int | None = None, **kwargs: Any) -> Any:
        """Run the target on ``x`` with weights generated from ``cond``.

        Extra positional and keyword arguments go to the target; with per-sample conditions
        those that carry the batch travel with their samples (see the class docstring). Returns
        the target's output; with ``samples=K`` (Noise) or a batch of support sets, outputs get a
        leading dimension of K / T.
        """
        split = self.condition.split(cond, samples)
        try:
            return self._run(split, None, x, args, kwargs)
        except Exception as err:
            wrapped = self._target_failed(err, x, args, kwargs)
            if wrapped is None:
                raise
            raise wrapped from err

    def call(self, weights: GeneratedWeights, x: Any, *args: Any, **kwargs: Any) -> Any:
        """Run the target on ``x`` with weights from :meth:`weights` (``forward`` is ``call(weights(cond), x)``)."""
        if not isinstance(weights, GeneratedWeights):
            raise ConditionError(
                f"expected the GeneratedWeights returned by model.weights(cond), got {describe(weights)}; pass w = model.weights(cond)"
            )
        if weights.flat.dim() != 2 or weights.flat.shape != (weights.split.count, self.spec.numel):
            raise ConditionError(
                f"expected weights.flat of shape ({weights.split.count}, {self.spec.numel}), got {describe(weights.flat)}; "
                "pass what model.weights(cond) returned for this model"
            )
        try:
            return self._run(weights.split, weights.flat, x, args, kwargs)
        except Exception as err:
            wrapped = self._target_failed(err, x, args, kwargs)
            if wrapped is None:
                raise
            raise wrapped from err

    def _run(self, split: Split, flat: torch.Tensor | None, x: Any, args: Args, kwargs: Kwargs) -> Any:
        call_args, call_kwargs = call_arguments(x, args, kwargs)
        # one weight set for any batch: no argument travels with samples, nothing to classify
        single = split.mode == "single" and split.batch is None
        inputs = None if single else self._inputs(split, x, call_args, call_kwargs)
        if isinstance(x, torch.Tensor) and x.device != self.scale.device:
            raise HypernetError(f"expected x on {self.scale.device} (where the model is), got {describe(x)}; use x.to(...)")
        if split.mode == "single":
            with self._protect_buffers():
                weights = self._flat(split) if flat is None else flat
                return self._call_target(self.spec.unflatten(weights[0]), call_args, call_kwargs)
        assert inputs is not None
        if self._needs_loop():
            with self._protect_buffers():
                return self._run_sets(split, flat, inputs, loop=True)
        try:
            with self._protect_buffers():
                _foreign.allow_vmap_in_transformers()
                return self._run_sets(split, flat, inputs, loop=False)
        except RuntimeError as error:
            if self.per_sample in ("vmap", "linear") or "vmap" not in str(error):
                raise
            reason = str(error).splitlines()[0]
        # The target does something vmap cannot batch (data-dependent control flow, an op without a batching
        # rule): loop over the unique weight sets. Only when the loop succeeds is this remembered for the model
        # (a call that raises leaves the model as it was).
        with self._protect_buffers():
            out = self._run_sets(split, flat, inputs, loop=True)
        self._vmap_unsupported = reason
        log.warning(
            "hypernet: vmap cannot run %s (%s); per-sample calls loop over unique weight sets from now on "
            "(pass per_sample='loop' to choose this up front)",
            type(self.target).__name__,
            reason,
        )
        return out

    def _run_sets(self, split: Split, flat: torch.Tensor | None, inputs: Inputs, loop: bool) -> Any:
        call = self._call_target
        if split.mode == "per_sample":
            return self._per_sample(call, inputs, split, loop, flat)
        blocks = self._blocks(split)
        outs = []
        for block, part in zip(blocks, self._block_weights(split, blocks, flat), strict=True):
            params = self.spec.unflatten(part)
            rows = torch.arange(block.start, block.stop, device=self.scale.device)
            sub = inputs.select(rows) if inputs.batched else inputs
            if loop:
                outs.append(_batching.sets_loop(call, params, sub, len(block)))
            else:
                outs.append(_batching.sets_vmap(call, params, sub))
        return _batching.cat_sets(outs)

    def _blocks(self, split: Split) -> list[range]:
        """Consecutive runs of at most ``sets_per_block`` unique conditions (indices into the generated sets)."""
        size = self.sets_per_block
        return [range(start, min(start + size, split.count)) for start in range(0, split.count, size)]

    def _block_weights(self, split: Split, blocks: list[range], flat: torch.Tensor | None = None) -> Iterator[torch.Tensor]:
        """The generated ``(len(block), n)`` rows of each block.

        A small generator runs once per block, so a block's weights are made and used while
        they are still in cache. A generator with more parameters than a block has outputs
        (e.g. ``"mlp"``) runs once for all sets, so its weight gradient is formed once, not
        once per block; ``torch.split`` hands out the rows (its backward is one concatenation).
        Weights given by the caller (:meth:`call`) are split the same way.
        """
        if flat is None and len(blocks) > 1 and self.generator.num_parameters <= self.sets_per_block * self.generator.output_size:
            emb = self.condition(split.values)
            for block in blocks:
                yield torch.addcmul(self.base, self._raw(emb[block.start : block.stop]), self.scale)
        else:
            yield from (self._flat(split) if flat is None else flat).split([len(b) for b in blocks])

    def _per_sample(self, call: _batching.Call, inputs: Inputs, split: Split, loop: bool, flat: torch.Tensor | None) -> Any:
        inverse = split.inverse
        assert inverse is not None
        run = _batching.per_sample_loop if loop else _batching.per_sample_vmap
        if self._linear_path is not None and not loop and not torch.compiler.is_compiling():
            run = self._linear_call
        blocks = self._blocks(split)
        if len(blocks) == 1:
            weights = self._flat(split) if flat is None else flat
            return run(call, self.spec.unflatten(weights), inputs, inverse, split.count)
        outs, rows = [], []
        for block, part in zip(blocks, self._block_weights(split, blocks, flat), strict=True):
            mine = ((inverse >= block.start) & (inverse < block.stop)).nonzero().squeeze(1)
            params = self.spec.unflatten(part)
            sub_inverse = inverse.index_select(0, mine) - block.start
            outs.append(run(call, params, inputs.select(mine), sub_inverse, len(block)))
            rows.append(mine)
        return _batching.merge_rows(outs, rows, self.batch_dim)

    def _linear_call(self, call: _batching.Call, params: dict[str, torch.Tensor], inputs: Inputs, inverse: torch.Tensor, count: int) -> Any:
        """The target once on the whole batch, its generated linear layers using each sample's weight set."""
        assert self._linear_path is not None
        args, kwargs = inputs.rebuild()
        try:
            with self._exclusive():
                return self._linear_path.run(lambda: self.target(*args, **kwargs), params, inverse)
        except LinearPathUnsupported as err:
            raise ConfigError(
                f"expected a target that only uses its generated linear layers by calling them on batch-first inputs "
                f"(per_sample='linear'), got: {err}; use per_sample='auto' (vmap)"
            ) from err
        except Exception as err:
            err._hypernet_in_target = True  # type: ignore[attr-defined]  # forward / call say it came from the target
            raise

    def extra_repr(self) -> str:
        return (
            f"generated={self.spec.numel}, parametrization={self.parametrization!r}, init={self.init!r}, compression={self.compression:.3f}"
        )


def _swap_out(saved: list[tuple[dict[str, Any], str, Any]]) -> None:
    """Put back the parameters :meth:`HyperModel._swap_in` replaced."""
    for params, attr, original in saved:
        params[attr] = original
