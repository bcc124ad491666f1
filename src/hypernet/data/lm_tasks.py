"""Generation tasks with exact-match answers, for adapters of a decoder LM (Text-to-LoRA style).

Each task is a list of ``(prompt, target)`` string pairs plus one-sentence descriptions: a canonical
one, paraphrases for training, and a differently phrased one for zero-shot evaluation.

* **String operations** on a few random words (and numbers, for the number tasks): reverse the
  words, upper-case, sort, count, drop vowels, ... and two-step compositions of them.
* **Corpus tasks** from BBC News (the topic in one word, the title of an article) and Debian fortunes
  (the category in one word), given the corpora as ``{label: [text, ...]}``.

The split into training tasks, held-out **new operations** (an operation used by no training task)
and held-out **compositions** (two trained operations chained in a way no training task chains them)
is fixed here, declared before any run (:data:`TRAIN`, :data:`HELD_OUT_NEW`, :data:`HELD_OUT_COMPOSED`).

Example:
    >>> tasks = string_tasks(n=2, seed=0)
    >>> t = tasks["reverse_words"]
    >>> t.examples[0]
    ('hammer harbor rocket', 'rocket harbor hammer')
    >>> t.description
    'Reverse the order of the words.'
    >>> sorted(set(TRAIN) & set(HELD_OUT_NEW)), len(TRAIN + HELD_OUT_NEW + HELD_OUT_COMPOSED) >= 30
    ([], True)
"""

from __future__ import annotations

import random
import re
import zlib
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field

WORDS = (
    "apple river stone garden silver piano window forest candle rocket yellow market bridge winter "
    "pencil mirror castle orange summer letter guitar meadow planet coffee silent basket harbor "
    "violet thunder ladder island jacket honey marble shadow copper lemon tiger velvet cloud "
    "engine pepper wizard canvas dragon button desert rabbit crystal anchor blanket falcon "
    "garlic helmet insect jungle kettle lantern magnet needle oyster parrot quilt saddle "
    "tunnel umbrella valley walnut zebra puzzle ribbon spider tomato cabin feather hammer"
).split()
VOWELS = set("aeiouAEIOU")
Op = Callable[[list[str]], str]


@dataclass(frozen=True)
class Operation:
    """A string operation on a list of words, with descriptions (canonical, paraphrases, zero-shot phrasing)."""

    name: str
    fn: Op
    description: str
    paraphrases: tuple[str, ...]
    unseen_phrasing: str
    numbers: bool = False  # inputs mix words and numbers


def _words(ws: list[str]) -> list[str]:
    return [w for w in ws if not w.isdigit()]


