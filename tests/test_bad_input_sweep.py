"""Every public entry point given wrong input either works or raises a clear ``hn.HypernetError``.

Each entry (a constructor, method or function of ``hypernet.__all__`` or of a recipe's ``__all__``) has
valid keyword arguments on a tiny model; every one of its parameters in turn is replaced by wrong
values: values derived from the valid one (wrong type, empty, NaN / inf, negative, zero and huge sizes,
mismatched lengths, a string where a tensor belongs) and values drawn by hypothesis (derandomized).

The call must return, or raise a :class:`hypernet.HypernetError` whose message says what was expected,
what was got and how to fix it; a call that raises leaves the object's ``state_dict`` (or, for
estimators without one, its attributes) as it was. scikit-learn estimators may raise scikit-learn's
own ``ValueError`` for ``X`` / ``y`` (``allow=``). A call that returns must not leave NaN or inf in
the object's state.

Every entry's valid arguments are checked to work (so a refusal is the bad value's doing), methods
without arguments are called once, and a coverage test enumerates every public callable (functions,
constructors and the public methods a class defines, of ``hypernet.__all__`` and each recipe's
``__all__``): each is swept or listed in ``EXEMPT`` with a reason that ``test_exemptions_are_honest``
checks against the object. ``SWEEP_LOG=path`` logs every failure and goes on (to list what it finds).
"""

from __future__ import annotations

import copy
import functools
import inspect
import math
import re
import signal
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pytest
import torch
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from torch import nn

import hypernet as hn
from hypernet.training import TrainingError

SECONDS = 20  # one entry's sweep; a hang is a failure, not a stuck test run


# ----------------------------------------------------------------------------- wrong values
class Opaque:
    """An object of a type nothing expects."""

    def __repr__(self) -> str:
        return "Opaque()"


def wrong_values(valid: Any, *, count: bool = False) -> list[Any]:
    """Wrong values derived from a valid one: its kind decides which mistakes a user makes with it."""
    out: list[Any] = [None, Opaque(), "abc"]
    if isinstance(valid, bool):
        return [*out, 2, "yes", math.nan]
    if isinstance(valid, int):
        out += [-1, 0, 2.5, "3", True, math.nan, -(10**12)]
        if not count:
            out.append(10**12)
        return out
    if isinstance(valid, float):
        return [*out, math.nan, math.inf, -math.inf, -1.0, 0.0, "0.1", 10.0**12]
    if isinstance(valid, str):
        return [*out, "", "nope", 3, ["a"]]
    if isinstance(valid, torch.Tensor):
        return [*out, *tensor_mistakes(valid)]
    if isinstance(valid, np.ndarray):
        return [*out, *(t.numpy() if isinstance(t, torch.Tensor) else t for t in tensor_mistakes(torch.as_tensor(valid)))]
    if isinstance(valid, nn.Module):
        return [*out, 3, nn.ReLU(), [valid]]
    if isinstance(valid, Mapping):
        return [*out, {}, {"nope": 1}, list(valid.items())]
    if isinstance(valid, (list, tuple)):
        out += [[], (), [None], ["abc"]]
        if len(valid) > 1:
            out.append(type(valid)(valid[:-1]))  # a mismatched length
        if valid and isinstance(valid[0], (tuple, list)) and len(valid[0]) == 2 and isinstance(valid[0][0], torch.Tensor):
            x, y = valid[0]  # a loader of (x, y) batches
            out += [[(x, y[:-1])], [(x,)], [("a", "b")], [(x * math.nan, y)], [(x, y.float() + 0.5)], [(x[:, :-1], y)], [x]]
        return out
    return out


def tensor_mistakes(t: torch.Tensor) -> list[Any]:
    out: list[Any] = [t[:0], t.reshape(-1)[:1].reshape(()) if t.numel() else t.sum(), t.unsqueeze(0), t.tolist(), str(t.tolist())]
    if t.dtype.is_floating_point:
        out += [t * math.nan, t + math.inf, t.long(), t.bool(), t.double()]
    else:
        out += [t.float(), t - 10**6, t + 10**6, t.bool()]
    if t.dim() >= 1 and t.shape[0] > 1:
        out.append(t[:-1])
    if t.dim() >= 2:
        out += [t[:, :-1], t.transpose(0, 1)]
    return out


ANY = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(min_value=-(2**12), max_value=2**12),  # larger sizes: the fixed 10**12 (refused before any allocation)
    st.floats(allow_nan=True, allow_infinity=True),
    st.text(max_size=6),
    st.lists(st.integers(min_value=-3, max_value=3), max_size=3),
    st.dictionaries(st.text(max_size=3), st.integers(), max_size=2),
)


# ----------------------------------------------------------------------------- the oracle
@dataclass
class Entry:
    """One public callable with valid keyword arguments.

    Attributes:
        name: ``Class.method`` or ``function``.
        fn: ``fn(obj, **kwargs)`` for a method (``make`` builds ``obj``), else ``fn(**kwargs)``.
        valid: keyword arguments that work.
        make: builds the object a method runs on (fresh for every parameter swept).
        skip: parameters not swept (callbacks, progress flags, ...).
        counts: parameters that count loop iterations (no huge values: a huge count is valid and slow).
        allow: other exceptions accepted (scikit-learn's ValueError for X / y).
        extra: more wrong values, per parameter.
    """

    name: str
    fn: Callable[..., Any]
    valid: dict[str, Any]
    make: Callable[[], Any] | None = None
    skip: frozenset[str] = frozenset()
    counts: frozenset[str] = frozenset()
    allow: dict[str, tuple[type[BaseException], ...]] = field(default_factory=dict)
    extra: dict[str, list[Any]] = field(default_factory=dict)
    sig: Callable[..., Any] | None = None
    check: Callable[[str, Any, Any], None] | None = None  # check(param, bad, result) when the call returns
    covers: tuple[str, ...] = ()  # the public callables this entry sweeps (default: its name)

    def params(self) -> list[str]:
        """The parameters swept: those of ``sig`` (default ``fn``), without ``self``, ``*args``, ``**kwargs`` and ``skip``."""
        signature = inspect.signature(self.sig or self.fn)
        return [
            p.name
            for p in signature.parameters.values()
            if p.kind not in (p.VAR_POSITIONAL, p.VAR_KEYWORD) and p.name not in ("self", "cls") and p.name not in self.skip
        ]


def _state(obj: Any) -> dict[str, Any]:
    if obj is None:
        return {}
    if hasattr(obj, "state_dict") and callable(obj.state_dict):
        return {k: v.detach().clone() if isinstance(v, torch.Tensor) else copy.deepcopy(v) for k, v in obj.state_dict().items()}
    out = {}
    for k, v in vars(obj).items():
        if isinstance(getattr(type(obj), k, None), functools.cached_property):
            continue  # a value computed on first use (ParamSpec.names) is not state
        if isinstance(v, torch.Tensor):
            out[k] = v.detach().clone()
        elif isinstance(v, np.ndarray):
            out[k] = v.copy()
        elif isinstance(v, nn.Module):
            out[k] = _state(v)
        else:
            out[k] = ("id", id(v))
    return out


def _same(a: Any, b: Any) -> bool:
    if isinstance(a, dict):
        return isinstance(b, dict) and a.keys() == b.keys() and all(_same(a[k], b[k]) for k in a)
    if isinstance(a, torch.Tensor):
        return isinstance(b, torch.Tensor) and a.shape == b.shape and bool(((a == b) | (a.isnan() & b.isnan())).all())
    if isinstance(a, np.ndarray):
        return isinstance(b, np.ndarray) and a.shape == b.shape and bool(np.array_equal(a, b, equal_nan=a.dtype.kind == "f"))
    return bool(a == b)


def _finite(state: dict[str, Any]) -> list[str]:
    bad = []
    for k, v in state.items():
        if isinstance(v, dict):
            bad += [f"{k}.{n}" for n in _finite(v)]
        elif isinstance(v, torch.Tensor) and v.dtype.is_floating_point and not bool(v.isfinite().all()):
            bad.append(k)
    return bad


FIX = re.compile(
    r"\b(pass|use|call|set|give|install|fetch|run|build|check|move|rename|wrap|add|remove|choose|make|convert|keep|"
    r"fit|train|split|create|drop|flatten|reshape|cast|encode|lower|raise|increase|reduce|load|save|list|write|select|"
    r"register|e\.g\.|such as|one of|at most|at least|between|or)\b",
    re.I,
)


def check_message(err: BaseException, what: str) -> None:
    msg = str(err)
    where = msg.lower().find("got")
    assert "expected" in msg.lower() and where >= 0, f"{what}: message without expected / got: {msg!r}"
    assert FIX.search(msg[where:]) or ";" in msg[where:], f"{what}: message without a fix after what was got: {msg!r}"


class _Timeout(Exception):
    pass


def _alarm(signum: int, frame: Any) -> None:
    raise _Timeout(f"one entry's sweep took more than {SECONDS} s")


def run_one(entry: Entry, obj: Any, param: str, bad: Any) -> None:
    kwargs = {**entry.valid, param: bad}
    what = f"{entry.name}({param}={_short(bad)})"
    before = _state(obj)
    try:
        result = entry.fn(**kwargs) if entry.make is None else entry.fn(obj, **kwargs)
    except hn.HypernetError as err:
        check_message(err, what)
        if not isinstance(err, TrainingError):  # training diverged after some steps: the state is the last finite step
            assert _same(before, _state(obj)), f"{what} raised {type(err).__name__} but changed the object's state"
        return
    except entry.allow.get(param, ()) as err:
        assert _same(before, _state(obj)), f"{what} raised {type(err).__name__} but changed the object's state"
        return
    except _Timeout:
        raise
    except Exception as err:
        raise AssertionError(f"{what} raised {type(err).__name__}: {str(err)[:300]}") from err
    assert not _finite(_state(obj)), f"{what} returned but left NaN / inf in {_finite(_state(obj))}"
    negative = isinstance(bad, int) and not isinstance(bad, bool) and bad < 0
    assert not (param in entry.counts and negative), f"{what} accepted a negative count silently"
    if entry.check is not None:
        entry.check(param, bad, result)


