"""Errors of the data loaders."""

from __future__ import annotations

from ..errors import HypernetError


class DataError(HypernetError):
    """A data set is missing, corrupted, or could not be fetched."""
