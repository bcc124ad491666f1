"""Run configuration: a YAML / TOML / JSON file validated against a schema.

Every config names a ``recipe`` (see :mod:`.recipes`); the recipe's schema (a subclass of
:class:`RunConfig`) validates the rest. Unknown keys, wrong types, out-of-range values and
missing files all raise one :class:`~hypernet.ConfigError` naming the key, which the CLI
turns into exit code 2.

Example:
    >>> from hypernet.cli.config import TrainSection
    >>> TrainSection(lr=0.01, epochs=2).batch_size
    64
    >>> validate({"recipe": "hypermodel", "name": "demo", "train": {"epochs": "three"}}, "demo.yaml")
    Traceback (most recent call last):
    ...
    hypernet.errors.ConfigError: invalid config demo.yaml: key 'train.epochs': expected a valid integer, got str 'three'
"""

from __future__ import annotations

import difflib
import json
import re
import sys
from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, ValidationError

from ..errors import ConfigError, describe

SUFFIXES = (".yaml", ".yml", ".toml", ".json")


def _existing_file(value: str) -> str:
    if not Path(value).expanduser().is_file():
        raise ValueError(f"file not found: {value!r} (relative paths start from the current directory)")
    return value


ExistingFile = Annotated[str, AfterValidator(_existing_file)]
"""A path that must name an existing file."""


class Section(BaseModel):
    """Base of every config section: unknown keys and loose types are errors (``1`` is fine for a float, ``"1"`` is not)."""

    model_config = ConfigDict(extra="forbid", strict=True)


class TrainSection(Section):
    """The ``train:`` section, shared by every recipe (arguments of :func:`~hypernet.training.fit` and the optimizer)."""

    epochs: int = Field(default=1, ge=0, description="passes over the training data")
    max_steps: int | None = Field(default=None, ge=1, description="stop after this many optimizer steps")
    batch_size: int = Field(default=64, ge=1, description="global batch size (split over torchrun processes)")
    optimizer: Literal["adam", "adamw", "sgd"] = "adam"
    lr: float = Field(default=1e-3, gt=0)
    weight_decay: float = Field(default=0.0, ge=0)
    momentum: float = Field(default=0.0, ge=0, description="SGD only")
    grad_clip: float | None = Field(default=None, gt=0)
    checkpoint_every: int | None = Field(default=None, ge=1, description="steps between checkpoints (one is always written at the end)")
    keep_last: int = Field(default=3, ge=1, description="checkpoints to keep")
    log_every: int = Field(default=1, ge=1, description="steps between metric rows")
    eval_every: int = Field(default=1, ge=1, description="epochs between evaluations")


class RunConfig(Section):
    """Keys every config has; recipes subclass it and add their own sections."""

    recipe: str
    name: str = Field(..., pattern=r"^[A-Za-z0-9][A-Za-z0-9._-]*$", description="run name: files go to <runs_dir>/<name>/")
    seed: int = 0
    runs_dir: str = "runs"
    train: TrainSection = Field(default_factory=TrainSection)


# ----------------------------------------------------------------------------- reading files
def _yaml_loader() -> Any:
    import yaml

    class Loader(yaml.SafeLoader):
        """SafeLoader that also reads ``1e-3`` as a float (YAML 1.2; PyYAML's 1.1 wants ``1.0e-3``)."""

    float_re = re.compile(
        r"^[-+]?(?:[0-9][0-9_]*(?:\.[0-9_]*)?|\.[0-9_]+)(?:[eE][-+]?[0-9]+)?$|^[-+]?\.(?:inf|Inf|INF)$|^\.(?:nan|NaN|NAN)$"
    )
    Loader.add_implicit_resolver("tag:yaml.org,2002:float", float_re, list("-+0123456789."))
    return Loader