def _short(v: Any) -> str:
    text = hn.errors.describe(v) if not isinstance(v, (list, tuple, dict, str)) else repr(v)
    return text if len(text) < 60 else text[:57] + "..."


# ----------------------------------------------------------------------------- valid inputs on tiny models
def target() -> nn.Module:
    torch.manual_seed(0)
    return nn.Sequential(nn.Linear(3, 4), nn.ReLU(), nn.Linear(4, 2))


def wide_target() -> nn.Module:
    """Wide enough for a static hypernetwork of half its size."""
    torch.manual_seed(0)
    return nn.Sequential(nn.Linear(3, 64), nn.ReLU(), nn.Linear(64, 2))


def peft_model() -> hn.HyperModel:
    """A HyperModel generating the LoRA weights of a peft target (what export_peft exports)."""
    from peft import LoraConfig, get_peft_model

    lora = get_peft_model(target(), LoraConfig(r=2, target_modules=["0"]))
    return hn.HyperModel(lora, condition=hn.Embedding(3, 4), generator="mlp", generate="*lora_*", generator_kwargs={"hidden": (8,)})


def model() -> hn.HyperModel:
    return hn.HyperModel(target(), condition=hn.Embedding(3, 4), generator="mlp", generator_kwargs={"hidden": (8,)})


def loader(n: int = 8, d: int = 3, classes: int = 2, batches: int = 1) -> list[tuple[torch.Tensor, torch.Tensor]]:
    g = torch.Generator().manual_seed(0)
    return [(torch.randn(n, d, generator=g), torch.arange(n) % classes) for _ in range(batches)]


X = torch.randn(5, 3, generator=torch.Generator().manual_seed(1))


def method(cls: type, attr: str, make: Callable[[], Any], valid: dict[str, Any], *, name: str | None = None, **kw: Any) -> Entry:
    """An entry for ``cls.attr`` on objects built by ``make`` (``name``: the entry's name, default ``Class.attr``)."""
    title = name or f"{cls.__name__}.{attr}"
    return Entry(title, lambda obj, **k: getattr(obj, attr)(**k), valid, make=make, sig=getattr(cls, attr), **kw)


def function(fn: Callable[..., Any], valid: dict[str, Any], name: str | None = None, **kw: Any) -> Entry:
    """An entry for a function or a constructor."""
    sig = kw.pop("sig", None) or (fn.__init__ if inspect.isclass(fn) else fn)  # type: ignore[misc]
    return Entry(name or getattr(fn, "__qualname__", str(fn)), fn, valid, sig=sig, **kw)


def core_entries() -> list[Entry]:
    emb = hn.Embedding(3, 4)
    return [
        function(
            hn.HyperModel,
            {
                "target": target(),
                "condition": hn.Embedding(3, 4),
                "generator": "mlp",
                "generate": "all",
                "parametrization": None,
                "init": "hyperfan",
                "batch_dim": 0,
                "per_sample": "auto",
                "generator_kwargs": {"hidden": (8,)},
                "sets_per_block": None,
                "shared": (),
            },
            name="HyperModel",
            extra={"generate": [["nope.*"], [], ["0.*", 3], lambda n, t: False]},
        ),
        method(hn.HyperModel, "forward", model, {"x": X, "cond": 1, "samples": None}, extra={"cond": [torch.tensor([0, 1]), 3, -1]}),
        method(hn.HyperModel, "weights", model, {"cond": 1, "samples": None}),
        method(hn.HyperModel, "flat_weights", model, {"cond": torch.tensor([0, 2]), "samples": None}),
        method(hn.HyperModel, "generate", model, {"cond": 1, "samples": None}),
        method(hn.HyperModel, "materialize", model, {"cond": 2}),
        method(hn.HyperModel, "call", model, {"weights": model().weights(1), "x": X}),
        Entry(
            "HyperModel.applied",
            lambda m, **k: _entered(m.applied(**k)),
            {"weights": model().weights(1)},
            make=model,
            sig=hn.HyperModel.applied,
        ),
        function(hn.Embedding, {"num": 3, "dim": 4}),
        function(hn.Continuous, {"in_dim": 2, "dim": 4, "fourier": 0, "encoding": "identity", "hidden": 8}),
        function(hn.SetEncoder, {"x_dim": 3, "n_classes": 2, "dim": 4, "hidden": 8}),
        function(hn.Noise, {"dim": 4}),
        function(hn.Static, {"dim": 4}),
        method(hn.Embedding, "split", lambda: emb, {"cond": torch.tensor([0, 2, 2]), "samples": None}),
        method(hn.Continuous, "split", lambda: hn.Continuous(2, 4), {"cond": torch.rand(5, 2), "samples": None}),
        method(
            hn.SetEncoder,
            "split",
            lambda: hn.SetEncoder(3, 2, 4),
            {"cond": (torch.randn(6, 3), torch.arange(6) % 2), "samples": None},
            extra={
                "cond": [
                    (torch.randn(6, 3), torch.arange(5) % 2),
                    (torch.randn(6, 3),),
                    (torch.randn(6, 3), torch.arange(6) + 5),
                    (torch.randn(6, 3) * math.nan, torch.arange(6) % 2),
                    ("a", "b"),
                    [torch.randn(6, 3)],
                ]
            },
        ),
        method(hn.Noise, "split", lambda: hn.Noise(4), {"cond": None, "samples": 3}, counts=frozenset({"samples"})),
        method(hn.Static, "split", lambda: hn.Static(4), {"cond": None, "samples": None}),
        function(hn.create_generator, {"name": "chunked"}),
        *[
            function(
                functools.partial(hn.create_generator, g),
                _gen_kwargs(g),
                name=f"create_generator({g!r})",
                sig=type(hn.create_generator(g)).__init__,
                covers=("create_generator",),
            )
            for g in hn.list_generators()
        ],
        function(hn.register_generator, {"name": "sweep-test"}),
        function(hn.ParamSpec.from_module, {"module": target(), "generate": "all"}, name="ParamSpec.from_module"),
        function(hn.export_peft, {"model": peft_model(), "cond": 1, "path": "peft-adapter"}),
        function(hn.weight_diversity, {"weights": torch.randn(4, 6), "kind": "entropy", "eps": 1e-8}),
    ]


def _entered(context: Any) -> None:
    """Enter and leave a context manager (``HyperModel.applied``): its checks run on entry."""
    with context:
        pass


def _gen_kwargs(name: str) -> dict[str, Any]:
    """Valid keyword arguments of a registered generator (its defaults)."""
    cls = type(hn.create_generator(name))
    sig = inspect.signature(cls.__init__)
    return {p.name: p.default for p in sig.parameters.values() if p.name != "self" and p.default is not inspect.Parameter.empty}


# ----------------------------------------------------------------------------- other helpers' recipes (issues 29, 32)
def federated() -> Any:
    from hypernet.recipes.federated import pathological_partition

    g = torch.Generator().manual_seed(0)
    y = torch.arange(64) % 4
    x = torch.randn(4, 6, generator=g)[y] + torch.randn(64, 6, generator=g)
    clients = pathological_partition(x, y, x[:16], y[:16], num_clients=2, classes_per_client=2, seed=0)
    fed = hn.FederatedHypernet(nn.Linear(6, 4), num_clients=2, inner_steps=1, batch_size=8, generator_kwargs={"hidden": (8,)})
    fed._sweep_clients = clients  # type: ignore[attr-defined]
    return fed


def adapters() -> Any:
    import transformers

    from hypernet.recipes.adapters._testing import tiny_tokenizer

    torch.manual_seed(0)
    config = transformers.BertConfig(
        vocab_size=64, hidden_size=16, num_hidden_layers=1, num_attention_heads=2, intermediate_size=32, max_position_embeddings=64
    )
    model = hn.AdapterHypernet(transformers.BertModel(config).eval(), tiny_tokenizer(), rank=2)
    texts = ["alpha beta", "gamma delta", "alpha gamma", "beta delta"]
    return model.fit([hn.AdapterTask("t", texts, [1, 0, 1, 0], label_names=["no", "yes"])], steps=1, batch_size=4)


def _one_text_one_prediction(param: str, bad: Any, result: Any) -> None:
    if isinstance(bad, str):
        assert len(result) == 1, f"AdapterHypernet.predict({bad!r}, task) gave {len(result)} predictions for one text"


def other_entries() -> list[Entry]:
    """Cases whose fixes live in the federated (issue 29) and adapters (issue 32) recipes."""
    return [
        Entry("FederatedHypernet.fit", lambda fed, **k: fed.fit(**{"clients": fed._sweep_clients, **k}), {"rounds": 1},
              make=federated, sig=lambda clients, rounds: None,
              extra={"clients": [[(torch.randn(8, 6), torch.arange(8) % 4)] * 2]}, counts=frozenset({"rounds"})),
        Entry("AdapterHypernet.predict", lambda m, **k: m.predict(**k), {"texts": ["alpha beta"], "task": "t"}, make=adapters,
              sig=lambda texts: None, extra={"texts": ["one text", "alpha"]}, check=_one_text_one_prediction),
    ]  # fmt: skip


def _collect(fn: Callable[..., None], *args: Any) -> None:
    """``SWEEP_LOG=path``: write every failure to a file and go on (to list what the sweep finds)."""
    import os

    log = os.environ.get("SWEEP_LOG")
    if not log:
        fn(*args)
        return
    try:
        fn(*args)
    except AssertionError as err:
        with open(log, "a") as f:
            f.write(" ".join(str(err).split())[:400] + "\n")


# ----------------------------------------------------------------------------- recipes
NOT_RUN = frozenset(
    {"progress", "run_dir", "callback", "callbacks", "device", "checkpoint_dir", "resume", "eval_loaders", "path", "optimizer"}
)
BATCHES = loader(16, 3, 2, batches=2)
XY = (BATCHES[0][0], BATCHES[0][1])


def continual() -> Any:
    return hn.ContinualLearner(target(), embedding_dim=4, num_tasks=3, generator_kwargs={"hidden": (8,)})


def trained_continual() -> Any:
    learner = continual()
    learner.fit_task(0, BATCHES, epochs=1)
    return learner


def sweep() -> Any:
    return hn.HyperparameterSweep(
        target(),
        lambda out, y, hp: nn.functional.cross_entropy(out, y) * hp["scale"],
        {"scale": hn.Uniform(0.5, 2.0)},
        embedding_dim=4,
        generator="mlp",
        generator_kwargs={"hidden": (8,)},
    )


