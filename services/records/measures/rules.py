"""Standard measures: the instruments, their scoring, and what a change in score means.

Pure rules, no I/O beyond reading the package's own Questionnaire files. Each instrument's
items and answer values come from its FHIR Questionnaire (``questionnaires/*.json``, the
``ordinalValue`` of each answer); the severity bands, the rule for missing answers and the
reliable-change and caseness thresholds are here, each with its published source in
docs/measures.md.
"""

from __future__ import annotations

import json
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from functools import cache
from importlib import resources
from typing import Any, Literal

InstrumentCode = Literal["phq-9", "gad-7", "wai-sr"]
INSTRUMENTS: tuple[InstrumentCode, ...] = ("phq-9", "gad-7", "wai-sr")
Change = Literal["reliable-improvement", "reliable-deterioration", "no-reliable-change"]
Cadence = Literal["intake", "every-session", "every-n-sessions", "before-discharge"]

ORDINAL_VALUE = "http://hl7.org/fhir/StructureDefinition/ordinalValue"
# PHQ-9 item 9: thoughts of being better off dead or of self-harm (LOINC 44260-8).
PHQ9_RISK_ITEM = "phq-9.9"


class IncompleteResponse(ValueError):
    """Too many items are unanswered for the instrument's published missing-item rule."""


class InvalidAnswer(ValueError):
    """An answer names no item of the instrument, or a value its item does not offer."""


@dataclass(frozen=True)
class Band:
    """A severity band: totals from ``low`` to ``high`` inclusive."""

    low: int
    high: int
    name: str


@dataclass(frozen=True)
class Instrument:
    """One version of a measure: its items (link ids in order), answer values and rules."""

    code: InstrumentCode
    version: str
    url: str
    title: str
    item_ids: tuple[str, ...]
    item_texts: tuple[str, ...]
    # Each item's allowed values, with the LOINC answer code (or local code) and its label.
    options: tuple[tuple[int, str, str, str], ...]
    bands: tuple[Band, ...]
    # How many unanswered items the published rule still scores (by prorating); more is
    # refused. Zero: every item must be answered.
    max_missing: int
    # The NHS Talking Therapies thresholds (None where the manual sets none).
    reliable_change: int | None = None
    caseness: int | None = None
    subscales: Mapping[str, tuple[int, ...]] = field(default_factory=dict)
    panel_code: str | None = None
    total_code: str | None = None
    item_codes: tuple[str | None, ...] = ()

    def band(self, total: int) -> str:
        for band in self.bands:
            if band.low <= total <= band.high:
                return band.name
        raise ValueError(f"{self.code} total {total} is outside every band")

    @property
    def min_value(self) -> int:
        return min(value for value, *_ in self.options)

    @property
    def max_value(self) -> int:
        return max(value for value, *_ in self.options)

    @property
    def max_total(self) -> int:
        return self.max_value * len(self.item_ids)

    def questionnaire(self) -> dict[str, Any]:
        """The FHIR R4 Questionnaire resource of this version."""
        return _questionnaire_json(self.code)


@dataclass(frozen=True)
class Score:
    """A scored response. ``prorated`` says missing items were filled by the published rule;
    ``risk_item`` is the PHQ-9 item 9 answer (None for other instruments or when unanswered)."""

    total: int
    band: str
    answered: int
    prorated: bool
    subscales: Mapping[str, int]
    risk_item: int | None


# Bands (PHQ-9: Kroenke, Spitzer and Williams 2001; GAD-7: Spitzer et al. 2006). WAI-SR has
# no published severity bands: one band spans its range, so every response has a band.
_BANDS: dict[InstrumentCode, tuple[Band, ...]] = {
    "phq-9": (
        Band(0, 4, "minimal"),
        Band(5, 9, "mild"),
        Band(10, 14, "moderate"),
        Band(15, 19, "moderately-severe"),
        Band(20, 27, "severe"),
    ),
    "gad-7": (
        Band(0, 4, "minimal"),
        Band(5, 9, "mild"),
        Band(10, 14, "moderate"),
        Band(15, 21, "severe"),
    ),
    "wai-sr": (Band(12, 60, "alliance"),),
}
# WAI-SR subscales (Hatcher and Gillaspy 2006), as 1-based item numbers.
_WAI_SUBSCALES = {"task": (1, 2, 10, 12), "goal": (4, 6, 8, 11), "bond": (3, 5, 7, 9)}


