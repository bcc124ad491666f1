"""The generation tasks of the Text-to-LoRA benchmark: a declared split, right answers, determinism."""

from __future__ import annotations

from hypernet.data import lm_tasks
from hypernet.data.lm_tasks import HELD_OUT_COMPOSED, HELD_OUT_NEW, OPERATIONS, TRAIN, corpus_tasks, string_tasks


def test_the_split_is_declared_disjoint_and_held_out_operations_appear_in_no_training_task() -> None:
    assert len(TRAIN) + len(HELD_OUT_NEW) + len(HELD_OUT_COMPOSED) >= 30 and len(HELD_OUT_NEW) >= 8
    assert not set(TRAIN) & set(HELD_OUT_NEW) and not set(TRAIN) & set(HELD_OUT_COMPOSED)
    tasks = string_tasks(n=3, seed=0)
    trained_ops = {op for name in TRAIN if name in tasks for op in tasks[name].operations}
    for name in HELD_OUT_NEW:
        assert tasks[name].operations == (name,) and name not in trained_ops
    for name in HELD_OUT_COMPOSED:  # built from trained operations only, chained as no training task chains them
        assert set(tasks[name].operations) <= trained_ops and name not in TRAIN


def test_targets_are_the_operations_applied_to_the_prompt() -> None:
    tasks = string_tasks(n=20, seed=3)
    for name, task in tasks.items():
        for prompt, target in task.examples:
            words = prompt.split()
            for op in task.operations[:-1]:
                words = OPERATIONS[op].fn(words).split()
            assert OPERATIONS[task.operations[-1]].fn(words) == target, name
    assert (
        tasks["sort_words+reverse_words"].examples[0][1].split() == sorted(tasks["sort_words+reverse_words"].examples[0][0].split())[::-1]
    )
    assert all(any(w.isdigit() for w in p.split()) for p, _ in tasks["sum_numbers"].examples)


def test_same_seed_same_examples_other_seed_other_examples() -> None:
    a, b, c = string_tasks(n=5, seed=1), string_tasks(n=5, seed=1), string_tasks(n=5, seed=2)
    assert all(a[k].examples == b[k].examples for k in a)
    assert sum(a[k].examples != c[k].examples for k in a) == len(a)
    assert string_tasks(n=8, seed=1)["uppercase"].examples[:5] == a["uppercase"].examples


def test_descriptions_differ_between_training_and_zero_shot_phrasing() -> None:
    tasks = string_tasks(n=1)
    for task in tasks.values():
        assert task.unseen_phrasing and task.unseen_phrasing not in task.descriptions
        assert len(set(task.descriptions)) == len(task.descriptions)
    training_phrases = {d for name in TRAIN if name in tasks for d in tasks[name].descriptions}
    assert not training_phrases & {tasks[n].unseen_phrasing for n in HELD_OUT_NEW + HELD_OUT_COMPOSED}


def test_corpus_tasks_answer_with_the_label_or_the_title() -> None:
    bbc = {"sport": ["Goal at last\nThe team scored late in the game on Sunday."], "tech": ["New chips\nA faster chip was shown today."]}
    fortunes = {"work": ["Hard work never killed anybody, but why take a chance?"], "food": ["Eat, drink and be merry."]}
    tasks = corpus_tasks(bbc, fortunes, n=5, seed=0)
    assert set(tasks) == set(lm_tasks.CORPUS_TASKS)
    assert sorted(t for _, t in tasks["bbc_topic"].examples) == ["sport", "tech"]
    assert ("The team scored late in the game on Sunday.", "Goal at last") in tasks["bbc_title"].examples
    assert {t for _, t in tasks["fortune_category"].examples} == {"work", "food"}