def space() -> Any:
    return hn.MLPSpace(in_features=3, num_classes=2, depths=(1, 2), widths=(4, 8), activations=("relu", "tanh"))


def search() -> Any:
    return hn.ArchitectureSearch(space(), embedding_dim=4, generator="mlp", generator_kwargs={"hidden": (8,)})


def instant() -> Any:
    return hn.InstantClassifier(max_classes=3, hidden=8, width=16)


def fitted_instant() -> Any:
    return instant().fit(XY[0].numpy(), XY[1].numpy())


def hypertab() -> Any:
    return hn.HyperTabClassifier(n_members=2, hidden=(4,), epochs=1, batch_size=8, cond_dim=4, hyper_hidden=8, random_state=0)


def fitted_hypertab() -> Any:
    return hypertab().fit(XY[0].numpy(), XY[1].numpy())


def noise_model() -> hn.HyperModel:
    return hn.HyperModel(target(), condition=hn.Noise(4), generator="mlp", generator_kwargs={"hidden": (8,)})


def ghn() -> Any:
    return hn.GraphHyperNetwork(hidden=8, block=(8, 8, 3, 3))


def recipe_entries() -> list[Entry]:
    sklearn_value_error = (ValueError,)
    return [
        # continual
        function(
            hn.ContinualLearner,
            {
                "target": target(),
                "embedding_dim": 4,
                "generator": "mlp",
                "beta": 0.01,
                "num_tasks": 3,
                "generator_kwargs": {"hidden": (8,)},
                "init": "hyperfan",
                "lr": 1e-3,
                "lookahead": False,
                "freeze_embeddings": True,
                "reg_tasks": None,
                "grad_clip": None,
            },
            skip=NOT_RUN,
        ),
        method(
            hn.ContinualLearner,
            "fit_task",
            continual,
            {"task_id": 0, "train_loader": BATCHES, "epochs": 1, "max_steps": 1},
            skip=NOT_RUN,
            counts=frozenset({"epochs", "max_steps"}),
        ),
        method(hn.ContinualLearner, "evaluate", trained_continual, {"task_id": 0, "loader": BATCHES}),
        method(hn.ContinualLearner, "logits", trained_continual, {"x": X, "task_id": 0}),
        method(hn.ContinualLearner, "predict", trained_continual, {"x": X, "tasks": [0]}),
        method(hn.ContinualLearner, "task_entropies", trained_continual, {"x": X, "tasks": [0]}),
        # hyperparameters
        function(hn.Uniform, {"low": 0.0, "high": 1.0, "p_low": 0.0}),
        function(hn.LogUniform, {"low": 1e-3, "high": 1.0, "p_low": 0.0}),
        function(hn.HyperStep, {"val_loader": BATCHES, "every": 1, "lr": 0.05, "width": 0.1, "start": None, "metric": None}),
        function(
            hn.HyperparameterSweep,
            {
                "target": target(),
                "loss": lambda out, y, hp: nn.functional.cross_entropy(out, y),
                "space": {"scale": hn.Uniform(0.5, 2.0)},
                "weight_decay": None,
                "metrics": None,
                "generator": "mlp",
                "init": "mip",
                "embedding_dim": 4,
                "per_batch": 2,
                "generate": "all",
                "generator_kwargs": {"hidden": (8,)},
            },
        ),
        method(
            hn.HyperparameterSweep,
            "fit",
            sweep,
            {"train_loader": BATCHES, "epochs": 1, "lr": 1e-3, "hyper_step": None},
            skip=NOT_RUN,
            counts=frozenset({"epochs"}),
        ),
        method(hn.HyperparameterSweep, "curve", sweep, {"values": [0.5, 1.0], "val_loader": BATCHES}),
        method(hn.HyperparameterSweep, "generate", sweep, {"hp": 1.0}),
        method(hn.HyperparameterSweep, "materialize", sweep, {"hp": {"scale": 1.0}}),
        method(hn.HyperparameterSweep, "sample_unit", sweep, {"batch_size": 3}),
        function(hn.Curve, {"points": [{"a": 0.1}, {"a": 0.2}], "metrics": {"loss": [1.0, 0.5]}}),
        method(hn.Curve, "best", lambda: hn.Curve([{"a": 0.1}, {"a": 0.2}], {"loss": [1.0, 0.5]}), {"metric": "loss", "mode": "min"}),
        # architecture
        function(hn.MLPSpace, {"in_features": 3, "num_classes": 2, "depths": (1, 2), "widths": (4, 8), "activations": ("relu", "tanh")}),
        function(hn.Architecture, {"widths": (4,), "activations": ("relu",)}),
        method(hn.MLPSpace, "sample", space, {"n": 2, "generator": None, "distinct": False, "depth_weights": None}),
        method(hn.MLPSpace, "build", space, {"arch": hn.Architecture((4,), ("relu",))}),
        function(
            hn.ArchitectureSearch,
            {
                "space": space(),
                "loss": None,
                "metrics": None,
                "generator": "mlp",
                "init": "mip",
                "embedding_dim": 4,
                "generator_kwargs": {"hidden": (8,)},
                "depth_weights": None,
            },
        ),
        method(
            hn.ArchitectureSearch,
            "fit",
            search,
            {"train_loader": BATCHES, "epochs": 1, "lr": 1e-3},
            skip=NOT_RUN,
            counts=frozenset({"epochs"}),
        ),
        method(
            hn.ArchitectureSearch,
            "rank",
            search,
            {"candidates": [hn.Architecture((4,), ("relu",))], "val_loader": BATCHES, "metric": "acc", "mode": "max"},
        ),
        method(hn.ArchitectureSearch, "materialize", search, {"arch": hn.Architecture((4,), ("relu",))}),
        method(hn.ArchitectureSearch, "sample", search, {"n": 2, "seed": 0}),
        # compression
        function(
            hn.static_hypernet,
            {
                "target": wide_target(),
                "ratio": 2.0,
                "generator": "ha",
                "generator_kwargs": None,
                "size_arg": None,
                "cond_dim": 4,
                "generate": "all",
                "init": "hyperfan",
                "max_size": 16384,
            },
        ),
        function(
            hn.compress,
            {
                "target": wide_target(),
                "data": XY,
                "ratio": 2.0,
                "generator": "ha",
                "epochs": 1,
                "batch_size": 8,
                "lr": None,
                "shared_lr": 3e-3,
                "seed": 0,
            },
            skip=frozenset({"generator_kwargs", "size_arg", "generate"}),
            counts=frozenset({"epochs"}),
        ),
        # instant
        function(
            hn.InstantClassifier,
            {"backbone": None, "max_classes": 3, "hidden": 8, "head": None, "width": 16, "standardize": None, "adapt": None},
            counts=frozenset({"adapt"}),
        ),
        method(hn.InstantClassifier, "fit", instant, {"X": XY[0].numpy(), "y": XY[1].numpy()}),
        method(hn.InstantClassifier, "predict", fitted_instant, {"X": XY[0].numpy()}),
        method(hn.InstantClassifier, "predict_proba", fitted_instant, {"X": XY[0].numpy()}),
        method(hn.InstantClassifier, "score", fitted_instant, {"X": XY[0].numpy(), "y": XY[1].numpy()}),
        method(hn.InstantClassifier, "classify", instant, {"x_support": XY[0], "y_support": XY[1], "x_query": X}),
        # hypertab (scikit-learn's own ValueError for X / y)
        method(
            hn.HyperTabClassifier,
            "fit",
            hypertab,
            {"X": XY[0].numpy(), "y": XY[1].numpy()},
            allow={"X": sklearn_value_error, "y": sklearn_value_error},
        ),
        method(hn.HyperTabClassifier, "predict", fitted_hypertab, {"X": XY[0].numpy()}, allow={"X": sklearn_value_error}),
        method(hn.HyperTabClassifier, "predict_proba", fitted_hypertab, {"X": XY[0].numpy()}, allow={"X": sklearn_value_error}),
        Entry(
            "HyperTabClassifier(...).fit",
            lambda **k: hn.HyperTabClassifier(**k).fit(XY[0].numpy(), XY[1].numpy()),
            {"n_members": 2, "hidden": (4,), "epochs": 1, "batch_size": 8, "cond_dim": 4, "hyper_hidden": 8, "random_state": 0},
            sig=hn.HyperTabClassifier.__init__,
            skip=frozenset({"verbose", "device", "n_jobs"}),
            counts=frozenset({"epochs"}),
            covers=("HyperTabClassifier",),
        ),
        # uncertainty
        function(
            hn.NoiseStep,
            {
                "samples": 2,
                "diversity": "entropy",
                "diversity_weight": 0.0,
                "likelihood": "mean",
                "contrast": None,
                "contrast_weight": 0.1,
                "contrast_scale": 1.0,
            },
        ),
        function(hn.predictive, {"model": noise_model(), "x": X, "samples": 3, "draws": None, "batch_size": None}),
        function(hn.Predictive.from_logits, {"logits": torch.randn(3, 5, 2)}, name="Predictive.from_logits"),
        # graph: input checks at the top of the public methods
        function(
            hn.GraphHyperNetwork,
            {
                "hidden": 8,
                "block": (8, 8, 3, 3),
                "virtual_edges": 5,
                "rounds": 1,
                "layernorm": True,
                "custom_ops": None,
                "leaf_modules": (),
            },
        ),
        method(hn.GraphHyperNetwork, "predict", ghn, {"module": target()}),
        method(hn.GraphHyperNetwork, "initialize_", ghn, {"module": target(), "data": None}, extra={"data": ["abc", [1, 2]]}),
        method(hn.GraphHyperNetwork, "graph", ghn, {"module": target()}),
    ]


# ----------------------------------------------------------------------------- the rest of the public API
def generator() -> Any:
    return hn.create_generator("mlp", hidden=(8,))


def bound_generator() -> Any:
    g = generator().bind(hn.ParamSpec.from_module(target()), 4)
    g.build()
    return g


def curve() -> Any:
    return hn.Curve([{"a": 0.1}, {"a": 0.2}], {"loss": [1.0, 0.5]})


