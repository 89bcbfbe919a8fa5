"""The billing table at every boundary: connected minutes, group, place of service, audio-only."""

from __future__ import annotations

import uuid

import pytest

from services.records.sessions.billing import Attendee, BillingTable, audio_only
from services.records.settings import RecordsSettings

TABLE = BillingTable.standard()
CLINICIAN = Attendee(uuid.uuid4(), "clinician")
CLIENT = Attendee(uuid.uuid4(), "client")


def seconds(minutes: int, plus: int = 0) -> int:
    return minutes * 60 + plus


@pytest.mark.parametrize(
    ("connected_seconds", "code"),
    [
        (0, None),
        (seconds(15), None),
        (seconds(15, 59), None),
        (seconds(16), "90832"),
        (seconds(37), "90832"),
        (seconds(37, 59), "90832"),
        (seconds(38), "90834"),
        (seconds(52), "90834"),
        (seconds(52, 59), "90834"),
        (seconds(53), "90837"),
        (seconds(90), "90837"),
    ],
)
def test_individual_psychotherapy_by_connected_minutes(connected_seconds: int, code: str | None):
    assert TABLE.code_for(connected_seconds, group=False) == code


def test_more_than_one_client_is_group_psychotherapy_from_the_same_floor():
    second_client = Attendee(uuid.uuid4(), "client")
    interpreter = Attendee(uuid.uuid4(), "guest")

    def billed(minutes: int, *attendees: Attendee) -> tuple[str | None, bool]:
        codes = TABLE.derive(
            connected_seconds=seconds(minutes),
            attendees=attendees,
            at_home=None,
            video_frames_decoded=[],
        )
        return codes.cpt_code, codes.group

    assert billed(45, CLINICIAN, CLIENT, second_client) == ("90853", True)
    assert billed(60, CLINICIAN, CLIENT, second_client) == ("90853", True)
    assert billed(15, CLINICIAN, CLIENT, second_client) == (None, True)
    assert billed(16, CLINICIAN, CLIENT, second_client) == ("90853", True)
    # An interpreter or a family member is no second client.
    assert billed(45, CLINICIAN, CLIENT, interpreter) == ("90834", False)


@pytest.mark.parametrize(("at_home", "place"), [(True, "10"), (False, "02"), (None, "02")])
def test_place_of_service_is_home_only_when_the_client_said_so(at_home: bool | None, place: str):
    codes = TABLE.derive(
        connected_seconds=seconds(50),
        attendees=[CLINICIAN, CLIENT],
        at_home=at_home,
        video_frames_decoded=[],
    )
    assert codes.place_of_service == place


@pytest.mark.parametrize(
    ("reports", "expected"),
    [
        ([], None),
        ([None, None], None),
        ([0, 0, None], True),
        ([0], True),
        ([0, 120, None], False),
        ([None, 1], False),
    ],
)
def test_audio_only_when_every_report_decoded_no_video(
    reports: list[int | None], expected: bool | None
):
    assert audio_only(reports) is expected
    codes = TABLE.derive(
        connected_seconds=seconds(40),
        attendees=[CLINICIAN, CLIENT],
        at_home=True,
        video_frames_decoded=reports,
    )
    assert codes.audio_only is expected


def test_the_attendees_are_everyone_who_joined_in_a_stable_order():
    codes = TABLE.derive(
        connected_seconds=seconds(40),
        attendees=[CLINICIAN, CLIENT],
        at_home=True,
        video_frames_decoded=[],
    )
    assert codes.attendees == (CLIENT, CLINICIAN)
    assert codes.connected_seconds == seconds(40)


def test_codes_and_minutes_are_settings(monkeypatch: pytest.MonkeyPatch):
    monkeypatch.setenv("RAPPORT_RECORDS_BILLING_TIME_CODES", '{"90832": 20, "90834": 40}')
    monkeypatch.setenv("RAPPORT_RECORDS_BILLING_GROUP_CODE", "G0410")
    monkeypatch.setenv("RAPPORT_RECORDS_BILLING_HOME_PLACE_OF_SERVICE", "12")
    table = BillingTable.from_settings(RecordsSettings(environment="test"))

    assert table.code_for(seconds(19, 59), group=False) is None
    assert table.code_for(seconds(20), group=False) == "90832"
    assert table.code_for(seconds(80), group=False) == "90834"
    assert table.code_for(seconds(16), group=True) == "G0410"
    assert table.place_of_service(True) == "12"


def test_the_standard_table_is_the_settings_defaults():
    assert BillingTable.standard() == BillingTable.from_settings(
        RecordsSettings(environment="test")
    )


@pytest.mark.parametrize("codes", ["{}", '{"90832": -1}', '{" ": 16}', '{"90832 x": 16}'])
def test_a_table_without_codes_or_with_negative_minutes_is_refused(
    monkeypatch: pytest.MonkeyPatch, codes: str
):
    monkeypatch.setenv("RAPPORT_RECORDS_BILLING_TIME_CODES", codes)
    with pytest.raises(ValueError, match="billing_time_codes"):
        RecordsSettings(environment="test")