@cache
def _questionnaire_json(code: str) -> dict[str, Any]:
    text = resources.files(__package__).joinpath("questionnaires", f"{code}.json").read_text()
    data: dict[str, Any] = json.loads(text)
    return data


def _ordinal(coding: Mapping[str, Any]) -> int:
    return int(next(e["valueDecimal"] for e in coding["extension"] if e["url"] == ORDINAL_VALUE))


def _coding(item: Mapping[str, Any]) -> str | None:
    codes = item.get("code") or []
    return str(codes[0]["code"]) if codes else None


@cache
def instrument(code: str) -> Instrument:
    """The current version of an instrument; :class:`KeyError` for an unknown code."""
    if code not in INSTRUMENTS:
        raise KeyError(code)
    data = _questionnaire_json(code)
    questions = next(i for i in data["item"] if i["type"] == "group")["item"]
    total = next((i for i in data["item"] if i["linkId"] == "total"), None)
    options = tuple(
        (
            _ordinal(o["valueCoding"]),
            o["valueCoding"]["system"],
            o["valueCoding"]["code"],
            o["valueCoding"]["display"],
        )
        for o in questions[0]["answerOption"]
    )
    typed: InstrumentCode = code
    return Instrument(
        code=typed,
        version=data["version"],
        url=data["url"],
        title=data["title"],
        item_ids=tuple(q["linkId"] for q in questions),
        item_texts=tuple(q["text"] for q in questions),
        options=options,
        bands=_BANDS[typed],
        # NHS Data Dictionary (PHQ-9): one or two missing answers are replaced by the mean
        # of the others; more and the questionnaire is disregarded. No such published rule
        # was found for GAD-7 or WAI-SR, so those are scored only when complete.
        max_missing=2 if code == "phq-9" else 0,
        reliable_change={"phq-9": 6, "gad-7": 4}.get(code),
        caseness={"phq-9": 10, "gad-7": 8}.get(code),
        subscales=_WAI_SUBSCALES if code == "wai-sr" else {},
        panel_code=_coding(data),
        total_code=_coding(total) if total else None,
        item_codes=tuple(_coding(q) for q in questions),
    )


def _round_half_up(value: float) -> int:
    return math.floor(value + 0.5)


def score(instrument: Instrument, answers: Mapping[str, int | None]) -> Score:
    """Score one response: ``answers`` maps item link ids to values (None or absent: skipped).

    Raises :class:`InvalidAnswer` for an unknown item or a value the item does not offer,
    and :class:`IncompleteResponse` when more items are missing than the published rule
    allows. Prorating replaces each missing item by the mean of the answered ones (so the
    total is the answered sum scaled to all items), rounded half up.
    """
    unknown = sorted(set(answers) - set(instrument.item_ids))
    if unknown:
        raise InvalidAnswer(f"{instrument.code} has no item {unknown[0]}")
    allowed = {value for value, *_ in instrument.options}
    given: dict[str, int] = {}
    for item_id, value in answers.items():
        if value is None:
            continue
        if isinstance(value, bool) or value not in allowed:
            # The value itself is not repeated: error details reach logs.
            raise InvalidAnswer(
                f"{item_id}: not an answer {instrument.code} offers "
                f"(whole numbers {instrument.min_value} to {instrument.max_value})"
            )
        given[item_id] = value
    missing = len(instrument.item_ids) - len(given)
    if missing > instrument.max_missing:
        rule = (
            f"at most {instrument.max_missing} may be missing"
            if instrument.max_missing
            else "every item must be answered"
        )
        raise IncompleteResponse(
            f"{instrument.code}: {missing} of {len(instrument.item_ids)} items unanswered; {rule}"
        )
    answered_sum = sum(given.values())
    if missing:
        total = _round_half_up(answered_sum * len(instrument.item_ids) / len(given))
    else:
        total = answered_sum
    subscales = {
        name: sum(given[instrument.item_ids[n - 1]] for n in numbers)
        for name, numbers in instrument.subscales.items()
    }
    risk = given.get(PHQ9_RISK_ITEM) if instrument.code == "phq-9" else None
    return Score(
        total=total,
        band=instrument.band(total),
        answered=len(given),
        prorated=missing > 0,
        subscales=subscales,
        risk_item=risk,
    )


