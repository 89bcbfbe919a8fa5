"""Check-in scoring on worked examples, including every threshold's edge."""

from __future__ import annotations

import pytest

from services.records.check_ins.rules import score


@pytest.mark.parametrize(
    ("items", "total", "flags"),
    [
        ((9, 9, 9, 9), 36, ()),  # total exactly 36, every item exactly 9: no concern
        ((10, 10, 10, 5), 35, ("alliance-concern",)),  # an item below 9
        ((10, 10, 10, 8), 38, ("alliance-concern",)),  # total fine, one item 8
        ((9, 9, 9, 8), 35, ("alliance-concern",)),  # total 35 and item 8
        ((10, 10, 10, 10), 40, ()),
        ((0, 0, 0, 0), 0, ("alliance-concern",)),
    ],
)
def test_session_check_in_flags_an_alliance_concern(
    items: tuple[int, int, int, int], total: int, flags: tuple[str, ...]
):
    result = score("session", items, None)
    assert (result.total, result.flags) == (total, flags)


@pytest.mark.parametrize(
    ("items", "previous", "flags", "change"),
    [
        ((7, 7, 6, 6), None, (), None),  # 26: just above the cutoff, no earlier total
        ((7, 6, 6, 6), None, ("below-cutoff",), None),  # 25: at the cutoff counts
        ((7, 7, 6, 6), 21, ("reliable-change",), 5),  # up by exactly 5
        ((7, 7, 6, 6), 31, ("reliable-change",), -5),  # down by exactly 5
        ((7, 7, 6, 6), 22, (), 4),  # 4 is not reliable
        ((5, 5, 5, 5), 30, ("reliable-change", "below-cutoff"), -10),
    ],
)
def test_outcome_check_in_flags_reliable_change_and_the_cutoff(
    items: tuple[int, int, int, int],
    previous: int | None,
    flags: tuple[str, ...],
    change: int | None,
):
    result = score("outcome", items, previous)
    assert result.flags == flags
    assert result.change == change
    assert result.total == sum(items)


def test_session_check_ins_never_flag_outcome_things():
    assert score("session", (2, 2, 2, 2), 40).flags == ("alliance-concern",)


def test_an_item_out_of_range_is_refused():
    with pytest.raises(ValueError):
        score("outcome", (11, 0, 0, 0), None)
