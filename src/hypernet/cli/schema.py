"""The schemas of a run configuration: the sections every config has (recipes subclass them).

Example:
    >>> from hypernet.cli.schema import TrainSection
    >>> TrainSection(lr=0.01, epochs=2).batch_size
    64
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, ClassVar, Literal

from pydantic import AfterValidator, BaseModel, ConfigDict, Field

MAX_COUNT = 10**9
"""Upper bound of step and epoch counts."""


def _existing_file(value: str) -> str:
    if not Path(value).expanduser().is_file():
        raise ValueError(
            f"expected an existing file, got {value!r} (file not found); check the path (relative paths start from the current directory)"
        )
    return value


ExistingFile = Annotated[str, AfterValidator(_existing_file)]
"""A path that must name an existing file."""


class Section(BaseModel):
    """Base of every config section: unknown keys and loose types are errors (``1`` is fine for a float, ``"1"`` is not)."""

    model_config = ConfigDict(extra="forbid", strict=True, allow_inf_nan=False, str_max_length=4096)


class TrainSection(Section):
    """The ``train:`` section, shared by every recipe (arguments of :func:`~hypernet.training.fit` and the optimizer)."""

    epochs: int = Field(default=1, ge=0, le=MAX_COUNT, description="passes over the training data")
    max_steps: int | None = Field(default=None, ge=1, le=MAX_COUNT, description="stop after this many optimizer steps")
    batch_size: int = Field(default=64, ge=1, le=2**20, description="global batch size (split over torchrun processes)")
    optimizer: Literal["adam", "adamw", "sgd"] = "adam"
    lr: float = Field(default=1e-3, gt=0, le=100)
    weight_decay: float = Field(default=0.0, ge=0, le=100)
    momentum: float = Field(default=0.0, ge=0, le=1, description="SGD only")
    grad_clip: float | None = Field(default=None, gt=0, le=1e6)
    checkpoint_every: int | None = Field(
        default=None, ge=1, le=MAX_COUNT, description="steps between checkpoints (one is always written at the end)"
    )
    keep_last: int = Field(default=3, ge=1, le=1000, description="checkpoints to keep")
    log_every: int = Field(default=1, ge=1, le=MAX_COUNT, description="steps between metric rows")
    eval_every: int = Field(default=1, ge=1, le=MAX_COUNT, description="epochs between evaluations")
    dist_timeout: float = Field(
        default=300.0, gt=0, le=86400, description="seconds a torchrun process waits for the others before the run fails"
    )


class RunConfig(Section):
    """Keys every config has; recipes subclass it and add their own sections."""

    recipe: str
    name: str = Field(..., pattern=r"^[A-Za-z0-9][A-Za-z0-9._-]*$", max_length=100, description="run name: files go to <runs_dir>/<name>/")
    seed: int = Field(default=0, ge=0, le=2**32 - 1)
    runs_dir: str = Field(default="runs", min_length=1, max_length=1024)
    train: TrainSection = Field(default_factory=TrainSection)

    resume_may_change: ClassVar[tuple[str, ...]] = ()
    """The recipe's own keys that ``--resume`` accepts with a new value (how long to train, how often to evaluate)."""


__all__ = ["MAX_COUNT", "ExistingFile", "RunConfig", "Section", "TrainSection"]
