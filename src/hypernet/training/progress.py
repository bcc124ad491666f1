"""Progress bars (tqdm) with loss, metrics, it/s and ETA; silent when output is not a terminal.

Example:
    >>> bar = Progress(total=3, enabled=False)   # disabled: prints nothing
    >>> for _ in range(3):
    ...     bar.update({"loss": 0.5})
    >>> bar.close()
"""

from __future__ import annotations

import sys
from collections.abc import Mapping


def interactive() -> bool:
    """True when both stdout and stderr are terminals (the bar draws on stderr)."""
    return sys.stdout.isatty() and sys.stderr.isatty()


class Progress:
    """One bar over a training run's steps.

    Args:
        total: steps in the run (``None`` if unknown: no ETA).
        enabled: draw the bar; ``None`` means "when :func:`interactive`".
        initial: steps already done (after ``--resume``).
        desc: text before the bar.
    """

    def __init__(self, total: int | None, enabled: bool | None = None, initial: int = 0, desc: str = "train") -> None:
        self.enabled = interactive() if enabled is None else enabled
        self._bar = None
        if self.enabled:
            from tqdm.auto import tqdm

            self._bar = tqdm(total=total, initial=initial, desc=desc, unit="step", dynamic_ncols=True, leave=True, file=sys.stderr)

    def update(self, values: Mapping[str, float], n: int = 1) -> None:
        """Advance by ``n`` steps and show ``values`` (loss, metrics) beside the bar."""
        if self._bar is not None:
            self._bar.set_postfix({k: f"{v:.4g}" for k, v in values.items()}, refresh=False)
            self._bar.update(n)

    def write(self, line: str) -> None:
        """Print a line above the bar (or nowhere when disabled)."""
        if self._bar is not None:
            self._bar.write(line, file=sys.stderr)

    def close(self) -> None:
        if self._bar is not None:
            self._bar.close()
            self._bar = None