OPERATIONS: dict[str, Operation] = {
    op.name: op
    for op in (
        Operation(
            "reverse_words",
            lambda ws: " ".join(reversed(ws)),
            "Reverse the order of the words.",
            ("Write the words in reverse order.", "Output the same words, last one first.", "Flip the word order of the input."),
            "Give back these words going from the final one to the first one.",
        ),
        Operation(
            "uppercase",
            lambda ws: " ".join(ws).upper(),
            "Rewrite the text in upper case.",
            ("Convert every letter to a capital letter.", "Make the whole input uppercase.", "Write the text in capitals."),
            "Shout the input: every character as a capital.",
        ),
        Operation(
            "sort_words",
            lambda ws: " ".join(sorted(ws)),
            "Sort the words alphabetically.",
            ("Put the words in alphabetical order.", "Arrange the words from A to Z.", "List the words sorted like a dictionary."),
            "Order these words the way a dictionary would.",
        ),
        Operation(
            "count_words",
            lambda ws: str(len(ws)),
            "Count the words and answer with the number.",
            ("How many words are there? Answer with a number.", "Give the number of words.", "Say how many words the text has."),
            "Tell me the word count of the input as digits.",
        ),
        Operation(
            "drop_vowels",
            lambda ws: " ".join("".join(c for c in w if c not in VOWELS) for w in ws),
            "Remove every vowel from the text.",
            ("Delete the letters a, e, i, o and u.", "Write the words without their vowels.", "Strip out all vowels."),
            "Give the input with none of the letters a e i o u left.",
        ),
        Operation(
            "repeat_last",
            lambda ws: " ".join([*ws, ws[-1]]),
            "Repeat the last word once more at the end.",
            ("Copy the text and say its final word twice.", "Append the last word again.", "Write the text, then the last word again."),
            "Echo the closing word of the text one extra time.",
        ),
        Operation(
            "extract_numbers",
            lambda ws: " ".join(w for w in ws if w.isdigit()),
            "Extract the numbers from the text.",
            ("Keep only the numbers.", "List the numbers that appear, in order.", "Write just the digits groups, dropping the words."),
            "Which numbers occur in the input? Give only them.",
            numbers=True,
        ),
        Operation(
            "first_word",
            lambda ws: ws[0],
            "Give the first word.",
            ("Answer with the opening word only.", "What is the first word?", "Output the word at the start."),
            "Return just the word the text begins with.",
        ),
        Operation(
            "last_word",
            lambda ws: ws[-1],
            "Give the last word.",
            ("Answer with the final word only.", "What is the last word?", "Output the word at the end."),
            "Return just the word the text finishes with.",
        ),
        Operation(
            "capitalize",
            lambda ws: " ".join(w.capitalize() for w in ws),
            "Capitalize the first letter of every word.",
            ("Write each word with an initial capital.", "Title-case the text.", "Start every word with an uppercase letter."),
            "Make each word begin with a capital and keep the rest small.",
        ),
        Operation(
            "remove_first",
            lambda ws: " ".join(ws[1:]),
            "Remove the first word.",
            ("Delete the opening word and keep the rest.", "Drop the first word.", "Write the text without its first word."),
            "Give everything except the word at the beginning.",
        ),
        Operation(
            "join_hyphens",
            lambda ws: "-".join(ws),
            "Join the words with hyphens instead of spaces.",
            ("Replace each space by a hyphen.", "Connect the words with dashes.", "Write the words linked by hyphens."),
            "Glue the words together with a minus sign between each pair.",
        ),
        # held-out new operations: used by no training task (declared in HELD_OUT_NEW)
        Operation(
            "acronym",
            lambda ws: "".join(w[0] for w in ws).upper(),
            "Make an acronym from the first letters of the words, in capitals.",
            ("Write the initials of the words as one capitalised acronym.",),
            "Form the abbreviation made of each word's initial letter, uppercased.",
        ),
        Operation(
            "longest_word",
            lambda ws: max(ws, key=len),
            "Give the longest word.",
            ("Which word has the most letters?",),
            "Return the word with the greatest number of letters (the first one on ties).",
        ),
        Operation(
            "reverse_letters",
            lambda ws: " ".join(w[::-1] for w in ws),
            "Spell every word backwards, keeping the word order.",
            ("Reverse the letters inside each word.",),
            "Mirror the letters of each word but leave the words where they are.",
        ),
        Operation(
            "swap_ends",
            lambda ws: " ".join([ws[-1], *ws[1:-1], ws[0]]),
            "Swap the first and the last word.",
            ("Exchange the opening and the closing word.",),
            "Put the final word at the front and the first word at the back.",
        ),
        Operation(
            "every_other",
            lambda ws: " ".join(ws[::2]),
            "Keep every other word, starting with the first.",
            ("Write the 1st, 3rd, 5th ... words.",),
            "Skip every second word of the input.",
        ),
        Operation(
            "count_vowels",
            lambda ws: str(sum(c in VOWELS for c in "".join(ws))),
            "Count the vowels and answer with the number.",
            ("How many vowels are there?",),
            "Tell me how many of the letters are a, e, i, o or u.",
        ),
        Operation(
            "double_words",
            lambda ws: " ".join(w for w in ws for _ in range(2)),
            "Write every word twice.",
            ("Duplicate each word in place.",),
            "Say each word two times in a row.",
        ),
        Operation(
            "sum_numbers",
            lambda ws: str(sum(int(w) for w in ws if w.isdigit())),
            "Add up the numbers in the text.",
            ("Give the sum of the numbers.",),
            "What do the numbers of the input total?",
            numbers=True,
        ),
    )
}

# two-step compositions: (first, then); the description chains the two canonical ones
TRAIN_COMPOSED = (
    ("reverse_words", "uppercase"),
    ("sort_words", "uppercase"),
    ("drop_vowels", "reverse_words"),
    ("sort_words", "join_hyphens"),
    ("capitalize", "reverse_words"),
    ("remove_first", "count_words"),
)
HELD_OUT_COMPOSED_PAIRS = (
    ("sort_words", "reverse_words"),
    ("uppercase", "last_word"),
    ("drop_vowels", "join_hyphens"),
    ("remove_first", "reverse_words"),
)
CORPUS_TASKS = ("bbc_topic", "bbc_title", "fortune_category")


def composed_name(first: str, then: str) -> str:
    """``"first+then"``."""
    return f"{first}+{then}"


TRAIN_PRIMITIVES = (
    "reverse_words",
    "uppercase",
    "sort_words",
    "count_words",
    "drop_vowels",
    "repeat_last",
    "extract_numbers",
    "first_word",
    "last_word",
    "capitalize",
    "remove_first",
    "join_hyphens",
)
TRAIN: tuple[str, ...] = TRAIN_PRIMITIVES + tuple(composed_name(a, b) for a, b in TRAIN_COMPOSED) + CORPUS_TASKS
HELD_OUT_NEW: tuple[str, ...] = (
    "acronym",
    "longest_word",
    "reverse_letters",
    "swap_ends",
    "every_other",
    "count_vowels",
    "double_words",
    "sum_numbers",
)
HELD_OUT_COMPOSED: tuple[str, ...] = tuple(composed_name(a, b) for a, b in HELD_OUT_COMPOSED_PAIRS)