def curved_sweep() -> Any:
    s = sweep()
    s.curve([0.5, 1.0], BATCHES)
    return s


def hp_space() -> Any:
    from hypernet.recipes.hyperparameters import HyperparameterSpace

    return HyperparameterSpace({"a": hn.Uniform(0.0, 1.0), "b": hn.LogUniform(1e-3, 1.0)})


ARCH = hn.Architecture((4,), ("relu",))


def core_rest_entries() -> list[Entry]:
    spec = hn.ParamSpec.from_module(target())
    flat = torch.randn(spec.numel if hasattr(spec, "numel") else sum(t.numel for t in spec.tensors))
    return [
        Entry("list_generators", lambda: hn.list_generators(), {}),
        function(hn.Generator, {}, name="Generator"),
        method(hn.Generator, "bind", generator, {"spec": spec, "cond_dim": 4}),
        method(hn.Generator, "calibrate_", bound_generator, {}),
        method(hn.Generator, "output_signs", bound_generator, {}),
        method(hn.Generator, "zero_output_", bound_generator, {}),
        method(hn.ParamSpec, "unflatten", lambda: spec, {"flat": flat}),
        method(hn.ParamSpec, "flatten", lambda: spec, {"tensors": spec.unflatten(flat)}),
        method(hn.ParamSpec, "per_element", lambda: spec, {"values": [1.0] * len(spec.tensors)}),
        method(hn.HyperModel, "reset_to_target_", model, {}),
        method(hn.Continuous, "encode", lambda: hn.Continuous(2, 4), {"x": torch.rand(5, 2)}),
        method(hn.Continuous, "set_encoding_", lambda: hn.Continuous(2, 4), {"encoding": "mip"}),
        method(hn.Curve, "values", curve, {"name": "a"}),
        method(hn.Curve, "to_numpy", curve, {}),
        method(hn.Curve, "to_pandas", curve, {}),
        method(hn.HyperparameterSweep, "best", curved_sweep, {"metric": None, "mode": "min"}),
        method(hn.HyperparameterSweep, "to_unit", sweep, {"hp": {"scale": 1.0}}),
        method(
            hn.HyperparameterSweep,
            "train_single",
            sweep,
            {"hp": {"scale": 1.0}, "train_loader": BATCHES, "epochs": 1, "lr": 1e-3},
            skip=NOT_RUN,
            counts=frozenset({"epochs"}),
        ),
        Entry(
            "HyperparameterSweep.training_step",
            lambda obj, **k: obj.training_step(**{"net": obj, **k}),
            {"batch": BATCHES[0]},
            make=sweep,
            sig=hn.HyperparameterSweep.training_step,
        ),
        method(hn.ArchitectureSearch, "evaluate", search, {"arch": ARCH, "val_loader": BATCHES}),
        method(hn.ArchitectureSearch, "score", search, {"arch": ARCH, "val_loader": BATCHES, "metric": "acc"}),
        method(hn.ArchitectureSearch, "generate", search, {"arch": ARCH}),
        method(hn.ArchitectureSearch, "forward", search, {"x": X, "arch": ARCH}),
        method(hn.HyperparameterSweep, "forward", sweep, {"x": X, "hp": {"scale": 1.0}, "unit": None, "with_weight_decay": False}),
        method(hn.GraphHyperNetwork, "forward", ghn, {"module": target()}),
        Entry(
            "ArchitectureSearch.training_step",
            lambda obj, **k: obj.training_step(**{"net": obj, **k}),
            {"batch": BATCHES[0]},
            make=search,
            sig=hn.ArchitectureSearch.training_step,
        ),
        method(hn.ContinualLearner, "backward_transfer", trained_continual, {}),
        method(hn.ContinualLearner, "task_logits", trained_continual, {"x": X, "tasks": [0]}),
        method(hn.ContinualLearner, "save", trained_continual, {"path": "learner.pt"}),
        method(hn.ContinualLearner, "load", continual, {"path": _saved(trained_continual, "learner.pt")}),
        method(hn.InstantClassifier, "config", instant, {}),
        method(hn.InstantClassifier, "materialize", fitted_instant, {}),
        method(hn.InstantClassifier, "decision_function", fitted_instant, {"X": XY[0].numpy()}),
        method(
            hn.InstantClassifier,
            "meta_fit",
            instant,
            {"tasks": _tabular_tasks, "steps": 1, "lr": 1e-3, "weight_decay": 0.0, "seed": 0},
            skip=NOT_RUN,
            counts=frozenset({"steps"}),
        ),
        method(hn.InstantClassifier, "save", fitted_instant, {"path": "instant.safetensors"}),
        function(
            hn.InstantClassifier.load,
            {"path": _saved(fitted_instant, "instant.safetensors"), "backbone": None},
            name="InstantClassifier.load",
        ),
        function(hn.InstantClassifier.pretrained, {"name": "tabular"}, name="InstantClassifier.pretrained"),
        method(hn.HyperTabClassifier, "member_predict_proba", fitted_hypertab, {"X": XY[0].numpy()}, allow={"X": (ValueError,)}),
        method(hn.MLPSpace, "validate", space, {"arch": ARCH}),
        method(hn.MLPSpace, "encode", space, {"arch": ARCH}),
        method(hn.MLPSpace, "decode", space, {"code": space().encode(ARCH)}),
        method(hn.MLPSpace, "depth_distribution", space, {"depth_weights": [1.0, 2.0]}),
        method(hn.MLPSpace, "num_parameters", space, {"arch": ARCH}),
        method(hn.MLPSpace, "flops", space, {"arch": ARCH}),
        method(hn.MLPSpace, "log_size", space, {}),
        method(hn.GraphHyperNetwork, "config", ghn, {}),
        method(hn.GraphHyperNetwork, "predict_graphs", ghn, {"graphs": [ghn().graph(target())]}),
        method(hn.GraphHyperNetwork, "loss", ghn, {"modules": [target()], "x": XY[0], "y": XY[1]}),
        method(
            hn.GraphHyperNetwork,
            "fit",
            ghn,
            {
                "arch_sampler": lambda g: target(),
                "train_loader": BATCHES,
                "steps": 1,
                "meta_batch": 1,
                "lr": 1e-3,
                "weight_decay": 0.0,
                "grad_clip": 5.0,
                "seed": 0,
            },
            skip=NOT_RUN,
            counts=frozenset({"steps", "meta_batch"}),
        ),
        method(hn.GraphHyperNetwork, "save", ghn, {"path": "ghn.safetensors", "info": None}),
        function(
            hn.GraphHyperNetwork.load,
            {"path": _saved(ghn, "ghn.safetensors"), "custom_ops": None, "leaf_modules": ()},
            name="GraphHyperNetwork.load",
        ),
        function(hn.GraphHyperNetwork.pretrained, {"name": "fashion-mnist"}, name="GraphHyperNetwork.pretrained"),
    ]


def _tabular_tasks(generator: torch.Generator) -> Any:
    from hypernet.recipes.instant import SyntheticTabularTasks

    return SyntheticTabularTasks(features=(3, 3), classes=(2, 3), support=(6, 8), queries=4)(generator)


def _saved(make: Callable[[], Any], name: str) -> str:
    import os
    import tempfile

    path = os.path.join(tempfile.mkdtemp(prefix="sweep-"), name)
    make().save(path)
    return path


def _probs(*shape: int) -> torch.Tensor:
    return torch.randn(*shape, generator=torch.Generator().manual_seed(2)).softmax(-1)


def _xy6() -> tuple[torch.Tensor, torch.Tensor]:
    g = torch.Generator().manual_seed(0)
    y = torch.arange(48) % 4
    return torch.randn(4, 6, generator=g)[y] + torch.randn(48, 6, generator=g), y


def _clients() -> Any:
    from hypernet.recipes.federated import pathological_partition

    x, y = _xy6()
    return pathological_partition(x, y, x[:16], y[:16], num_clients=2, classes_per_client=2, seed=0)


def _sampler() -> Any:
    from hypernet.recipes.graph import ArchitectureSampler

    return ArchitectureSampler("train", families=("mlp",), classes=10)


def _pendulum() -> Any:
    import gymnasium as gym

    env = gym.make("Pendulum-v1")
    env.reset(seed=0)
    return env


def _target_angle() -> Any:
    from hypernet.recipes.rl import TargetAngle

    env = TargetAngle(_pendulum(), 0.2)
    env.reset(seed=0)
    return env


def _inverted_pendulum() -> Any:
    import gymnasium as gym

    return gym.make("InvertedPendulum-v5")


def _target_position() -> Any:
    from hypernet.recipes.rl import TargetPosition

    env = TargetPosition(_inverted_pendulum(), 0.2)
    env.reset(seed=0)
    return env


def _swap_model() -> nn.Module:
    torch.manual_seed(0)
    return nn.TransformerEncoderLayer(8, 2, dim_feedforward=12, dropout=0.0, batch_first=True)


def _swapped() -> nn.Module:
    from hypernet.recipes.moe import swap_mlp

    layer = _swap_model()
    swap_mlp(layer, num_experts=2, top_k=1)
    return layer


