"""Run configuration: a YAML / TOML / JSON file validated against a schema.

Every config names a ``recipe`` (see :mod:`.registry`); the recipe's schema (a subclass of
:class:`RunConfig`, defined in :mod:`.schema` and re-exported here) validates the rest.
Unknown keys, wrong types, out-of-range values and missing files all raise one
:class:`~hypernet.ConfigError` naming the key, which the CLI turns into exit code 2.

Example:
    >>> from hypernet.cli.config import TrainSection
    >>> TrainSection(lr=0.01, epochs=2).batch_size
    64
    >>> validate({"recipe": "hypermodel", "name": "demo", "train": {"epochs": "three"}}, "demo.yaml")
    Traceback (most recent call last):
    ...
    hypernet.errors.ConfigError: invalid config demo.yaml: key 'train.epochs': expected a valid integer, got str 'three'; fix the value
"""

from __future__ import annotations

import difflib
import json
import re
import sys
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ValidationError

from ..errors import ConfigError, describe
from .registry import get_recipe_class, list_recipes
from .schema import MAX_COUNT, ExistingFile, RunConfig, Section, TrainSection

SUFFIXES = (".yaml", ".yml", ".toml", ".json")
MAX_FILE_BYTES = 2**20
"""A config file larger than this (1 MiB) is refused; real ones are a few hundred bytes."""
MAX_DEPTH = 16
"""Deepest nesting of mappings and lists accepted in a config."""
MAX_NODES = 10_000
"""Most values (mappings, lists and scalars together) accepted in a config."""


# ----------------------------------------------------------------------------- reading files
def _yaml_loader() -> Any:
    import yaml

    class Loader(yaml.SafeLoader):
        """SafeLoader that also reads ``1e-3`` as a float (YAML 1.2; PyYAML's 1.1 wants ``1.0e-3``).

        It refuses aliases (``*name``: a few hundred bytes of nested aliases expand to gigabytes)
        and duplicate keys (which would silently keep the last value).
        """

        def compose_node(self, parent: Any, index: Any) -> Any:
            if self.check_event(yaml.AliasEvent):
                event = self.peek_event()
                raise yaml.composer.ComposerError(
                    None, None, f"found the alias *{event.anchor}; aliases are not supported, write the value out", event.start_mark
                )
            return super().compose_node(parent, index)

        def construct_mapping(self, node: Any, deep: bool = False) -> Any:
            seen: list[Any] = []
            for key_node, _ in node.value:
                key = self.construct_object(key_node, deep=True)
                if key in seen:
                    raise yaml.constructor.ConstructorError(None, None, f"found the key {key!r} twice; keep one", key_node.start_mark)
                seen.append(key)
            return super().construct_mapping(node, deep=deep)

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
        if path.stat().st_size > MAX_FILE_BYTES:
            raise ConfigError(
                f"expected a config file of at most {MAX_FILE_BYTES} bytes, got {str(path)!r} of {path.stat().st_size}; "
                "a config holds settings, not data"
            )
        text = path.read_bytes().decode("utf-8")
    except FileNotFoundError:
        raise ConfigError(
            f"expected a config file at {str(path)!r}, got none (config file not found); check the path (relative to the current directory)"
        ) from None
    except OSError as exc:
        raise ConfigError(f"expected a readable config file at {str(path)!r}, got {exc.strerror}; check its permissions") from None
    except UnicodeDecodeError:
        raise ConfigError(f"expected a UTF-8 text config file, got {str(path)!r} holding binary data; check the path") from None
    if "\0" in text:
        raise ConfigError(f"expected a text config file, got {str(path)!r} holding NUL bytes; check the path")
    try:
        if path.suffix == ".toml":
            if sys.version_info >= (3, 11):
                import tomllib
            else:  # pragma: no cover - Python 3.10
                import tomli as tomllib
            data: Any = tomllib.loads(text)
        elif path.suffix == ".json":
            data = json.loads(text, object_pairs_hook=_unique_keys, parse_constant=_no_constant)
        else:
            import yaml

            data = yaml.load(text, Loader=_yaml_loader())  # a SafeLoader subclass: builds only plain data
    except Exception as exc:  # every parser has its own error types
        detail = " ".join(str(exc).split())
        raise ConfigError(
            f"cannot parse config file {str(path)!r}: expected YAML or JSON, got {detail}; correct the syntax where it says"
        ) from None
    if data is None:
        data = {}
    if not isinstance(data, dict):
        raise ConfigError(
            f"expected config file {str(path)!r} to hold a mapping of keys, got {type(data).__name__}; "
            "write `key: value` lines at its top level"
        )
    check_tree(data, str(path))
    return data