@dataclass
class GenerationTask:
    """A generation task: ``examples`` of ``(prompt, target)``, and how to describe it.

    Attributes:
        name: the task id.
        examples: ``(prompt, target)`` pairs; the answer is right when the generated text equals ``target``.
        description: the canonical one-sentence description.
        paraphrases: other phrasings, for training on several descriptions per task.
        unseen_phrasing: a phrasing used by no training description, for zero-shot evaluation.
    """

    name: str
    examples: list[tuple[str, str]]
    description: str
    paraphrases: tuple[str, ...] = ()
    unseen_phrasing: str = ""
    operations: tuple[str, ...] = field(default_factory=tuple)

    @property
    def descriptions(self) -> tuple[str, ...]:
        """The canonical description followed by the paraphrases."""
        return (self.description, *self.paraphrases)


def _rng(seed: int, name: str) -> random.Random:
    return random.Random(seed * 1_000_003 + zlib.crc32(name.encode()))


def _inputs(rng: random.Random, n: int, numbers: bool) -> list[list[str]]:
    out = []
    for _ in range(n):
        ws = rng.sample(WORDS, rng.randint(3, 5))
        if numbers:
            for _ in range(rng.randint(1, 3)):
                ws.insert(rng.randint(0, len(ws)), str(rng.randint(2, 99)))
        out.append(ws)
    return out


def _operation_task(name: str, ops: Sequence[Operation], n: int, seed: int) -> GenerationTask:
    rng = _rng(seed, name)
    numbers = any(op.numbers for op in ops)
    examples = []
    for ws in _inputs(rng, n, numbers):
        value = ws
        for op in ops:
            value = op.fn(value).split() if op is not ops[-1] else [op.fn(value)]
        examples.append((" ".join(ws), value[0]))
    if len(ops) == 1:
        op = ops[0]
        return GenerationTask(name, examples, op.description, op.paraphrases, op.unseen_phrasing, (op.name,))
    first, then = ops
    joined = f"{first.description[:-1]}, then {then.description[0].lower()}{then.description[1:]}"
    paraphrases = tuple(f"{a[:-1]}; after that, {b[0].lower()}{b[1:]}" for a, b in zip(first.paraphrases, then.paraphrases, strict=False))
    a, b = first.unseen_phrasing, then.unseen_phrasing
    unseen = f"First: {a[0].lower()}{a[1:-1]}. Second: {b[0].lower()}{b[1:]}"
    return GenerationTask(name, examples, joined, paraphrases, unseen, (first.name, then.name))


def string_tasks(n: int = 200, seed: int = 0) -> dict[str, GenerationTask]:
    """Every string task (training, held-out new operations, held-out compositions), ``n`` examples each.

    The same ``seed`` gives the same examples, whatever else is asked for.
    """
    tasks = {name: _operation_task(name, [OPERATIONS[name]], n, seed) for name in TRAIN_PRIMITIVES + HELD_OUT_NEW}
    for first, then in TRAIN_COMPOSED + HELD_OUT_COMPOSED_PAIRS:
        name = composed_name(first, then)
        tasks[name] = _operation_task(name, [OPERATIONS[first], OPERATIONS[then]], n, seed)
    return tasks


def _excerpt(text: str, words: int) -> str:
    return " ".join(re.sub(r"\s+", " ", text).split()[:words])


def corpus_tasks(
    bbc: Mapping[str, Sequence[str]], fortunes: Mapping[str, Sequence[str]], n: int = 200, seed: int = 0
) -> dict[str, GenerationTask]:
    """The BBC topic and title tasks and the fortune-category task, ``n`` examples each.

    Args:
        bbc: ``{topic: [article, ...]}`` (the first line of an article is its title), e.g. from
            :func:`hypernet.data.text_corpora.load_bbc`.
        fortunes: ``{category: [fortune, ...]}``, e.g. from :func:`hypernet.data.text_corpora.load_fortunes`.
    """
    rng = _rng(seed, "corpus")
    articles = [(topic, a) for topic in sorted(bbc) for a in bbc[topic]]
    entries = [(cat, f) for cat in sorted(fortunes) for f in fortunes[cat] if 3 <= len(f.split()) <= 40]
    picked = rng.sample(articles, min(n, len(articles)))
    topic = [(_excerpt(a.split("\n", 1)[-1], 40), t) for t, a in picked]
    titled = rng.sample(articles, min(n, len(articles)))
    title = [(_excerpt(a.split("\n", 1)[-1], 40), a.split("\n", 1)[0].strip()) for _, a in titled]
    fortune = [(_excerpt(f, 40), c) for c, f in rng.sample(entries, min(n, len(entries)))]
    return {
        "bbc_topic": GenerationTask(
            "bbc_topic",
            topic,
            "Name the topic of the news article in one word.",
            ("Which section does this article belong to? One word.", "Classify the news story by topic, answering with one word."),
            "In a single word, what is this piece of news about?",
        ),
        "bbc_title": GenerationTask(
            "bbc_title",
            title,
            "Write the title of the news article.",
            ("Give the headline of this article.", "What is this story's title?"),
            "Produce the headline that this news text was published under.",
        ),
        "fortune_category": GenerationTask(
            "fortune_category",
            fortune,
            "Name the category of the quotation in one word.",
            ("Which theme does this saying belong to? One word.", "Classify the fortune by subject, answering with one word."),
            "In a single word, what subject is this quip filed under?",
        ),
    }