def recipe_rest_entries() -> list[Entry]:
    from hypernet.recipes import adapters as A
    from hypernet.recipes import architecture as AR
    from hypernet.recipes import compression as CO
    from hypernet.recipes import continual as CL
    from hypernet.recipes import federated as FE
    from hypernet.recipes import graph as GR
    from hypernet.recipes import hyperparameters as HP
    from hypernet.recipes import hypertab as HT
    from hypernet.recipes import instant as IN
    from hypernet.recipes import moe as MO
    from hypernet.recipes import retrieval as RE
    from hypernet.recipes import rl as RL
    from hypernet.recipes import uncertainty as UN

    probs, labels = _probs(6, 3), torch.arange(6) % 3
    clients = _clients()
    x, y = _xy6()
    masks = torch.tensor(HT.sample_masks(3, 2, 2, np.random.RandomState(0)))
    g0 = torch.Generator().manual_seed(0)
    rows = [{0: 0.9}, {0: 0.8, 1: 0.7}]
    supernet = AR.MLPSupernet(space())
    return [
        # uncertainty
        function(UN.auroc, {"negatives": torch.randn(5), "positives": torch.randn(5) + 1}, name="uncertainty.auroc"),
        function(UN.contrast_inputs, {"x": X, "contrast": "gaussian", "scale": 1.0}, name="uncertainty.contrast_inputs"),
        function(UN.draw_disagreement, {"logits": torch.randn(4, 6, 3)}, name="uncertainty.draw_disagreement"),
        function(UN.entropy, {"probs": probs}, name="uncertainty.entropy"),
        function(UN.expected_calibration_error, {"probs": probs, "labels": labels, "bins": 5},
                 name="uncertainty.expected_calibration_error"),
        function(UN.mutual_information, {"sample_probs": _probs(4, 6, 3)}, name="uncertainty.mutual_information"),
        function(UN.negative_log_likelihood, {"probs": probs, "labels": labels, "eps": 1e-12}, name="uncertainty.negative_log_likelihood"),
        function(UN.reliability, {"probs": probs, "labels": labels, "bins": 5}, name="uncertainty.reliability"),
        # continual
        function(CL.accuracy_matrix, {"rows": rows, "num_tasks": None}, name="continual.accuracy_matrix"),
        function(CL.backward_transfer, {"matrix": CL.accuracy_matrix(rows)}, name="continual.backward_transfer"),
        function(CL.predictive_entropy, {"logits": torch.randn(5, 3)}, name="continual.predictive_entropy"),
        # hyperparameters
        function(HP.Range, {"low": 0.0, "high": 1.0, "p_low": 0.0}, name="hyperparameters.Range"),
        method(HP.Range, "to_unit", lambda: hn.Uniform(0.0, 2.0), {"value": torch.tensor([0.5])}, name="hyperparameters.Range.to_unit"),
        method(HP.Range, "from_unit", lambda: hn.Uniform(0.0, 2.0), {"unit": torch.tensor([0.5])}, name="hyperparameters.Range.from_unit"),
        method(HP.Range, "grid", lambda: hn.Uniform(0.0, 2.0), {"num": 3}, name="hyperparameters.Range.grid", counts=frozenset({"num"})),
        method(HP.Range, "contains", lambda: hn.Uniform(0.0, 2.0), {"value": 0.5}, name="hyperparameters.Range.contains"),
        function(HP.HyperparameterSpace, {"ranges": {"a": hn.Uniform(0.0, 1.0)}}, name="hyperparameters.HyperparameterSpace"),
        method(HP.HyperparameterSpace, "check", hp_space, {"hp": {"a": 0.5, "b": 0.1}}, name="hyperparameters.HyperparameterSpace.check"),
        method(HP.HyperparameterSpace, "to_unit", hp_space, {"hp": {"a": 0.5, "b": 0.1}, "device": None, "dtype": torch.float32},
               name="hyperparameters.HyperparameterSpace.to_unit"),
        method(HP.HyperparameterSpace, "from_unit", hp_space, {"unit": torch.tensor([0.5, 0.5])},
               name="hyperparameters.HyperparameterSpace.from_unit"),
        method(HP.HyperparameterSpace, "points", hp_space, {"values": [{"a": 0.5, "b": 0.1}]},
               name="hyperparameters.HyperparameterSpace.points"),
        function(HP.accuracy, {"output": torch.randn(5, 2), "y": torch.arange(5) % 2}, name="hyperparameters.accuracy"),
        function(HP.cross_entropy, {"output": torch.randn(5, 2), "y": torch.arange(5) % 2}, name="hyperparameters.cross_entropy"),
        function(HP.evaluate_module, {"forward": target(), "loader": BATCHES, "metrics": {"acc": HP.accuracy}, "device": None},
                 name="hyperparameters.evaluate_module"),
        # architecture
        function(AR.MLPSupernet, {"space": space()}, name="architecture.MLPSupernet"),
        method(AR.MLPSupernet, "forward", lambda: AR.MLPSupernet(space()), {"x": X, "arch": ARCH}, name="architecture.MLPSupernet.forward"),
        function(AR.plain_weights, {"params": dict(supernet.named_parameters()), "space": space(), "arch": ARCH},
                 name="architecture.plain_weights"),
        # compression
        function(CO.default_lr, {"model": hn.static_hypernet(nn.Linear(64, 32), 2.0), "scale": 0.25}, name="compression.default_lr"),
        function(CO.train_classifier, {"model": target(), "data": XY, "epochs": 1, "batch_size": 8, "lr": 3e-3, "shared_lr": None,
                 "weight_decay": 0.0, "seed": 0}, name="compression.train_classifier", skip=frozenset({"step", "callbacks"}),
                 counts=frozenset({"epochs"})),
        function(CO.trainable_parameters, {"module": target()}, name="compression.trainable_parameters"),
        # federated
        function(FE.ClientData.from_arrays, {"x_train": x, "y_train": y, "x_test": x[:4], "y_test": y[:4], "x_val": None, "y_val": None},
                 name="federated.ClientData.from_arrays"),
        function(FE.SmallCNN, {"n_kernels": 2, "n_classes": 3, "hidden": (4, 4), "side": 16}, name="federated.SmallCNN"),
        function(FE.accuracy, {"net": nn.Linear(6, 4), "x": x, "y": y, "batch": 1024}, name="federated.accuracy"),
        function(FE.pathological_partition, {"x_train": x, "y_train": y, "x_test": x, "y_test": y, "num_clients": 2,
                 "classes_per_client": 2, "val_fraction": 0.1, "seed": 0}, name="federated.pathological_partition"),
        function(FE.dirichlet_partition, {"x_train": x, "y_train": y, "x_test": x, "y_test": y, "num_clients": 2, "alpha": 0.3,
                 "val_fraction": 0.1, "min_train": 2, "seed": 0, "max_tries": 5}, name="federated.dirichlet_partition",
                 counts=frozenset({"max_tries"})),
        function(FE.fedavg, {"target": nn.Linear(6, 4), "clients": clients, "rounds": 1, "clients_per_round": 1, "local_steps": 1,
                 "eval_every": None, "finetune_steps": 0, "finetune_eval_every": 1, "finetune_patience": None, "lr": 0.005,
                 "momentum": 0.9, "weight_decay": 5e-5, "batch_size": 8, "grad_clip": 50.0, "finetune_lr": None, "seed": 0,
                 "train_clients": None}, name="federated.fedavg", skip=frozenset({"on_eval", "resume"}),
                 counts=frozenset({"rounds", "local_steps", "finetune_steps", "clients_per_round"})),
        function(FE.local_only, {"target": nn.Linear(6, 4), "clients": clients, "steps": 1, "eval_every": 1, "patience": None,
                 "lr": 0.005, "momentum": 0.9, "weight_decay": 5e-5, "batch_size": 8, "grad_clip": 50.0, "seed": 0},
                 name="federated.local_only", counts=frozenset({"steps", "eval_every"})),
        function(FE.tensor_bytes, {"obj": {"a": torch.zeros(3)}}, name="federated.tensor_bytes"),
        function(FE.train_personal, {"template": nn.Linear(6, 4), "start": {k: v.expand(2, *v.shape) for k, v in
                 nn.Linear(6, 4).state_dict().items()}, "clients": clients, "steps": 1, "eval_every": 1, "patience": None,
                 "sgd": {"lr": 0.01, "momentum": 0.9, "weight_decay": 0.0, "batch_size": 8, "grad_clip": None}, "seed": 0},
                 name="federated.train_personal", counts=frozenset({"steps", "eval_every"})),
        # graph
        function(GR.ArchitectureSampler, {"split": "train", "families": ("mlp",), "classes": 10}, name="graph.ArchitectureSampler"),
        method(GR.ArchitectureSampler, "spec", _sampler, {"generator": g0}, name="graph.ArchitectureSampler.spec"),
        method(GR.ArchitectureSampler, "sample", _sampler, {"generator": g0}, name="graph.ArchitectureSampler.sample"),
        method(GR.ArchitectureSampler, "specs", _sampler, {"n": 2, "seed": 0}, name="graph.ArchitectureSampler.specs",
               counts=frozenset({"n"})),
        method(GR.ArchSpec, "build", lambda: _sampler().spec(torch.Generator().manual_seed(0)), {}, name="graph.ArchSpec.build"),
        method(GR.ArchSpec, "as_dict", lambda: _sampler().spec(torch.Generator().manual_seed(0)), {}, name="graph.ArchSpec.as_dict"),
        method(GR.ModelGraph, "layout", lambda: ghn().graph(target()), {"full": "0.weight"}, name="graph.ModelGraph.layout"),
        method(GR.ModelGraph, "distances", lambda: ghn().graph(target()), {"cutoff": 5}, name="graph.ModelGraph.distances"),
        method(GR.ModelGraph, "flatten_map", lambda: ghn().graph(target()), {"v": 1}, name="graph.ModelGraph.flatten_map"),
        function(GR.build_graph, {"module": target(), "custom_ops": None, "leaf_modules": (), "inputs": None, "method": "auto"},
                 name="graph.build_graph"),
        function(GR.recalibrate_batchnorm, {"module": nn.Sequential(nn.Linear(3, 4), nn.BatchNorm1d(4)), "data": XY[0]},
                 name="graph.recalibrate_batchnorm"),
        # hypertab
        function(HT.FeatureMasks, {"n_features": 3, "dim": 4, "hidden": 8}, name="hypertab.FeatureMasks"),
        method(HT.FeatureMasks, "split", lambda: HT.FeatureMasks(3, 4, 8), {"cond": HT.MaskBatch(masks), "samples": None},
               name="hypertab.FeatureMasks.split", extra={"cond": [masks, masks[:, :2], HT.MaskBatch(masks, torch.tensor([0, 5]))]}),
        function(HT.sample_masks, {"n_features": 6, "k": 3, "count": 4, "rng": np.random.RandomState(0)}, name="hypertab.sample_masks",
                 counts=frozenset({"count"})),
        # instant
        function(IN.ClassWeightGenerator, {"hidden": 8, "head": "prototype", "width": 16, "adapt": None},
                 name="instant.ClassWeightGenerator"),
        function(IN.ImageEpisodes, {"images": torch.rand(40, 8, 8), "labels": torch.arange(40) % 4, "classes": [0, 1, 2, 3], "ways": 2,
                 "shots": 1, "queries": 2, "rotations": False}, name="instant.ImageEpisodes"),
        function(IN.SyntheticTabularTasks, {"features": (2, 4), "classes": (2, 3), "support": (6, 8), "queries": 4},
                 name="instant.SyntheticTabularTasks"),
        function(IN.conv4, {"channels": 4, "in_channels": 1}, name="instant.conv4"),
        # moe
        function(MO.balance_loss, {"model": _swapped()}, name="moe.balance_loss"),
        function(MO.moe_layers, {"model": _swapped()}, name="moe.moe_layers"),
        Entry("moe.swap_mlp", lambda **k: MO.swap_mlp(**k), {"model": _swap_model(), "num_experts": 2, "top_k": 1},
              sig=lambda model, num_experts, top_k: None),
        # retrieval
        function(RE.DocumentIndex, {"vectors": torch.randn(3, 4), "texts": ["a", "b", "c"], "graph": None, "encoder": "",
                 "pooling": "mean", "extra": {}}, name="retrieval.DocumentIndex"),
        method(RE.DocumentIndex, "save", lambda: RE.DocumentIndex(torch.randn(3, 4), ["a", "b", "c"]), {"path": "index.safetensors"},
               name="retrieval.DocumentIndex.save"),
        function(RE.DocumentIndex.load, {"path": _saved(lambda: RE.DocumentIndex(torch.randn(3, 4), ["a", "b", "c"]), "index.st")},
                 name="retrieval.DocumentIndex.load"),
        # rl
        method(RL.ContextFamily, "check", lambda: RL.PENDULUM, {"context": [1.0, 1.0]}, name="rl.ContextFamily.check"),
        method(RL.ContextFamily, "normalize", lambda: RL.PENDULUM, {"context": [1.0, 1.0]}, name="rl.ContextFamily.normalize"),
        method(RL.ContextFamily, "sample", lambda: RL.PENDULUM, {"n": 2, "seed": 0, "low": None, "high": None},
               name="rl.ContextFamily.sample", counts=frozenset({"n"})),
        function(RL.family, {"name": "pendulum"}, name="rl.family"),
        function(RL.TargetAngle, {"env": _pendulum(), "target": 0.2}, name="rl.TargetAngle"),
        method(RL.TargetAngle, "step", _target_angle, {"action": np.array([0.0], dtype=np.float32)}, name="rl.TargetAngle.step"),
        method(RL.TargetPosition, "step", _target_position, {"action": np.array([0.0], dtype=np.float32)}, name="rl.TargetPosition.step"),
        function(RL.TargetSpeed, {"env": _pendulum(), "target": 1.0}, name="rl.TargetSpeed"),
        function(RL.TargetPosition, {"env": _inverted_pendulum(), "target": 0.2}, name="rl.TargetPosition"),
        # adapters
        function(A.heldout_split, {"categories": {"a": ["x", "y", "z", "w"], "b": ["p", "q", "r", "s"]}, "test": {"a": 1},
                 "val": {"b": 1}, "seed": 0, "min_train": 2}, name="adapters.heldout_split"),
    ]  # fmt: skip


