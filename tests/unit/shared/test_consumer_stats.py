"""A consumer's dead-letter statistics stay small however long it runs."""

from __future__ import annotations

from collections import Counter

from shared.events.envelope import MalformedEvent
from shared.events.kafka import DEAD_LETTER_CLASSES_KEPT, ConsumerStats


def test_dead_letters_are_counted_by_error_class() -> None:
    stats = ConsumerStats()
    for n in range(1000):
        stats.count_dead_letter(ValueError(f"bad goal id {n}"))
    stats.count_dead_letter(MalformedEvent("not JSON"))
    assert stats.dead_letter_reasons == Counter({"ValueError": 1000, "MalformedEvent": 1})
    assert stats.dead_lettered == 1001


def test_new_error_classes_beyond_the_limit_share_one_count() -> None:
    stats = ConsumerStats()
    classes = [type(f"Error{n}", (Exception,), {}) for n in range(DEAD_LETTER_CLASSES_KEPT + 20)]
    for error_class in classes * 3:
        stats.count_dead_letter(error_class("poison"))
    assert len(stats.dead_letter_reasons) == DEAD_LETTER_CLASSES_KEPT + 1
    assert stats.dead_letter_reasons["other"] == 20 * 3
    # The classes seen first keep their own counts.
    assert stats.dead_letter_reasons["Error0"] == 3
    assert sum(stats.dead_letter_reasons.values()) == stats.dead_lettered == len(classes) * 3
