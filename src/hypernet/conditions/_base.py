"""The :class:`Condition` interface: validate a user condition, dedupe it, embed it."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Literal

import torch
from torch import nn

from .._validation import check_int
from ..errors import ConditionError, describe

Mode = Literal["single", "per_sample", "draws", "grouped"]


@dataclass
class Split:
    """A validated condition, reduced to its unique values.

    Attributes:
        values: what :meth:`Condition.forward` embeds (U unique conditions).
        inverse: ``(B,)`` index of each sample's unique condition (``mode="per_sample"``), else ``None``.
        mode: ``"single"`` one weight set for the batch; ``"per_sample"`` one per sample;
            ``"draws"`` U weight sets each applied to the whole batch (output gets a leading U dim);
            ``"grouped"`` U weight sets, input ``x`` has a leading dim of size U.
        count: U, the number of weight sets to generate.
        batch: the number of samples the condition was given for (a batch of B conditions), also when
            they all turned out equal (``mode="single"``); ``None`` for a condition meant for any batch.
    """

    values: Any
    inverse: torch.Tensor | None
    mode: Mode
    count: int
    batch: int | None = None

    def __post_init__(self) -> None:
        if self.mode == "per_sample" and self.batch is None and self.inverse is not None:
            self.batch = self.inverse.numel()


class Condition(nn.Module):
    """Maps a user condition to embeddings of shape ``(U, dim)``.

    Subclasses implement :meth:`split` (validate and dedupe, raising
    :class:`~hypernet.ConditionError`) and :meth:`forward` (embed the unique values).
    Embeddings have roughly unit variance at initialisation, which the generators'
    hyperfan initialisation relies on.
    """

    dim: int
    kind: str = "condition"

    def split(self, cond: Any, samples: int | None = None) -> Split:
        raise NotImplementedError

    def forward(self, values: Any) -> torch.Tensor:  # pragma: no cover - abstract
        raise NotImplementedError

    # helpers shared by subclasses -------------------------------------------------
    def _device(self) -> torch.device:
        for p in self.parameters():
            return p.device
        for b in self.buffers():
            return b.device
        return torch.device("cpu")

    def _check_device(self, t: torch.Tensor, what: str) -> None:
        device = self._device()
        if t.device != device:
            raise ConditionError(
                f"expected {what} on device {device} (where the model is), got {describe(t)}; move it with .to({str(device)!r})"
            )

    def _no_samples(self, samples: int | None) -> None:
        if samples is not None:
            raise ConditionError(
                f"expected samples=None for a {type(self).__name__} condition, got samples={samples!r}; "
                "samples=K draws K weight sets and needs a Noise condition"
            )


def check_positive(name: str, value: object, owner: str) -> int:
    """Validate a positive integer hyperparameter, raising ConfigError otherwise."""
    return check_int(value, name, low=1, owner=owner, hint=f"pass e.g. {name}=8")


@torch.no_grad()
def normalise_output_(net: nn.Sequential, probe: torch.Tensor) -> None:
    """Rescale the last Linear of ``net`` so its output on ``probe`` has unit second moment."""
    last = net[-1]
    assert isinstance(last, nn.Linear)
    out = net(probe)
    rms = float(out.pow(2).mean().sqrt())
    if rms > 0:
        last.weight.div_(rms)
        last.bias.div_(rms)


def unit_rows(t: torch.Tensor) -> torch.Tensor:
    """Rescale each row to norm ``sqrt(dim)`` (unit second moment), so every condition starts at the same scale."""
    return t * (t.shape[-1] ** 0.5) / t.norm(dim=-1, keepdim=True).clamp_min(1e-12)
