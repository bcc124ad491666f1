"""Every error message written in ``src/hypernet`` says what was expected, what was got, and the fix.

The scan reads the source with :mod:`ast` (no import of the modules): each
``raise <Name>Error(<string or f-string>)`` (or such an error built to be raised elsewhere) has its literal parts checked (an f-string's
fields count as ``{}``) with the same rule as the bad-input sweep
(:func:`tests.test_bad_input_sweep.check_message`): "expected" and "got", then after "got" a
fix, an imperative ("pass", "call", "use", ...) or a "; ..." clause. Messages built elsewhere
(``raise ConfigError(message)``) are not seen here; the sweep checks those it reaches.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

import hypernet

from .test_bad_input_sweep import FIX

ROOT = Path(hypernet.__file__).parent

ALWAYS_EXEMPT = {
    "AssertionError": "an internal invariant, not a message to a user",
    "NotImplementedError": "an abstract method a subclass must define",
}

# (file relative to src/hypernet, start of the message's literal text): why it keeps its wording
EXEMPT: dict[tuple[str, str], str] = {
    ("_lazy.py", "module {} has no attribute {}"): "a module __getattr__ must raise Python's own AttributeError wording",
    ("cli/config.py", "found the key {} twice"): "inner error of the JSON parser, wrapped by 'expected ..., got ...' in read_config",
    ("cli/config.py", "found {}, which is not a number JSON allows"): "inner error of the JSON parser, wrapped by read_config",
    ("training/checkpoint.py", "{} is not a number JSON allows"): "inner error of the JSON parser, wrapped by _read_meta's corrupt()",
    ("recipes/graph/graph_hypernetwork.py", "its metadata says {}"): "inner error, wrapped by GraphHyperNetwork.load's CheckpointError",
    ("recipes/retrieval/_search.py", "empty index"): "unreachable guard (callers check for an empty index first)",
    ("recipes/federated/_inputs.py", "client {}: {}"): "re-raise naming the client, around a ConfigError that has the wording",
    ("recipes/graph/_graph.py", "{} Or give example inputs"): "re-raise adding a fix to a ConfigError that has the wording",
    ("cli/config.py", "invalid config {}: {}"): "joins the schema's problems, each worded by _describe_error",
    ("cli/hypermodel.py", "invalid config: key '{}': {}"): "re-raise naming the key, around a HypernetError that has the wording",
}


def _literal(node: ast.expr) -> str | None:
    """The literal text of a message (``{}`` for each f-string field or added variable), ``None`` if it has none."""
    if isinstance(node, ast.Constant) and isinstance(node.value, str):
        return node.value
    if isinstance(node, ast.JoinedStr):
        return "".join(v.value if isinstance(v, ast.Constant) else "{}" for v in node.values)
    if isinstance(node, ast.BinOp) and isinstance(node.op, ast.Add):  # "expected ..., got " + kind + "; fix"
        left, right = _literal(node.left), _literal(node.right)
        if left is None and right is None:
            return None
        return (left if left is not None else "{}") + (right if right is not None else "{}")
    return None


def _error_name(func: ast.expr) -> str | None:
    name = func.id if isinstance(func, ast.Name) else func.attr if isinstance(func, ast.Attribute) else None
    return name if name is not None and name.endswith("Error") else None


def messages(source: str) -> list[tuple[int, str, str]]:
    """``(line, error class, literal text)`` of every ``<Name>Error("...")`` in ``source``.

    Raised (``raise ConfigError("...")``) or built to be raised elsewhere (``return CheckpointError("...")``).
    """
    found = []
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Call) and node.args:
            name = _error_name(node.func)
            text = _literal(node.args[0])
            if name is not None and text is not None:
                found.append((node.lineno, name, text))
    return found


def problem(text: str) -> str | None:
    """Why ``text`` lacks the wording, or ``None`` if it has it."""
    low = text.lower()
    got = low.find("got")
    if "expected" not in low or got < 0:
        return "no 'expected' / 'got'"
    if not (FIX.search(text[got:]) or ";" in text[got:]):
        return "no fix after 'got'"
    return None


def _scan() -> tuple[list[str], set[tuple[str, str]]]:
    bad, used = [], set()
    for path in sorted(ROOT.rglob("*.py")):
        rel = path.relative_to(ROOT).as_posix()
        for line, name, text in messages(path.read_text()):
            if name in ALWAYS_EXEMPT:
                continue
            why = problem(text)
            if why is None:
                continue
            key = next((k for k in EXEMPT if k[0] == rel and text.startswith(k[1])), None)
            if key is not None:
                used.add(key)
                continue
            bad.append(f"{rel}:{line} {name}: {why}: {text!r}")
    return bad, used


def test_every_message_says_expected_got_and_the_fix() -> None:
    bad, _ = _scan()
    assert not bad, f"{len(bad)} messages without 'expected X, got Y; fix':\n" + "\n".join(bad)


def test_every_exemption_is_still_needed() -> None:
    _, used = _scan()
    assert used == set(EXEMPT), f"exemptions matching no message (remove them): {sorted(set(EXEMPT) - used)}"


@pytest.mark.parametrize(
    ("source", "ok"),
    [
        ('raise ConfigError(f"expected a positive int, got {n}; pass a positive int")', True),
        ('raise hn.ConfigError("expected a Tensor, got " + kind + "; convert it")', True),
        ('raise ConfigError(f"TextToLoRA is not fitted yet; call fit(tasks, ...) first")', False),
        ('raise ConfigError(f"expected a positive int, got {n}")', False),
        ('raise CheckpointError(f"checkpoint {p} does not fit this model: {why}")', False),
        ('return CheckpointError(f"checkpoint {p} is truncated ({why}); use an earlier checkpoint")', False),
    ],
)
def test_the_scan_tells_good_from_bad_messages(source: str, ok: bool) -> None:
    ((_, _, text),) = messages(source)
    assert (problem(text) is None) is ok
