"""Errors raised while training, checkpointing or running the command line."""

from __future__ import annotations

from ..errors import HypernetError


class TrainingError(HypernetError):
    """Training cannot go on (for example the loss became NaN or a run directory is in the way)."""


class UsageError(HypernetError):
    """The command line was used wrongly (a missing file, a run that exists, a bad ``--cond``); the CLI exits with code 2."""