# ----------------------------------------------------------------------------- the newest recipes (tiny models)
def fed(**kw: Any) -> Any:
    torch.manual_seed(0)
    args = {"num_clients": 2, "inner_steps": 1, "batch_size": 8, "generator_kwargs": {"hidden": (8,)}, **kw}
    return hn.FederatedHypernet(nn.Linear(6, 4), **args)


def fed_data() -> Any:
    return fed(embedding="data", x_dim=6, n_classes=4, embedding_dim=4, embed_samples=8)


def moe() -> Any:
    torch.manual_seed(0)
    return hn.HyperMoE(4, num_experts=3, top_k=2, hidden=4, embed_dim=4, router_dim=4, router_hidden=8)


CORPUS = ["alpha beta", "gamma delta", "beta gamma", "delta alpha"]


@functools.cache
def _bert() -> Any:
    import transformers

    torch.manual_seed(0)
    cfg = transformers.BertConfig(
        vocab_size=64, hidden_size=8, num_hidden_layers=1, num_attention_heads=2, intermediate_size=16, max_position_embeddings=64
    )
    return transformers.BertModel(cfg).eval()


def hypencoder() -> Any:
    from hypernet.recipes.adapters._testing import tiny_tokenizer

    torch.manual_seed(0)
    return hn.Hypencoder(copy.deepcopy(_bert()), tiny_tokenizer(64), qnet_layers=1, qnet_hidden=8, query_max_length=8, doc_max_length=8)


@functools.cache
def _index() -> Any:
    return hypencoder().index(CORPUS, graph_neighbors=2)


def _qnets() -> Any:
    with torch.no_grad():
        return hypencoder().qnets(["alpha", "beta gamma"])


TASKS_T2L = {"copy": ("Copy the words.", [("a b", "a b"), ("c d", "c d")]), "first": ("Give the first word.", [("a b", "a")])}


def _llama() -> Any:
    from hypernet.recipes.adapters._tiny_lm import tiny_llama

    return tiny_llama(seed=0, words=("copy", "the", "words", "give", "first", "word"))


def t2l() -> Any:
    base, tok = _llama()
    return hn.TextToLoRA(base, tok, rank=2, cond_dim=4, hidden=(8,), layer_dim=4, max_length=32).build(TASKS_T2L)


def zero_shot() -> Any:
    from hypernet.recipes.rl import PENDULUM

    torch.manual_seed(0)
    zs = hn.ZeroShotPolicy(PENDULUM, hidden=(8,), embedding_dim=4, steps=1, batch_size=8, expert_steps=40, transitions=16,
                           sac_kwargs={"learning_starts": 20, "batch_size": 16, "policy_kwargs": {"net_arch": [8]}})  # fmt: skip
    return zs.build(obs_dim=3, act_dim=1)


def _zs_data() -> dict[str, torch.Tensor]:
    g = torch.Generator().manual_seed(0)
    n = 8
    return {"ctx": torch.rand(n, 2, generator=g), "obs": torch.randn(n, 3, generator=g), "action": torch.rand(n, 1, generator=g) * 2 - 1,
            "executed": torch.rand(n, 1, generator=g) * 2 - 1, "reward": -torch.rand(n, generator=g),
            "next_obs": torch.randn(n, 3, generator=g),
            "discount": torch.full((n,), 0.99), "q": -torch.rand(n, generator=g)}  # fmt: skip


def _pendulum_ctx(context: Any) -> Any:
    from hypernet.recipes.rl import PENDULUM

    env = PENDULUM(context)
    return gym_limit(env, 5)


def gym_limit(env: Any, steps: int) -> Any:
    import gymnasium as gym

    return gym.wrappers.TimeLimit(env, steps)


def _cartpole() -> Any:
    import gymnasium as gym

    return gym.wrappers.TimeLimit(gym.make("CartPole-v1"), 10)


def multi_arch() -> Any:
    torch.manual_seed(0)
    hp = hn.MultiArchPolicy(depths=(1,), widths=(4, 8), embedding_dim=4, n_envs=1, n_steps=8, batch_size=8, n_epochs=1, critic_hidden=(8,))
    return hp.build(_cartpole())


ARCH_RL = hn.Architecture((4,), ("tanh",))


