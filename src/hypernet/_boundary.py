"""The public boundary of the recipe classes: an error from inside names the call, and a failed call changes nothing.

``@guarded(mutating=("fit",))`` on a class wraps each public method it defines:

* a plain built-in error raised inside (a ``TypeError`` from an argument of the wrong kind, a
  ``RuntimeError`` from a shape mismatch) becomes a :class:`~hypernet.errors.CallError` that is
  also of the original type, naming the method, its signature, the arguments it got and the
  original error (chained). Errors of hypernet itself and library subclasses pass unchanged.
* a method named in ``mutating`` restores the object's state (``state_dict`` of an ``nn.Module``,
  else its attributes and the weights of its ``nn.Module`` attributes) when it raises, so a failed
  ``fit`` leaves the object as it was (parameters the failed call created stay, holding nothing trained).
  :class:`~hypernet.training.TrainingError` (training diverged after some steps) is the exception:
  the state stays as the training loop left it (the last finite step), as its message says; so is an
  interrupt (``KeyboardInterrupt``), which keeps what was trained so far.

The methods check their arguments first; this catches what the checks did not foresee.

Example:
    >>> import hypernet as hn
    >>> @guarded()
    ... class Box:
    ...     def put(self, n: int) -> int:
    ...         return n + 1
    >>> try:
    ...     Box().put("a")
    ... except hn.HypernetError as e:
    ...     print(str(e)[:31], isinstance(e, TypeError))
    expected arguments that Box.put True
"""

from __future__ import annotations

import copy
import functools
import inspect
from collections.abc import Callable, Collection
from typing import Any, TypeVar

from torch import nn

from .errors import CallError, describe, wrap_error

C = TypeVar("C", bound=type)
SKIP = frozenset({"forward", "extra_repr", "state_dict", "load_state_dict", "train", "eval", "to", "get_params", "set_params"})


def _snapshot(obj: Any) -> Any:
    state_dict = getattr(obj, "state_dict", None)
    if callable(state_dict) and hasattr(obj, "load_state_dict"):
        return ("module", {k: v.detach().clone() if hasattr(v, "detach") else copy.deepcopy(v) for k, v in state_dict().items()})
    attrs = dict(vars(obj))  # and the weights of module attributes, which training changes in place
    modules = {k: _snapshot(v) for k, v in attrs.items() if isinstance(v, nn.Module)}
    return ("vars", (attrs, modules))


def _restore(obj: Any, saved: Any) -> None:
    kind, state = saved
    if kind == "module":
        if isinstance(obj, nn.Module):
            obj.load_state_dict(state, strict=False)  # parameters the failed call built (none before it) stay
        else:
            obj.load_state_dict(state)
    else:
        attrs, modules = state
        vars(obj).clear()
        vars(obj).update(attrs)
        for k, saved_module in modules.items():
            _restore(attrs[k], saved_module)


def _describe_call(args: tuple[Any, ...], kwargs: dict[str, Any]) -> str:
    parts = [describe(a) for a in args] + [f"{k}={describe(v)}" for k, v in kwargs.items()]
    text = ", ".join(parts) or "no arguments"
    return text if len(text) <= 300 else text[:297] + "..."


def _wrap(owner: str, name: str, fn: Callable[..., Any], mutating: bool, bound: bool, title: str | None = None) -> Callable[..., Any]:
    try:
        signature = str(inspect.signature(fn)).replace("(self, ", "(").replace("(self)", "()").replace(" -> None", "")
    except (TypeError, ValueError):  # pragma: no cover - builtins
        signature = "(...)"
    call = title or (f"{owner}.{name}" if owner else name)

    @functools.wraps(fn)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        saved = _snapshot(args[0]) if mutating and bound and args else None
        try:
            return fn(*args, **kwargs)
        except BaseException as err:
            from .training.errors import TrainingError

            # an interrupt (Ctrl-C, SystemExit) keeps what was trained so far, as plain PyTorch would
            if saved is not None and isinstance(err, Exception) and not isinstance(err, TrainingError):
                _restore(args[0], saved)
            original = str(err) if len(str(err)) <= 2000 else str(err)[:1997] + "..."  # whole: callers may match its text
            given = args[1:] if bound else args
            wrapped = wrap_error(
                err,
                f"expected arguments that {call}{signature} accepts, got {_describe_call(given, kwargs)}; "
                f"check the arguments against help({call}); it failed inside with {type(err).__name__}: {original}",
                CallError,
            )
            if wrapped is None or not isinstance(err, Exception):
                raise
            raise wrapped from err

    return wrapper


def guarded(mutating: Collection[str] = ()) -> Callable[[C], C]:
    """Class decorator: wrap the public methods the class defines (see the module docstring)."""

    def decorate(cls: C) -> C:
        for name, value in list(vars(cls).items()):
            if (name.startswith("_") and name not in ("__init__", "__post_init__")) or name in SKIP:
                continue
            if name in ("__init__", "__post_init__") and inspect.isfunction(value):
                setattr(cls, name, _wrap(cls.__name__, name, value, False, True, title=cls.__name__))
                continue
            if isinstance(value, staticmethod):
                setattr(cls, name, staticmethod(_wrap(cls.__name__, name, value.__func__, False, False)))
            elif isinstance(value, classmethod):
                continue
            elif inspect.isfunction(value):
                setattr(cls, name, _wrap(cls.__name__, name, value, name in mutating, True))
        return cls

    return decorate


F = TypeVar("F", bound=Callable[..., Any])


def guarded_function(fn: F) -> F:
    """:func:`guarded` for a public function."""
    return _wrap("", fn.__name__, fn, False, False)  # type: ignore[return-value]