def reliable_change(instrument: Instrument, first: int, latest: int) -> Change:
    """Reliable improvement or deterioration between two totals (higher = worse), by the
    instrument's threshold: a change of at least that many points. WAI-SR (higher = better
    alliance) has no threshold here and never reports a reliable change."""
    threshold = instrument.reliable_change
    if threshold is None:
        return "no-reliable-change"
    if first - latest >= threshold:
        return "reliable-improvement"
    if latest - first >= threshold:
        return "reliable-deterioration"
    return "no-reliable-change"


def is_case(instrument: Instrument, total: int) -> bool:
    """Above the clinical cut-off: PHQ-9 10 or more, GAD-7 8 or more."""
    if instrument.caseness is None:
        return False
    return total >= instrument.caseness


@dataclass(frozen=True)
class Outcome:
    """The NHS Talking Therapies outcome of a course so far, from each instrument's first and
    latest totals."""

    change: Change
    case_at_start: bool
    recovered: bool
    reliably_recovered: bool


def outcome(pairs: Mapping[InstrumentCode, tuple[int, int]]) -> Outcome:
    """Combine PHQ-9 and GAD-7 (first, latest) totals as the manual does.

    Reliable improvement: at least one measure reliably improved and neither reliably
    deteriorated. Reliable deterioration: either measure reliably deteriorated. Recovery:
    a case at the start (either measure at or above its cut-off) and neither measure a case
    at the latest. Reliable recovery: recovery and reliable improvement. A measure given
    only once (or only one of the two given) counts with what there is.
    """
    changes = []
    case_start = case_end = False
    for code, (first, latest) in pairs.items():
        inst = instrument(code)
        if inst.caseness is None:
            continue
        changes.append(reliable_change(inst, first, latest))
        case_start = case_start or is_case(inst, first)
        case_end = case_end or is_case(inst, latest)
    if "reliable-deterioration" in changes:
        change: Change = "reliable-deterioration"
    elif "reliable-improvement" in changes:
        change = "reliable-improvement"
    else:
        change = "no-reliable-change"
    recovered = case_start and not case_end
    return Outcome(
        change=change,
        case_at_start=case_start,
        recovered=recovered,
        reliably_recovered=recovered and change == "reliable-improvement",
    )


def due(
    cadence: Cadence,
    *,
    every_n: int | None,
    sessions_held: int,
    responses_given: int,
    last_response_session: int | None,
    discharge_planned: bool,
) -> bool:
    """Whether an assignment asks the client for an answer now.

    ``sessions_held`` counts the pair's sessions so far (the coming one is number
    ``sessions_held + 1``); ``last_response_session`` is the count at the last answer.
    Intake: once, before any answer. Every session: once per session. Every N sessions:
    at the first session and then every N. Before discharge: once the plan is ending.
    """
    if cadence == "intake":
        return responses_given == 0
    if cadence == "before-discharge":
        return discharge_planned and responses_given == 0
    if last_response_session is not None and last_response_session >= sessions_held:
        return False  # already answered for this session
    if cadence == "every-session":
        return True
    step = every_n or 1
    if last_response_session is None:
        return True
    return sessions_held - last_response_session >= step


def off_track(change: Change, sessions_held: int, review_session: int) -> bool:
    """Off track: reliably deteriorated, or not reliably improved by the review session."""
    if change == "reliable-deterioration":
        return True
    return sessions_held >= review_session and change != "reliable-improvement"


def answers_in_order(
    instrument: Instrument, answers: Mapping[str, int | None]
) -> Sequence[int | None]:
    """The answers as a list in item order (None where skipped), as stored."""
    return [answers.get(item_id) for item_id in instrument.item_ids]