def newest_entries() -> list[Entry]:
    from hypernet.recipes.retrieval import DocumentIndex, QNetWeights, SearchResult

    clients = _clients()
    f0 = fed()
    weights0 = f0.generated(0)
    enc = fed_data()._encoder_state()
    tok = hypencoder().tokenizer
    return [
        # federated
        function(hn.FederatedHypernet, {"target": nn.Linear(6, 4), "num_clients": 2, "embedding": "learned", "embedding_dim": None,
                 "x_dim": None, "n_classes": None, "generator": "mlp", "generator_kwargs": {"hidden": (8,)}, "init": "hyperfan",
                 "parametrization": None, "inner_steps": 1, "inner_lr": 5e-3, "inner_momentum": 0.9, "inner_weight_decay": 5e-5,
                 "inner_grad_clip": 50.0, "batch_size": 8, "optimizer": "sgd", "lr": 0.01, "momentum": 0.9, "weight_decay": 1e-3,
                 "grad_clip": 50.0, "clients_per_round": 1, "embed_samples": 8, "seed": 0}, name="FederatedHypernet"),
        method(hn.FederatedHypernet, "generated", fed, {"client": 0}),
        method(hn.FederatedHypernet, "sample_clients", fed, {"pool": [0, 1]}),
        method(hn.FederatedHypernet, "server_round", fed, {"clients": [0], "exchange": f0.local_exchange(clients)}),
        method(hn.FederatedHypernet, "client_update", fed, {"weights": weights0, "data": clients[0], "seed": 0}),
        method(hn.FederatedHypernet, "client_updates", fed, {"weights": {0: weights0}, "data": {0: clients[0]}, "seeds": {0: 0}}),
        method(hn.FederatedHypernet, "client_embed", fed_data, {"encoder": enc, "data": clients[0], "seed": 0}),
        method(hn.FederatedHypernet, "client_encoder_grad", fed_data,
               {"encoder": enc, "grad": torch.ones(4), "data": clients[0], "seed": 0}),
        method(hn.FederatedHypernet, "handle", fed, {"message": {"task": "train", "weights": weights0, "seed": 0}, "data": clients[0]}),
        method(hn.FederatedHypernet, "local_exchange", fed, {"clients": clients, "batched": True}),
        method(hn.FederatedHypernet, "personalize", fed, {"client": 0, "epochs": 1, "data": clients[0]}, counts=frozenset({"epochs"})),
        method(hn.FederatedHypernet, "evaluate", fed, {"clients": clients, "split": "test", "ids": None}),
        method(hn.FederatedHypernet, "client_accuracies", fed, {"clients": clients, "split": "val", "ids": [0]}),
        method(hn.FederatedHypernet, "save", fed, {"directory": "fed-ckpt", "keep_last": 3}),
        method(hn.FederatedHypernet, "resume", fed, {"directory": _saved_dir(fed)}),
        # moe
        function(hn.HyperMoE, {"d_in": 4, "d_out": None, "num_experts": 3, "top_k": 2, "expert": "mlp", "experts": "hyper",
                 "router": "learned", "hidden": 4, "activation": None, "embed_dim": 4, "generator": "chunked", "generator_kwargs": None,
                 "router_dim": 4, "router_hidden": 8, "dispatch": "auto"}, name="HyperMoE"),
        method(hn.HyperMoE, "forward", moe, {"x": torch.randn(5, 4)}),
        method(hn.HyperMoE, "logits", moe, {"x": torch.randn(5, 4)}),
        method(hn.HyperMoE, "materialize", moe, {}),
        # retrieval
        function(hn.Hypencoder, {"encoder": _bert(), "tokenizer": tok, "qnet_layers": 1, "qnet_hidden": 8, "pooling": "mean",
                 "freeze_documents": False, "query_max_length": 8, "doc_max_length": 8, "temperature": 1.0, "seed": 0}, name="Hypencoder"),
        method(hn.Hypencoder, "query_repr", hypencoder, {"hidden": torch.randn(2, 3, 8), "mask": torch.ones(2, 3, dtype=torch.long)}),
        method(hn.Hypencoder, "scores", hypencoder, {"queries": _qnets(), "docs": _index().vectors}),
        method(hn.Hypencoder, "doc_repr", hypencoder, {"features": (_index().vectors,)}),
        method(hn.Hypencoder, "qnets", hypencoder, {"queries": ["alpha", "beta gamma"], "batch_size": 64}),
        method(hn.Hypencoder, "index", hypencoder, {"texts": CORPUS, "vectors": None, "graph_neighbors": 2, "batch_size": 32,
               "keep_texts": True}),
        method(hn.Hypencoder, "search", hypencoder, {"queries": ["alpha"], "index": _index(), "k": 2, "approximate": False, "ef": 4,
               "seeds": "linear", "entry_points": 2, "max_iter": 4, "chunk": 65536, "dtype": None}, counts=frozenset({"max_iter"})),
        method(QNetWeights, "select", _qnets, {"rows": [0]}, name="retrieval.QNetWeights.select"),
        method(QNetWeights, "to", _qnets, {"dtype": torch.float64}, name="retrieval.QNetWeights.to"),
        method(QNetWeights, "detach", _qnets, {}, name="retrieval.QNetWeights.detach"),
        method(SearchResult, "texts", lambda: SearchResult(torch.zeros(1, 2), torch.tensor([[0, 1]])), {"index": _index()},
               name="retrieval.SearchResult.texts", extra={"index": [DocumentIndex(torch.randn(1, 8))]}),
        # adapters: text-to-LoRA
        function(hn.TextToLoRA, {"base": _llama()[0], "tokenizer": _llama()[1], "condition": "text", "text_encoder": None, "rank": 2,
                 "alpha": None, "target_modules": ("q_proj", "v_proj"), "cond_dim": 4, "hidden": (8,), "layer_dim": 4, "max_length": 32,
                 "seed": 0}, name="TextToLoRA"),
        method(hn.TextToLoRA, "build", t2l, {"tasks": TASKS_T2L}),
        method(hn.TextToLoRA, "loss", t2l, {"prompts": ["a b"], "targets": ["a"], "tasks": ["first"]}),
        method(hn.TextToLoRA, "fit", t2l, {"tasks": TASKS_T2L, "steps": 1, "batch_size": 2, "lr": 1e-3, "weight_decay": 0.0},
               skip=frozenset({"log"}), counts=frozenset({"steps"})),
        # generate: max_new_tokens=2 keeps a "valid" huge value from decoding for long; huge counts are refused or capped
        method(hn.TextToLoRA, "generate", t2l, {"prompts": ["a b"], "tasks": "copy", "max_new_tokens": 2, "do_sample": False,
               "temperature": 1.0, "top_p": 1.0, "use_cache": True, "seed": None}, counts=frozenset({"max_new_tokens"})),
        method(hn.TextToLoRA, "exact_match", t2l, {"examples": [("a b", "a b")], "task": "copy", "batch_size": 4, "max_new_tokens": 2},
               counts=frozenset({"max_new_tokens"})),
        method(hn.TextToLoRA, "adapter", t2l, {"task": "copy", "path": "t2l-adapter"}),
        # rl
        function(hn.ZeroShotPolicy, {"space": None, "low": [0.5, 0.5], "high": [1.5, 1.5], "hidden": (8,), "embedding_dim": 4,
                 "generator": "chunked", "value_weight": 0.01, "td_weight": 0.01, "steps": 1, "batch_size": 8, "lr": 1e-3,
                 "expert_steps": 40, "transitions": 16, "gamma": 0.99, "seed": 0, "sac_kwargs": None}, name="ZeroShotPolicy"),
        method(hn.ZeroShotPolicy, "normalize", zero_shot, {"context": [1.0, 1.0]}),
        method(hn.ZeroShotPolicy, "build", lambda: zero_shot().__class__(zero_shot().space), {"obs_dim": 3, "act_dim": 1}),
        method(hn.ZeroShotPolicy, "solve", zero_shot, {"ctx": torch.rand(2, 2), "obs": torch.randn(2, 3), "action": torch.rand(2, 1)}),
        method(hn.ZeroShotPolicy, "fit_data", zero_shot, {"data": _zs_data(), "obs_dim": 3, "act_dim": 1}, skip=frozenset({"progress"})),
        method(hn.ZeroShotPolicy, "policy", zero_shot, {"context": [1.0, 1.0]}),
        method(hn.ZeroShotPolicy, "q_function", zero_shot, {"context": [1.0, 1.0]}),
        # evaluate runs episodes: 5-step episodes (a TimeLimit) and one episode keep a working call short
        method(hn.ZeroShotPolicy, "evaluate", zero_shot, {"env_fn": _pendulum_ctx, "contexts": [[1.0, 1.0]], "episodes": 1, "seed": 0},
               counts=frozenset({"episodes"})),
        function(hn.MultiArchPolicy, {"depths": (1,), "widths": (4, 8), "activation": "tanh", "embedding_dim": 4, "generator": "chunked",
                 "n_envs": 1, "n_steps": 8, "batch_size": 8, "n_epochs": 1, "lr": 3e-3, "gamma": 0.99, "gae_lambda": 0.95,
                 "clip_range": 0.2, "ent_coef": 0.0, "vf_coef": 0.5, "max_grad_norm": 0.5, "critic_hidden": (8,), "seed": 0},
                 name="MultiArchPolicy"),
        method(hn.MultiArchPolicy, "build", lambda: hn.MultiArchPolicy(depths=(1,), widths=(4, 8), embedding_dim=4), {"env": _cartpole()}),
        method(hn.MultiArchPolicy, "sample", multi_arch, {"n": 2, "seed": 0}, counts=frozenset({"n"})),
        method(hn.MultiArchPolicy, "policy", multi_arch, {"arch": ARCH_RL}),
        # fit: one PPO rollout of 8 steps on 10-step CartPole episodes
        method(hn.MultiArchPolicy, "fit", multi_arch, {"env_fn": _cartpole, "total_steps": 8}, skip=frozenset({"progress"}),
               counts=frozenset({"total_steps"})),
        method(hn.MultiArchPolicy, "evaluate", multi_arch, {"env_fn": _cartpole, "arch": ARCH_RL, "episodes": 1, "seed": 0},
               counts=frozenset({"episodes"})),
        method(hn.MultiArchPolicy, "rank", multi_arch, {"archs": [ARCH_RL], "env_fn": _cartpole, "episodes": 1, "seed": 0},
               counts=frozenset({"episodes"})),
    ]  # fmt: skip


def _saved_dir(make: Callable[[], Any]) -> str:
    import tempfile

    path = tempfile.mkdtemp(prefix="sweep-")
    make().save(path)
    return path


def _tiny_bert16() -> Any:
    import transformers

    torch.manual_seed(0)
    config = transformers.BertConfig(
        vocab_size=64, hidden_size=16, num_hidden_layers=1, num_attention_heads=2, intermediate_size=32, max_position_embeddings=64
    )
    return transformers.BertModel(config).eval()


ADAPTER_TASK = hn.AdapterTask("t", ["alpha beta", "gamma delta", "alpha gamma", "beta delta"], [1, 0, 1, 0], label_names=["no", "yes"])


def adapter_model() -> Any:
    from hypernet.recipes.adapters._testing import tiny_tokenizer

    return hn.AdapterHypernet(_tiny_bert16(), tiny_tokenizer(), rank=2, cond_dim=8, hidden=8, max_length=16)


def adapter_entries() -> list[Entry]:
    from hypernet.recipes.adapters._testing import tiny_tokenizer

    texts = ["alpha beta", "gamma"]
    return [
        function(hn.AdapterHypernet, {"base": _tiny_bert16(), "tokenizer": tiny_tokenizer(), "kind": "lora", "rank": 2, "alpha": None,
                 "target_modules": ("query", "value"), "layers": None, "condition": "task", "text_encoder": None, "generator": "hyper",
                 "head": "labels", "cond_dim": 8, "hidden": 8, "cache": False, "max_length": 16, "temperature": 20.0,
                 "standardize": False, "seed": 0}, name="AdapterHypernet"),
        method(hn.AdapterHypernet, "build", adapter_model, {"tasks": [ADAPTER_TASK]}),
        method(hn.AdapterHypernet, "fit", adapter_model, {"tasks": [ADAPTER_TASK], "steps": 1, "batch_size": 4, "lr": 1e-3,
               "weight_decay": 0.0, "base_reg": 0.0, "checkpoint_every": 100}, skip=NOT_RUN, counts=frozenset({"steps"})),
        method(hn.AdapterHypernet, "share_cache", adapters, {"other": adapters()}),
        method(hn.AdapterHypernet, "embed", adapters, {"texts": texts, "tasks": "t", "label_names": None}),
        method(hn.AdapterHypernet, "hidden_states", adapters, {"texts": texts, "tasks": "t", "label_names": None}),
        method(hn.AdapterHypernet, "logits", adapters, {"texts": texts, "tasks": ["t", "t"], "label_names": None}),
        method(hn.AdapterHypernet, "predict_proba", adapters, {"texts": texts, "task": "t", "label_names": None, "batch_size": 64}),
        method(hn.AdapterHypernet, "adapter", adapters, {"task": "t", "path": None, "label_names": None}),
    ]  # fmt: skip