def _unique_keys(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for key, value in pairs:
        if key in out:
            raise ValueError(f"found the key {key!r} twice; keep one")
        out[key] = value
    return out


def _no_constant(name: str) -> Any:
    raise ValueError(f"found {name}, which is not a number JSON allows")


def check_tree(data: Any, source: str) -> None:
    """Raise :class:`~hypernet.ConfigError` if ``data`` nests deeper than :data:`MAX_DEPTH`, holds more than :data:`MAX_NODES`
    values, or keys that are not strings."""
    count = 0
    stack: list[tuple[Any, int, str]] = [(data, 0, "")]
    while stack:
        value, depth, key = stack.pop()
        count += 1
        if depth > MAX_DEPTH or count > MAX_NODES:
            what = f"nested more than {MAX_DEPTH} levels deep" if depth > MAX_DEPTH else f"more than {MAX_NODES} values"
            raise ConfigError(f"invalid config {source}: key '{key or '<top>'}': expected a small config, got {what}; reduce it")
        if isinstance(value, dict):
            for k, v in value.items():
                if not isinstance(k, str):
                    raise ConfigError(
                        f"invalid config {source}: key {k!r} under '{key or '<top>'}': expected keys that are strings, "
                        f"got {describe(k)}; quote it"
                    )
                stack.append((v, depth + 1, f"{key}.{k}" if key else k))
        elif isinstance(value, list):
            stack.extend((v, depth + 1, key) for v in value)


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
        return f"unknown key '{key}'{hint}; expected one of: {', '.join(allowed)}, got '{loc[-1]}'; rename or remove it"
    if err["type"] == "missing":
        return f"missing key '{key}': expected it, got none; add it"
    msg = str(err["msg"]).removeprefix("Value error, ")
    msg = re.sub(r"^Input should be ", "expected ", msg)
    msg = msg[:1].lower() + msg[1:]
    got = f", got {_short(describe(err['input']))}" if "input" in err and err["type"] != "value_error" else ""
    fix = "; fix the value" if got else ""  # a value_error's message (our validators') names its own fix
    return f"key '{key}': {msg}{got}{fix}"


def _short(text: str, limit: int = 80) -> str:
    return text if len(text) <= limit else text[: limit - 3] + "..."


def validate_as(schema: type[RunConfig], data: dict[str, Any], source: str) -> RunConfig:
    """Validate ``data`` with ``schema``; raise one :class:`~hypernet.ConfigError` describing every problem."""
    try:
        return schema.model_validate(data)
    except ValidationError as exc:
        problems = [_describe_error(schema, e) for e in exc.errors()]
        raise ConfigError(f"invalid config {source}: " + "; ".join(problems)) from None


def validate(data: dict[str, Any], source: str = "<config>") -> RunConfig:
    """Validate a config dict with the schema of the recipe it names."""
    recipe = data.get("recipe")
    if recipe is None:
        raise ConfigError(
            f"invalid config {source}: missing key 'recipe'; expected one of: {', '.join(list_recipes())}, got none; "
            "add e.g. `recipe: hypermodel`"
        )
    if not isinstance(recipe, str) or recipe not in list_recipes():
        raise ConfigError(
            f"invalid config {source}: key 'recipe': expected one of: {', '.join(list_recipes())}, "
            f"got {describe(recipe)}; set it to one of them"
        )
    return validate_as(get_recipe_class(recipe).config_class, data, source)


def load_config(path: str | Path) -> RunConfig:
    """Read and validate a config file; ``name`` defaults to the file's stem (``tiny.yaml`` -> ``tiny``)."""
    data = read_config_file(path)
    data.setdefault("name", Path(path).stem)
    return validate(data, str(path))


__all__ = [
    "MAX_COUNT",
    "ExistingFile",
    "RunConfig",
    "Section",
    "TrainSection",
    "check_tree",
    "load_config",
    "read_config_file",
    "validate",
    "validate_as",
]
