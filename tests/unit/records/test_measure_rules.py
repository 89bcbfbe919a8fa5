"""Measure scoring, bands, the missing-item rule, reliable change and recovery, at every edge.

Sources (docs/measures.md): bands from Kroenke et al. 2001 (PHQ-9) and Spitzer et al. 2006
(GAD-7), as LOINC publishes them; the PHQ-9 missing-item rule from the NHS Data Dictionary;
reliable change and caseness from the NHS Talking Therapies manual.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from services.records.measures import rules
from services.records.measures.rules import IncompleteResponse, InvalidAnswer
from services.records.safety import rules as safety_rules

PHQ9 = rules.instrument("phq-9")
GAD7 = rules.instrument("gad-7")
WAI = rules.instrument("wai-sr")


def answers(inst: rules.Instrument, values: list[int | None]) -> dict[str, int | None]:
    return dict(zip(inst.item_ids, values, strict=True))


def spread(inst: rules.Instrument, total: int) -> dict[str, int | None]:
    """A complete response with the given total (items filled from the first)."""
    values = []
    for _ in inst.item_ids:
        value = min(inst.max_value, total)
        values.append(value)
        total -= value
    assert total == 0
    return answers(inst, list(values))


def test_instruments_carry_their_loinc_codes():
    assert (PHQ9.panel_code, PHQ9.total_code) == ("44249-1", "44261-6")
    assert PHQ9.item_codes[8] == "44260-8"
    assert [code for _, _, code, _ in PHQ9.options] == [
        "LA6568-5",
        "LA6569-3",
        "LA6570-1",
        "LA6571-9",
    ]
    assert (GAD7.panel_code, GAD7.total_code) == ("69737-5", "70274-6")
    assert len(PHQ9.item_ids) == 9 and len(GAD7.item_ids) == 7 and len(WAI.item_ids) == 12
    assert PHQ9.version == GAD7.version == WAI.version == "1.0.0"


@pytest.mark.parametrize(
    ("total", "band"),
    [
        (0, "minimal"),
        (4, "minimal"),
        (5, "mild"),
        (9, "mild"),
        (10, "moderate"),
        (14, "moderate"),
        (15, "moderately-severe"),
        (19, "moderately-severe"),
        (20, "severe"),
        (27, "severe"),
    ],
)
def test_phq9_bands_at_every_boundary(total: int, band: str):
    result = rules.score(PHQ9, spread(PHQ9, total))
    assert (result.total, result.band, result.prorated) == (total, band, False)


@pytest.mark.parametrize(
    ("total", "band"),
    [
        (0, "minimal"),
        (4, "minimal"),
        (5, "mild"),
        (9, "mild"),
        (10, "moderate"),
        (14, "moderate"),
        (15, "severe"),
        (21, "severe"),
    ],
)
def test_gad7_bands_at_every_boundary(total: int, band: str):
    result = rules.score(GAD7, spread(GAD7, total))
    assert (result.total, result.band) == (total, band)


def test_a_worked_phq9_example():
    # "Several days" = 1 ... "Nearly every day" = 3, summed (LOINC 44261-6's scoring).
    result = rules.score(PHQ9, answers(PHQ9, [2, 2, 2, 2, 1, 1, 2, 0, 1]))
    assert (result.total, result.band, result.risk_item) == (13, "moderate", 1)


def test_a_worked_gad7_example():
    result = rules.score(GAD7, answers(GAD7, [3, 2, 2, 1, 0, 1, 2]))
    assert (result.total, result.band, result.risk_item) == (11, "moderate", None)


def test_phq9_with_one_missing_item_is_prorated_by_the_mean_of_the_others():
    # 8 answered summing to 12: the missing item counts as 1.5, total 13.5 -> 14 (half up).
    result = rules.score(PHQ9, answers(PHQ9, [2, 2, 2, 2, 1, 1, 1, 1, None]))
    assert (result.total, result.answered, result.prorated) == (14, 8, True)
    assert result.band == "moderate"
    assert result.risk_item is None


def test_phq9_with_two_missing_items_is_prorated():
    # 7 answered summing to 7: 7 * 9 / 7 = 9 exactly.
    result = rules.score(PHQ9, answers(PHQ9, [1, 1, 1, 1, 1, 1, 1, None, None]))
    assert (result.total, result.band, result.prorated) == (9, "mild", True)


def test_phq9_prorating_can_cross_a_band_boundary():
    # 7 answered summing to 8: 8 * 9 / 7 = 10.29 -> 10, moderate, not mild.
    result = rules.score(PHQ9, answers(PHQ9, [2, 1, 1, 1, 1, 1, 1, None, None]))
    assert (result.total, result.band) == (10, "moderate")


def test_phq9_with_three_missing_items_is_refused():
    with pytest.raises(IncompleteResponse, match="3 of 9 items unanswered"):
        rules.score(PHQ9, answers(PHQ9, [3, 3, 3, 3, 3, 3, None, None, None]))


def test_an_absent_item_counts_as_missing():
    values = answers(PHQ9, [1] * 9)
    del values[PHQ9.item_ids[0]]
    assert rules.score(PHQ9, values).prorated


@pytest.mark.parametrize("instrument_code", ["gad-7", "wai-sr"])
def test_gad7_and_wai_sr_are_scored_only_when_complete(instrument_code: str):
    inst = rules.instrument(instrument_code)
    values: list[int | None] = [inst.min_value] * len(inst.item_ids)
    values[-1] = None
    with pytest.raises(IncompleteResponse, match="every item must be answered"):
        rules.score(inst, answers(inst, values))


@pytest.mark.parametrize("bad", [-1, 4, True, 2.5])
def test_a_value_the_item_does_not_offer_is_refused(bad: object):
    values: dict[str, object] = dict(answers(PHQ9, [0] * 9))
    values[PHQ9.item_ids[3]] = bad
    with pytest.raises(InvalidAnswer, match=r"phq-9\.4"):
        rules.score(PHQ9, values)  # type: ignore[arg-type]


def test_an_unknown_item_is_refused():
    with pytest.raises(InvalidAnswer, match="no item phq-9.10"):
        rules.score(PHQ9, {**answers(PHQ9, [0] * 9), "phq-9.10": 1})


def test_wai_sr_subscales():
    # Items 1..12 answered 1..5 cyclically: task = 1,2,10,12; goal = 4,6,8,11; bond = 3,5,7,9.
    values = [1, 2, 3, 4, 5, 1, 2, 3, 4, 5, 1, 2]
    result = rules.score(WAI, answers(WAI, list(values)))
    assert result.subscales == {
        "task": 1 + 2 + 5 + 2,
        "goal": 4 + 1 + 3 + 1,
        "bond": 3 + 5 + 2 + 4,
    }
    assert result.total == sum(values) == 33
    assert rules.score(WAI, answers(WAI, [1] * 12)).total == 12
    assert rules.score(WAI, answers(WAI, [5] * 12)).total == 60
    with pytest.raises(InvalidAnswer):
        rules.score(WAI, answers(WAI, [0] * 12))


@pytest.mark.parametrize(
    ("first", "latest", "change"),
    [
        (18, 12, "reliable-improvement"),  # down exactly 6
        (18, 13, "no-reliable-change"),  # down 5
        (12, 18, "reliable-deterioration"),  # up exactly 6
        (12, 17, "no-reliable-change"),  # up 5
        (0, 27, "reliable-deterioration"),
    ],
)
def test_phq9_reliable_change_is_six_points(first: int, latest: int, change: str):
    assert rules.reliable_change(PHQ9, first, latest) == change


@pytest.mark.parametrize(
    ("first", "latest", "change"),
    [
        (12, 8, "reliable-improvement"),
        (12, 9, "no-reliable-change"),
        (8, 12, "reliable-deterioration"),
        (8, 11, "no-reliable-change"),
    ],
)
def test_gad7_reliable_change_is_four_points(first: int, latest: int, change: str):
    assert rules.reliable_change(GAD7, first, latest) == change


def test_caseness_at_the_cut_offs():
    assert (rules.is_case(PHQ9, 9), rules.is_case(PHQ9, 10)) == (False, True)
    assert (rules.is_case(GAD7, 7), rules.is_case(GAD7, 8)) == (False, True)
    assert not rules.is_case(WAI, 60)


@pytest.mark.parametrize(
    ("pairs", "change", "case_at_start", "recovered", "reliably"),
    [
        # PHQ-9 10 -> 9 with GAD-7 below caseness throughout: recovered, not reliably.
        ({"phq-9": (10, 9), "gad-7": (5, 5)}, "no-reliable-change", True, True, False),
        # PHQ-9 16 -> 9 (down 7) and GAD-7 9 -> 7: reliable recovery.
        ({"phq-9": (16, 9), "gad-7": (9, 7)}, "reliable-improvement", True, True, True),
        # PHQ-9 16 -> 9 but GAD-7 still a case at 8: not recovered.
        ({"phq-9": (16, 9), "gad-7": (9, 8)}, "reliable-improvement", True, False, False),
        # Never a case: cannot recover.
        ({"phq-9": (9, 3), "gad-7": (7, 1)}, "reliable-improvement", False, False, False),
        # PHQ-9 improved reliably but GAD-7 deteriorated reliably: deterioration wins.
        ({"phq-9": (20, 10), "gad-7": (4, 8)}, "reliable-deterioration", True, False, False),
        # One measure only.
        ({"phq-9": (15, 9)}, "reliable-improvement", True, True, True),
    ],
)
def test_outcome_follows_the_talking_therapies_definitions(
    pairs: dict[rules.InstrumentCode, tuple[int, int]],
    change: str,
    case_at_start: bool,
    recovered: bool,
    reliably: bool,
):
    result = rules.outcome(pairs)
    assert (result.change, result.case_at_start, result.recovered, result.reliably_recovered) == (
        change,
        case_at_start,
        recovered,
        reliably,
    )


@pytest.mark.parametrize(
    ("cadence", "every_n", "held", "given", "last", "discharge", "expected"),
    [
        ("intake", None, 0, 0, None, False, True),
        ("intake", None, 3, 1, 0, False, False),
        ("every-session", None, 2, 2, 1, False, True),
        ("every-session", None, 2, 3, 2, False, False),  # answered for this session already
        ("every-n-sessions", 3, 0, 0, None, False, True),
        ("every-n-sessions", 3, 2, 1, 0, False, False),
        ("every-n-sessions", 3, 3, 1, 0, False, True),
        ("before-discharge", None, 5, 0, None, False, False),
        ("before-discharge", None, 5, 0, None, True, True),
        ("before-discharge", None, 6, 1, 5, True, False),
    ],
)
def test_cadence(
    cadence: rules.Cadence,
    every_n: int | None,
    held: int,
    given: int,
    last: int | None,
    discharge: bool,
    expected: bool,
):
    assert (
        rules.due(
            cadence,
            every_n=every_n,
            sessions_held=held,
            responses_given=given,
            last_response_session=last,
            discharge_planned=discharge,
        )
        is expected
    )


@pytest.mark.parametrize(
    ("change", "held", "expected"),
    [
        ("reliable-deterioration", 1, True),
        ("no-reliable-change", 5, False),
        ("no-reliable-change", 6, True),
        ("reliable-improvement", 6, False),
    ],
)
def test_off_track(change: rules.Change, held: int, expected: bool):
    assert rules.off_track(change, held, review_session=6) is expected


@pytest.mark.parametrize(
    ("item9", "severity"), [(None, None), (0, None), (1, "low"), (2, "medium"), (3, "high")]
)
def test_phq9_item_9_above_zero_raises_a_flag(item9: int | None, severity: str | None):
    assert safety_rules.risk_severity(item9) == severity


def test_a_flag_is_overdue_from_its_deadline_while_open():
    raised = datetime(2026, 12, 4, 9, 0, tzinfo=UTC)
    due = safety_rules.acknowledge_by(raised, timedelta(hours=4))
    assert due == datetime(2026, 12, 4, 13, 0, tzinfo=UTC)
    assert not safety_rules.is_overdue("open", due, due - timedelta(seconds=1))
    assert safety_rules.is_overdue("open", due, due)
    assert not safety_rules.is_overdue("escalated", due, due + timedelta(days=1))
    assert not safety_rules.is_overdue("acknowledged", due, due + timedelta(days=1))