class _SpeedEnv:
    """A stand-in for HalfCheetah (not installed here): a 1-d action, ``info["x_velocity"]``."""

    def __new__(cls) -> Any:
        import gymnasium as gym

        class SpeedEnv(gym.Env):  # type: ignore[type-arg]
            observation_space = gym.spaces.Box(-1.0, 1.0, (2,))
            action_space = gym.spaces.Box(-1.0, 1.0, (1,))

            def reset(self, *, seed: int | None = None, options: Any = None) -> Any:
                return np.zeros(2, dtype=np.float32), {}

            def step(self, action: Any) -> Any:
                return np.zeros(2, dtype=np.float32), 0.0, False, False, {"x_velocity": float(np.asarray(action).sum())}

        return SpeedEnv()


@functools.cache
def _expert_cache() -> str:
    """Experts for one context, trained once (SAC, 40 steps) into a directory that ``fit`` then loads from."""
    import tempfile

    from hypernet.recipes.rl import PENDULUM

    path = tempfile.mkdtemp(prefix="sweep-experts-")
    zero_shot().fit(PENDULUM, [[1.0, 1.0]], experts=path)
    return path


def rl_fit_entries() -> list[Entry]:
    from hypernet.recipes.rl import PENDULUM, TargetSpeed

    return [
        method(TargetSpeed, "step", lambda: TargetSpeed(_SpeedEnv(), 1.0), {"action": np.array([0.0], dtype=np.float32)},
               name="rl.TargetSpeed.step"),
        # fit: experts are loaded from a cache trained once; one hypernetwork step on 16 transitions per call
        method(hn.ZeroShotPolicy, "fit", zero_shot, {"env_fn": PENDULUM, "train_contexts": [[1.0, 1.0]], "experts": _expert_cache()},
               skip=frozenset({"progress"})),
    ]  # fmt: skip


ENTRIES: list[Entry] = (
    core_entries()
    + recipe_entries()
    + other_entries()
    + core_rest_entries()
    + recipe_rest_entries()
    + newest_entries()
    + adapter_entries()
    + rl_fit_entries()
)
CASES = [(e, p) for e in ENTRIES for p in e.params()]


NO_ARGS = [e for e in ENTRIES if not e.params()]


@pytest.fixture(autouse=True)
def _in_tmp(tmp_path: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    """Paths swept (``"abc"``, ``""``) are relative: they land in a fresh directory."""
    monkeypatch.chdir(tmp_path)


@pytest.mark.parametrize("entry", ENTRIES, ids=[e.name for e in ENTRIES])
def test_the_valid_arguments_work(entry: Entry) -> None:
    """The sweep's baseline: with the valid arguments the call returns (so a refusal is the bad value's doing)."""
    obj = entry.make() if entry.make is not None else None
    entry.fn(**entry.valid) if obj is None else entry.fn(obj, **entry.valid)


@pytest.mark.parametrize("entry", NO_ARGS, ids=[e.name for e in NO_ARGS])
def test_a_call_without_arguments_works_or_raises_a_clear_error(entry: Entry) -> None:
    """Nothing to sweep: called once on a fresh object (unfitted where it can be)."""
    obj = entry.make() if entry.make is not None else None
    before = _state(obj)
    try:
        entry.fn() if entry.make is None else entry.fn(obj)
    except hn.HypernetError as err:
        check_message(err, f"{entry.name}()")
        assert _same(before, _state(obj)), f"{entry.name}() raised {type(err).__name__} but changed the object's state"


@pytest.mark.parametrize(("entry", "param"), CASES, ids=[f"{e.name}:{p}" for e, p in CASES])
def test_wrong_input_works_or_raises_a_clear_error(entry: Entry, param: str) -> None:
    obj = entry.make() if entry.make is not None else None
    valid = entry.valid.get(param, inspect.Parameter.empty)
    derived = wrong_values(valid, count=param in entry.counts) + entry.extra.get(param, [])
    old = signal.signal(signal.SIGALRM, _alarm)
    signal.alarm(SECONDS)
    try:
        for bad in derived:
            _collect(run_one, entry, obj, param, bad)

        @settings(max_examples=8, derandomize=True, deadline=None, database=None, suppress_health_check=list(HealthCheck))
        @given(bad=ANY)
        def drawn(bad: Any) -> None:
            if param in entry.counts and isinstance(bad, (int, float)) and not isinstance(bad, bool) and bad > 100:
                return  # a huge loop count is valid input (and slow)
            _collect(run_one, entry, obj, param, bad)

        drawn()
    finally:
        signal.alarm(0)
        signal.signal(signal.SIGALRM, old)


# ----------------------------------------------------------------------------- coverage: every public callable is swept
PLAIN = "plain dataclass / NamedTuple without validation: construction is all it does"
FORWARD = "nn.Module forward / extra_repr: covered through the owning call"
HOOK = "on_* callback hook: called by the training loop, not by users"
ALIAS = "typing alias"
ABSTRACT = "abstract base: its methods are swept on the concrete subclasses"
HOOK_GENERATOR = "abstract hook each generator implements, called by bind / calibrate_ with inputs they build"

EXEMPT: dict[str, str] = {
    # plain records
    "AdapterTask": PLAIN,
    "Compressed": PLAIN,
    "GeneratedWeights": PLAIN,
    "ParamSpec": PLAIN,
    "Predictive": PLAIN,
    "adapters.HeldoutSplit": PLAIN,
    "architecture.Scored": PLAIN,
    "continual.TaskPrediction": PLAIN,
    "federated.BaselineResult": PLAIN,
    "federated.ClientData": PLAIN,
    "federated.History": PLAIN,
    "graph.ArchSpec": PLAIN,
    "graph.ModelGraph": PLAIN,
    "hypertab.MaskBatch": PLAIN,
    "instant.Episode": PLAIN,
    "retrieval.QNetWeights": PLAIN,
    "retrieval.SearchResult": PLAIN,
    "rl.ContextFamily": PLAIN,
    "uncertainty.Reliability": PLAIN,
    # aliases
    "compression.Data": ALIAS,
    "hyperparameters.LossFn": ALIAS,
    "hyperparameters.MetricFn": ALIAS,
    "instant.Layers": ALIAS,
    "instant.TaskSampler": ALIAS,
    "continual.Loaders": ALIAS,
    "uncertainty.Contrast": ALIAS,
    # abstract bases
    "Condition": ABSTRACT,
    "Condition.split": ABSTRACT,
    "Condition.forward": ABSTRACT,
    "Generator.build": HOOK_GENERATOR,
    "Generator.output_layers": HOOK_GENERATOR,
    # forward / extra_repr
    **{
        f"{owner}.{name}": FORWARD
        for owner, names in {
            "Continuous": ("forward", "extra_repr"),
            "Embedding": ("forward", "extra_repr"),
            "Noise": ("forward", "extra_repr"),
            "SetEncoder": ("forward", "extra_repr"),
            "Static": ("forward", "extra_repr"),
            "HyperModel": ("extra_repr",),
            "HyperMoE": ("extra_repr",),
            "Generator": ("forward",),
            "hypertab.FeatureMasks": ("forward", "extra_repr"),
            "instant.ClassWeightGenerator": ("forward",),
            "federated.SmallCNN": ("forward",),
        }.items()
        for name in names
    },
}


def public_callables() -> dict[str, Any]:
    """Every function, class (constructor) and public method defined in a class, of ``hypernet.__all__``
    and of every recipe's ``__all__``: ``Name`` / ``Name.method`` for the core, ``recipe.Name`` for a
    recipe's own names. Exception classes and constants (values that are neither a class, a function nor
    a typing alias) are not callables users call with input."""
    import importlib
    import pkgutil
    import typing

    import hypernet.recipes

    modules: list[tuple[str, Any]] = [("", hn)]
    for info in pkgutil.iter_modules(hypernet.recipes.__path__):
        if not info.name.startswith("_"):
            modules.append((info.name + ".", importlib.import_module(f"hypernet.recipes.{info.name}")))
    out: dict[str, Any] = {}
    seen: set[int] = set()
    for prefix, module in modules:
        for name in module.__all__:
            obj = getattr(module, name)
            alias = typing.get_origin(obj) is not None
            if id(obj) in seen or not (inspect.isclass(obj) or inspect.isroutine(obj) or alias):
                continue
            seen.add(id(obj))
            if inspect.isclass(obj) and issubclass(obj, BaseException):
                continue
            out[prefix + name] = obj
            if inspect.isclass(obj):
                for key, value in vars(obj).items():
                    if not key.startswith("_") and (inspect.isfunction(value) or isinstance(value, (classmethod, staticmethod))):
                        out[f"{prefix}{name}.{key}"] = getattr(obj, key)
    return out


def test_every_public_callable_is_swept_or_exempt() -> None:
    swept = {name for e in ENTRIES for name in e.covers or (e.name,)}
    public = public_callables()
    missing = sorted(set(public) - swept - set(EXEMPT))
    assert not missing, f"{len(missing)} public callables neither swept nor exempt: {missing}"
    stale = sorted((set(EXEMPT) | swept) - set(public))
    assert not stale, f"swept / exempt names that are not public callables: {stale}"
    assert not set(EXEMPT) & swept, f"both swept and exempt: {sorted(set(EXEMPT) & swept)}"


def test_exemptions_are_honest() -> None:
    import dataclasses
    import typing

    public = public_callables()
    for name, reason in EXEMPT.items():
        obj = public[name]
        if reason == PLAIN:
            record = dataclasses.is_dataclass(obj) and "__post_init__" not in vars(obj)
            assert record or (issubclass(obj, tuple) and hasattr(obj, "_fields")), f"{name} is not a plain record"
        elif reason == FORWARD:
            assert name.rsplit(".", 1)[1] in ("forward", "extra_repr"), name
        elif reason == HOOK:
            assert name.rsplit(".", 1)[1].startswith("on_"), name
        elif reason == ALIAS:
            assert typing.get_origin(obj) is not None, name
        elif reason == HOOK_GENERATOR:
            assert "raise NotImplementedError" in inspect.getsource(obj), name
        elif reason == ABSTRACT:
            owner = public[name.rsplit(".", 1)[0]] if "." in name else obj
            assert any(issubclass(c, owner) for c in public.values() if inspect.isclass(c) and c is not owner), name
        else:
            raise AssertionError(f"{name}: unknown reason {reason!r}")