def read_config_file(path: str | Path) -> dict[str, Any]:
    """Parse a ``.yaml``/``.yml``/``.toml``/``.json`` file into a dict (no validation)."""
    path = Path(path)
    if path.suffix not in SUFFIXES:
        raise ConfigError(f"expected a config file ending in {', '.join(SUFFIXES)}, got {str(path)!r}; rename it or convert it")
    try:
        text = path.read_text()
    except FileNotFoundError:
        raise ConfigError(f"config file not found: {str(path)!r}; check the path (relative to the current directory)") from None
    except OSError as exc:
        raise ConfigError(f"cannot read config file {str(path)!r}: {exc.strerror}") from None
    try:
        if path.suffix == ".toml":
            if sys.version_info >= (3, 11):
                import tomllib
            else:  # pragma: no cover - Python 3.10
                import tomli as tomllib
            data: Any = tomllib.loads(text)
        elif path.suffix == ".json":
            data = json.loads(text)
        else:
            import yaml

            data = yaml.load(text, Loader=_yaml_loader())  # a SafeLoader subclass: builds only plain data
    except Exception as exc:  # every parser has its own error types
        detail = " ".join(str(exc).split())
        raise ConfigError(f"cannot parse config file {str(path)!r}: {detail}") from None
    if data is None:
        data = {}
    if not isinstance(data, dict):
        raise ConfigError(f"expected config file {str(path)!r} to hold a mapping of keys, got {type(data).__name__}")
    return data


# ----------------------------------------------------------------------------- validation
def _model_at(root: type[BaseModel], loc: tuple[Any, ...]) -> type[BaseModel] | None:
    model: type[BaseModel] | None = root
    for part in loc:
        if model is None or not isinstance(part, str) or part not in model.model_fields:
            return None
        ann = model.model_fields[part].annotation
        model = ann if isinstance(ann, type) and issubclass(ann, BaseModel) else None
    return model


def _describe_error(root: type[BaseModel], err: Any) -> str:
    loc = tuple(err["loc"])
    key = ".".join(str(p) for p in loc)
    if err["type"] == "extra_forbidden":
        parent = _model_at(root, loc[:-1])
        allowed = sorted(parent.model_fields) if parent is not None else []
        close = difflib.get_close_matches(str(loc[-1]), allowed, n=1)
        hint = f" (did you mean '{close[0]}'?)" if close else ""
        return f"unknown key '{key}'{hint}; expected one of: {', '.join(allowed)}"
    if err["type"] == "missing":
        return f"missing key '{key}'; add it"
    msg = str(err["msg"]).removeprefix("Value error, ")
    msg = re.sub(r"^Input should be ", "expected ", msg)
    msg = msg[:1].lower() + msg[1:]
    got = f", got {describe(err['input'])}" if "input" in err and err["type"] != "value_error" else ""
    return f"key '{key}': {msg}{got}"


def validate_as(schema: type[RunConfig], data: dict[str, Any], source: str) -> RunConfig:
    """Validate ``data`` with ``schema``; raise one :class:`~hypernet.ConfigError` describing every problem."""
    try:
        return schema.model_validate(data)
    except ValidationError as exc:
        problems = [_describe_error(schema, e) for e in exc.errors()]
        raise ConfigError(f"invalid config {source}: " + "; ".join(problems)) from None


def validate(data: dict[str, Any], source: str = "<config>") -> RunConfig:
    """Validate a config dict with the schema of the recipe it names."""
    from .registry import get_recipe_class, list_recipes

    recipe = data.get("recipe")
    if recipe is None:
        raise ConfigError(f"invalid config {source}: missing key 'recipe'; expected one of: {', '.join(list_recipes())}")
    if not isinstance(recipe, str) or recipe not in list_recipes():
        raise ConfigError(f"invalid config {source}: key 'recipe': expected one of: {', '.join(list_recipes())}, got {describe(recipe)}")
    return validate_as(get_recipe_class(recipe).config_class, data, source)


def load_config(path: str | Path) -> RunConfig:
    """Read and validate a config file; ``name`` defaults to the file's stem (``tiny.yaml`` -> ``tiny``)."""
    data = read_config_file(path)
    data.setdefault("name", Path(path).stem)
    return validate(data, str(path))
