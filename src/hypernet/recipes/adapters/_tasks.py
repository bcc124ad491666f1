"""Tasks of the adapter recipe: labelled texts with a name, an optional description and label names.

Example:
    >>> t = AdapterTask("sport-or-politics", ["Goal!", "Vote!"], [0, 1], "Is this text about sport or politics?", ["sport", "politics"])
    >>> t.num_classes
    2
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from ...errors import ConfigError


@dataclass
class AdapterTask:
    """One task: ``texts`` with integer ``labels`` in ``[0, num_classes)``.

    Attributes:
        name: the task id (what ``condition="task"`` conditions on).
        texts, labels: the labelled examples (may be empty for a task known only by its description).
        description: one sentence saying what the task is (what ``condition="text"`` conditions on).
        label_names: a short text per class (``head="labels"`` scores texts against their embeddings).
    """

    name: str
    texts: Sequence[str] = field(default_factory=list)
    labels: Sequence[int] = field(default_factory=list)
    description: str | None = None
    label_names: Sequence[str] | None = None

    @property
    def num_classes(self) -> int:
        """``len(label_names)`` when given, else ``max(labels) + 1``."""
        if self.label_names is not None:
            return len(self.label_names)
        return int(max(self.labels)) + 1 if len(self.labels) else 0


def as_task(obj: Any) -> AdapterTask:
    """An :class:`AdapterTask` from itself or a mapping with the same keys, validated."""
    if isinstance(obj, Mapping):
        try:
            obj = AdapterTask(**obj)
        except TypeError as exc:
            raise ConfigError(
                f"expected a task mapping with keys name, texts, labels, description, label_names, got: {exc}; pass only those keys"
            ) from None
    if not isinstance(obj, AdapterTask):
        raise ConfigError(
            f"expected an AdapterTask or a mapping, got {type(obj).__name__}; build tasks with hn.AdapterTask(name, texts, labels, ...)"
        )
    if not isinstance(obj.name, str) or not obj.name:
        raise ConfigError(f"expected a non-empty string task name, got {obj.name!r}; pass a non-empty string task name")
    for what, value in (("texts", obj.texts), ("labels", obj.labels), ("label_names", obj.label_names)):
        if value is not None and (isinstance(value, str | bytes) or not isinstance(value, Sequence | np.ndarray)):
            raise ConfigError(
                f"task {obj.name!r}: expected {what} to be a list, got {type(value).__name__} {str(value)[:40]!r}; "
                f"pass a list (one entry per {'class' if what == 'label_names' else 'example'})"
            )
    bad_texts = [t for t in obj.texts if not isinstance(t, str)]
    if bad_texts:
        raise ConfigError(f"task {obj.name!r}: expected every text to be a string, got {type(bad_texts[0]).__name__}; pass strings")
    if len(obj.texts) != len(obj.labels):
        raise ConfigError(
            f"task {obj.name!r}: expected as many labels as texts, got {len(obj.labels)} labels for {len(obj.texts)} texts; "
            "pass one label per text"
        )
    if obj.description is not None and not obj.description.strip():
        raise ConfigError(
            f"task {obj.name!r}: expected a non-empty description or None, got {obj.description!r}; pass a description, or None"
        )
    if obj.label_names is not None and (len(obj.label_names) < 2 or not all(isinstance(n, str) and n.strip() for n in obj.label_names)):
        raise ConfigError(
            f"task {obj.name!r}: expected at least 2 non-empty label names, got {list(obj.label_names)!r}; "
            "pass a short text per class, or None"
        )
    k = obj.num_classes
    bad = [y for y in obj.labels if not isinstance(y, int | np.integer) or isinstance(y, bool) or not 0 <= y < max(k, 2)]
    if bad:
        raise ConfigError(f"task {obj.name!r}: expected integer labels in [0, {max(k, 2)}), got {bad[:5]}; label i names label_names[i]")
    return obj


def check_tasks(tasks: Sequence[Any], *, need_description: bool, need_label_names: bool) -> list[AdapterTask]:
    """Validate a list of tasks (unique names; descriptions and label names where the recipe needs them)."""
    if isinstance(tasks, str | bytes | Mapping | AdapterTask) or not isinstance(tasks, Sequence):
        raise ConfigError(f"expected a list of tasks, got {type(tasks).__name__}; pass [hn.AdapterTask(...), ...]")
    out = [as_task(t) for t in tasks]
    if not out:
        raise ConfigError("expected at least one task, got none; pass at least one task")
    names = [t.name for t in out]
    dup = sorted({n for n in names if names.count(n) > 1})
    if dup:
        raise ConfigError(f"expected unique task names, got duplicates {dup}; rename them, or merge their texts into one task")
    for t in out:
        if need_description and t.description is None:
            raise ConfigError(f"task {t.name!r}: expected a description with condition='text', got None; give one, or use condition='task'")
        if need_label_names and t.label_names is None:
            raise ConfigError(
                f"task {t.name!r}: expected label_names (a short text per class) with head='labels', got None; "
                "give them, or use head='task'"
            )
        if t.num_classes < 2:
            raise ConfigError(f"task {t.name!r}: expected at least 2 classes, got {t.num_classes}; pass labels of 2 classes or more")
    return out
