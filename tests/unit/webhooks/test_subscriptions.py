"""Selectors: full types, short names and patterns against the catalog."""

from __future__ import annotations

import pytest

from services.webhooks.subscriptions import (
    selects,
    short_name,
    subscribes_to,
    unknown_selectors,
)


@pytest.mark.parametrize(
    ("event_type", "expected"),
    [
        ("rapport.records.session.completed.v1", "session.completed"),
        ("rapport.signaling.participant.checked_in.v1", "participant.checked_in"),
        ("rapport.records.goal.updated.v2", "goal.updated"),
        ("something.else", "something.else"),
    ],
)
def test_short_names_drop_the_producer_and_version(event_type: str, expected: str) -> None:
    assert short_name(event_type) == expected


@pytest.mark.parametrize(
    ("selector", "expected"),
    [
        ("*", True),
        ("session.*", True),
        ("session.completed", True),
        ("rapport.records.session.completed.v1", True),
        ("rapport.records.*", True),
        ("appointment.*", False),
        ("rapport.records.session.completed.v2", False),
        ("SESSION.*", False),
        ("completed", False),
    ],
)
def test_selectors_match_the_full_type_or_the_short_name(selector: str, expected: bool) -> None:
    assert selects(selector, "rapport.records.session.completed.v1") is expected


def test_an_endpoint_subscribes_when_any_selector_matches() -> None:
    assert subscribes_to(["appointment.*", "goal.updated"], "rapport.records.goal.updated.v1")
    assert not subscribes_to(["appointment.*"], "rapport.records.goal.updated.v1")
    assert not subscribes_to([], "rapport.records.goal.updated.v1")


def test_unknown_selectors_are_those_matching_nothing_in_the_catalog() -> None:
    assert unknown_selectors(["*", "session.*", "goal.updated", "sessions.*", "x"]) == [
        "sessions.*",
        "x",
    ]


def test_invitation_accepted_is_not_offered_to_partners() -> None:
    """Partners learn of the link from care_relationship.started, which records publishes
    when it applies the acceptance; the invitation itself stays between identity and records."""
    assert unknown_selectors(
        ["invitation.*", "invitation.accepted", "rapport.identity.invitation.accepted.v1"]
    ) == ["invitation.*", "invitation.accepted", "rapport.identity.invitation.accepted.v1"]
    assert unknown_selectors(["care_relationship.started"]) == []
