"""scikit-learn's 8x8 digits, split into tasks of digit pairs (bundled with scikit-learn, no download)."""

from __future__ import annotations

from dataclasses import dataclass

import torch

PAIRS: tuple[tuple[int, int], ...] = ((0, 1), (2, 3), (4, 5), (6, 7), (8, 9))


@dataclass
class DigitsTasks:
    """Digits as tensors with a task id per sample and the 2-way label inside its task.

    Attributes:
        x_train, x_test: ``(N, 64)`` float pixels scaled to ``[0, 1]``.
        task_train, task_test: task id of each sample (index into ``pairs``).
        y_train, y_test: 0 for the first digit of the pair, 1 for the second.
        digit_train, digit_test: the original digit.
        pairs: the digit pair of each task.
    """

    x_train: torch.Tensor
    task_train: torch.Tensor
    y_train: torch.Tensor
    digit_train: torch.Tensor
    x_test: torch.Tensor
    task_test: torch.Tensor
    y_test: torch.Tensor
    digit_test: torch.Tensor
    pairs: tuple[tuple[int, int], ...]


def label_pairs(digit: torch.Tensor, pairs: tuple[tuple[int, int], ...]) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Which samples belong to a pair, and their task id and 0/1 label inside the pair.

    Example:
        >>> keep, task, label = label_pairs(torch.tensor([0, 5, 3, 2]), ((0, 1), (2, 3)))
        >>> keep.tolist(), task.tolist(), label.tolist()
        ([True, False, True, True], [0, 1, 1], [0, 1, 0])
    """
    task = torch.full_like(digit, -1)
    label = torch.zeros_like(digit)
    for t, (a, b) in enumerate(pairs):
        task[digit == a], label[digit == a] = t, 0
        task[digit == b], label[digit == b] = t, 1
    keep = task >= 0
    return keep, task[keep], label[keep]


def pair_tasks(
    x_train: torch.Tensor,
    digit_train: torch.Tensor,
    x_test: torch.Tensor,
    digit_test: torch.Tensor,
    pairs: tuple[tuple[int, int], ...] = PAIRS,
) -> DigitsTasks:
    """Digit-pair tasks from an already split data set (such as MNIST's)."""
    keep_tr, task_tr, y_tr = label_pairs(digit_train, pairs)
    keep_te, task_te, y_te = label_pairs(digit_test, pairs)
    return DigitsTasks(x_train[keep_tr], task_tr, y_tr, digit_train[keep_tr], x_test[keep_te], task_te, y_te, digit_test[keep_te], pairs)


def load_digits_tasks(test_fraction: float = 0.25, seed: int = 0, pairs: tuple[tuple[int, int], ...] = PAIRS) -> DigitsTasks:
    """Load sklearn digits as a task-incremental benchmark of digit pairs.

    Example:
        >>> tasks = load_digits_tasks()
        >>> tasks.x_train.shape[1], int(tasks.task_train.max()) + 1, sorted(set(tasks.y_train.tolist()))
        (64, 5, [0, 1])
    """
    from sklearn.datasets import load_digits
    from sklearn.model_selection import train_test_split

    data = load_digits()
    x = torch.tensor(data.data, dtype=torch.float32) / 16.0
    digit = torch.tensor(data.target, dtype=torch.long)
    keep, task, label = label_pairs(digit, pairs)
    x, digit = x[keep], digit[keep]
    idx_train, idx_test = train_test_split(torch.arange(len(x)).numpy(), test_size=test_fraction, random_state=seed, stratify=digit.numpy())
    tr, te = torch.as_tensor(idx_train), torch.as_tensor(idx_test)
    return DigitsTasks(x[tr], task[tr], label[tr], digit[tr], x[te], task[te], label[te], digit[te], pairs)
