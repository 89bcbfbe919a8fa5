"""The protocol models: what parses, what is refused and how, and that docs/ matches them."""

from __future__ import annotations

import json
import re
import uuid
from typing import get_args

import pytest
from pydantic import ValidationError

from services.signaling import docs
from services.signaling.schemas import (
    CLOSE_CODE_MEANINGS,
    CLOSE_CODE_USER_TEXT,
    ERROR_CODE_MEANINGS,
    CloseCode,
    ErrorCode,
    IceCandidate,
    Joined,
    Offer,
    Peer,
    RelayedIceCandidate,
    client_messages,
    describe_invalid,
    relayed,
    server_messages,
)
from services.signaling.settings import SignalingSettings


def test_every_client_message_parses_by_its_type() -> None:
    user = str(uuid.uuid4())
    examples = [
        {"type": "join", "token": "t", "display_name": "Sam"},
        {"type": "admit", "user_id": user},
        {"type": "decline", "user_id": user},
        {"type": "offer", "sdp": "v=0"},
        {"type": "answer", "sdp": "v=0", "to": user},
        {
            "type": "ice-candidate",
            "candidate": {
                "candidate": "c",
                "sdpMid": "0",
                "sdpMLineIndex": 0,
                "usernameFragment": "u",
            },
        },
        {"type": "ice-candidate", "candidate": None},
        {"type": "connected"},
        {"type": "leave"},
        {"type": "end"},
        {"type": "ping"},
    ]
    for example in examples:
        message = client_messages.validate_json(json.dumps(example))
        assert message.type == example["type"]
        # What parses serialises back to the same object.
        assert json.loads(message.model_dump_json()) == {k: v for k, v in example.items()} | (
            {"display_name": "Sam"} if example["type"] == "join" else {}
        )


def test_a_relayed_message_is_the_same_object_plus_from() -> None:
    sender = uuid.uuid4()
    candidate = {"candidate": "c", "sdpMid": None, "sdpMLineIndex": None}
    message = client_messages.validate_json(
        json.dumps({"type": "ice-candidate", "candidate": candidate})
    )
    assert isinstance(message, IceCandidate)
    forwarded = relayed(message, sender)
    assert isinstance(forwarded, RelayedIceCandidate)
    assert json.loads(forwarded.model_dump_json()) == {
        "type": "ice-candidate",
        "candidate": candidate,
        "from": str(sender),
    }
    assert json.loads(relayed(Offer(sdp="v=0"), sender).model_dump_json()) == {
        "type": "offer",
        "sdp": "v=0",
        "from": str(sender),
    }


@pytest.mark.parametrize(
    ("raw", "says"),
    [
        ("{", "Invalid JSON"),
        ('"join"', "object"),
        ("{}", "type"),
        ('{"type": "hug"}', "'hug'"),
        ('{"type": "join"}', "join.token: Field required"),
        ('{"type": "offer", "sdp": ""}', "offer.sdp"),
        ('{"type": "ping", "extra": 1}', "ping.extra: Extra inputs are not permitted"),
        ('{"type": "ice-candidate", "candidate": {"candidate": "c", "bogus": 1}}', "bogus"),
    ],
)
def test_invalid_messages_are_described(raw: str, says: str) -> None:
    with pytest.raises(ValidationError) as invalid:
        client_messages.validate_json(raw)
    assert says in describe_invalid(invalid.value)


def test_a_description_never_echoes_the_token() -> None:
    secret = "eyJ.secret-token-value"
    with pytest.raises(ValidationError) as invalid:
        client_messages.validate_json(json.dumps({"type": "join", "token": secret, "x": 1}))
    assert secret not in describe_invalid(invalid.value)


def test_joined_leaves_out_waiting_unless_given() -> None:
    you = Peer(user_id=uuid.uuid4(), role="client")
    joined = Joined(session_id=uuid.uuid4(), you=you, peers=[], polite=True)
    assert "waiting" not in json.loads(joined.model_dump_json())
    assert server_messages.validate_json(joined.model_dump_json()) == joined


def test_every_code_is_documented() -> None:
    assert set(CLOSE_CODE_MEANINGS) == set(CloseCode)
    assert set(CLOSE_CODE_USER_TEXT) == set(CloseCode)
    assert set(ERROR_CODE_MEANINGS) == set(get_args(ErrorCode))


def test_the_pages_get_every_close_code_the_join_window_and_the_limits() -> None:
    constants = docs.render_page_constants()
    for code, text in CLOSE_CODE_USER_TEXT.items():
        assert f"  {int(code)}: {json.dumps(text)}," in constants
        assert f"  {code.name}: {int(code)}," in constants
    defaults = SignalingSettings()
    assert f"opensMinutesBefore: {defaults.join_opens_minutes_before:g}," in constants
    assert f"closesMinutesAfter: {defaults.join_closes_minutes_after:g}," in constants
    assert f"MAX_MESSAGE_BYTES = {defaults.max_message_bytes};" in constants
    assert f"perSecond: {defaults.rate_limit_per_second:g}," in constants
    assert f"burst: {defaults.rate_limit_burst}," in constants


def test_the_pages_write_no_protocol_constant_by_hand() -> None:
    """Close codes and the join window come from the generated protocol.js only."""
    for path in sorted(docs.PAGES_DIR.glob("*.js")):
        if path.name == docs.PAGE_CONSTANTS:
            continue
        text = path.read_text()
        # 4000 itself is where RFC 6455's application codes begin, not a code.
        assert not re.search(r"\b4(?!000)\d\d\d\b", text), f"{path.name}: use CLOSE_CODES"
        assert not re.search(r"\b(15|30) \* 60000\b", text), f"{path.name}: use JOIN_WINDOW"
        assert "minutes before" not in text or "JOIN_WINDOW" in text, path.name


def test_the_protocol_reference_in_docs_is_up_to_date() -> None:
    stale = docs.stale_files()
    assert stale == [], (
        f"{[str(p) for p in stale]} out of date: run `uv run python -m services.signaling "
        "protocol-docs`"
    )


def test_the_reference_has_a_schema_for_every_message(tmp_path) -> None:
    (tmp_path / "signaling.md").write_text("# Prose\n\nWritten by hand.\n")
    assert docs.stale_files(tmp_path, tmp_path) == [
        tmp_path / "signaling.md",
        tmp_path / "signaling.schema.json",
        tmp_path / "protocol.js",
    ]
    docs.write_files(tmp_path, tmp_path)
    assert docs.stale_files(tmp_path, tmp_path) == []
    markdown = (tmp_path / "signaling.md").read_text()
    assert markdown.startswith("# Prose\n\nWritten by hand.\n")
    for model in docs.client_message_models():
        assert f"### `{model.model_fields['type'].default}` (client → server)" in markdown
    for model in docs.server_message_models():
        assert f"### `{model.model_fields['type'].default}` (server → client)" in markdown
    schema = json.loads((tmp_path / "signaling.schema.json").read_text())
    assert {"ClientMessage", "ServerMessage", "Join", "RelayedOffer"} <= set(schema["$defs"])
    # Regenerating keeps the prose and changes nothing else.
    assert docs.write_files(tmp_path, tmp_path) == []
